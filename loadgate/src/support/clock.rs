//! The wall clock a distributed run starts from, and what the kernel says of its accuracy.
//! Shards agree on a start instant, not on a clock: each reads its own wall clock once, turns
//! the start into a monotonic instant, and reports how far its clock may be off (kernel NTP
//! state) so the merge can tell whether the shards' parts really lined up.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// What a shard knows of its clock when it starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockStatus {
    /// The kernel's NTP state says the clock is synchronized; `None` where it cannot be read.
    pub kernel_synced: Option<bool>,
    /// The kernel's bound on the clock's error (µs).
    pub max_error_us: Option<u64>,
    /// The kernel's estimate of the clock's error (µs).
    pub est_error_us: Option<u64>,
    /// A test run's shift of this shard's wall clock (ms); never set outside tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulated_skew_ms: Option<i64>,
}

/// The wall clock as this process reads it: the system's, shifted only by a test's simulated
/// skew, so a skewed shard really starts at another instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WallClock {
    pub skew_ms: i64,
}

impl WallClock {
    pub fn now(self) -> SystemTime {
        let now = SystemTime::now();
        let shift = Duration::from_millis(self.skew_ms.unsigned_abs());
        if self.skew_ms >= 0 {
            now + shift
        } else {
            now - shift
        }
    }

    /// The kernel's state of this clock, with the simulated skew when there is one.
    pub fn status(self) -> ClockStatus {
        ClockStatus {
            simulated_skew_ms: (self.skew_ms != 0).then_some(self.skew_ms),
            ..kernel_status()
        }
    }
}

/// The kernel's NTP state, read with adjtimex(2) without changing anything.
#[allow(
    unsafe_code,
    reason = "adjtimex(2) has no safe wrapper; it only fills the struct it is given"
)]
fn kernel_status() -> ClockStatus {
    // SAFETY: timex is plain integers, for which all zeros is valid; modes = 0 makes adjtimex
    // read only, and it writes only into `tx`, which lives across the call.
    let (state, tx) = unsafe {
        let mut tx: libc::timex = std::mem::zeroed();
        let state = libc::adjtimex(&mut tx);
        (state, tx)
    };
    if state == -1 {
        return ClockStatus::default();
    }
    let micros = |value: libc::c_long| u64::try_from(value).ok();
    ClockStatus {
        kernel_synced: Some(state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0),
        max_error_us: micros(tx.maxerror),
        est_error_us: micros(tx.esterror),
        simulated_skew_ms: None,
    }
}

/// CLOCK_MONOTONIC now, in seconds: the clock `perf record -k mono` stamps its samples with, so
/// a run's judged window can be cut out of a recording that spans several runs.
pub fn monotonic_seconds() -> f64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}

/// This boot of this machine: processes that share it read the same clock.
pub fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_skew_moves_the_wall_clock_and_is_reported() {
        let ahead = WallClock { skew_ms: 400 };
        let behind = WallClock { skew_ms: -400 };
        let earlier = behind.now();
        let gap = ahead.now().duration_since(earlier).unwrap();
        assert!(gap >= Duration::from_millis(800), "{gap:?}");
        assert_eq!(ahead.status().simulated_skew_ms, Some(400));
        assert_eq!(WallClock::default().status().simulated_skew_ms, None);
        // Linux answers adjtimex; its state is whatever this machine's is.
        assert!(kernel_status().kernel_synced.is_some());
        assert!(boot_id().is_some());
    }
}
