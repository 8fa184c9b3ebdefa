//! Waiting for a send time to within microseconds, on a thread of the open model's own.
//!
//! tokio's timer has a millisecond wheel and Linux grants a thread 50 µs of timer slack by
//! default: a send woken by either is late by up to a millisecond, and that lands in every
//! latency the open model measures. Here the thread's slack is 1 ns, the kernel's sleep ends a
//! margin before the deadline, and a spin covers the rest. The margin follows how late the
//! kernel's wake-ups have been lately (tens of µs on a shared machine): enough to be on time,
//! little enough that the spin, all the CPU this costs, stays small at low rates.

use std::time::{Duration, Instant};

/// The margin's bounds: a wake-up is never earlier than asked, and one later than this is a
/// busy machine's preemption, which a spin would cover only at the price of a busy core.
const MARGIN_MIN: Duration = Duration::from_micros(5);
const MARGIN_MAX: Duration = Duration::from_micros(150);

/// The longest single sleep: how often a long wait looks at `stopped`.
const POLL: Duration = Duration::from_millis(10);

/// Waits for deadlines on the calling thread; the margin it keeps is its own.
#[derive(Debug)]
pub struct Pacer {
    /// How long before a deadline the kernel's sleep ends and the spin starts.
    margin: Duration,
}

impl Default for Pacer {
    fn default() -> Pacer {
        Pacer {
            margin: Duration::from_micros(50),
        }
    }
}

impl Pacer {
    /// Blocks the calling thread until `deadline`; false, and at once, if `stopped` says so
    /// first (it is asked at least every [`POLL`]).
    pub fn wait_until(&mut self, deadline: Instant, stopped: impl Fn() -> bool) -> bool {
        let margin = self.margin;
        if !nap_until(deadline, margin, stopped, |late| self.learn(late)) {
            return false;
        }
        spin_until(deadline);
        true
    }

    /// A wake-up this late: the margin jumps up to cover it and comes down slowly, so it follows
    /// the recent worst case rather than the typical one.
    fn learn(&mut self, late: Duration) {
        let wanted = late + late / 4;
        self.margin = if wanted > self.margin {
            wanted
        } else {
            self.margin - (self.margin - wanted) / 16
        }
        .clamp(MARGIN_MIN, MARGIN_MAX);
    }

    #[cfg(test)]
    fn margin(&self) -> Duration {
        self.margin
    }
}

/// Sleeps until about `deadline` (a wake-up is tens of µs late), never spinning; false, and at
/// once, if `stopped` says so first.
pub fn sleep_until(deadline: Instant, stopped: impl Fn() -> bool) -> bool {
    nap_until(deadline, Duration::ZERO, stopped, |_| ())
}

/// Spins until `deadline`: for the last microseconds only, where a sleep would wake too late.
pub fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        std::hint::spin_loop();
    }
}

/// The kernel's part of a wait: sleeps until `margin` before `deadline`, telling `woke` how late
/// each sleep ended.
fn nap_until(
    deadline: Instant,
    margin: Duration,
    stopped: impl Fn() -> bool,
    mut woke: impl FnMut(Duration),
) -> bool {
    loop {
        if stopped() {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left <= margin {
            return true;
        }
        let nap = (left - margin).min(POLL);
        let woken_at = Instant::now() + nap;
        std::thread::sleep(nap);
        woke(Instant::now().saturating_duration_since(woken_at));
    }
}

/// Asks Linux for the finest timer slack for the calling thread (only), so its sleeps end when
/// asked, not up to 50 µs later. Best effort: a kernel that refuses leaves the default slack.
#[allow(
    unsafe_code,
    reason = "prctl(2) has no safe wrapper in std; PR_SET_TIMERSLACK touches no memory"
)]
pub fn fine_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a number and changes only this thread's timer slack.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// Asks Linux to run the calling thread (only: Linux keeps a nice value per thread) before
/// others at nice 0, so a woken sender is not kept waiting behind them for a scheduler slice
/// (milliseconds). Best effort: without the privilege (root or CAP_SYS_NICE) nothing changes.
#[allow(
    unsafe_code,
    reason = "setpriority(2) has no safe wrapper in std; it touches no memory"
)]
pub fn raise_priority() {
    // SAFETY: setpriority takes numbers and changes only this thread's nice value.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, -20);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_returns_before_the_deadline_and_stops_when_asked() {
        fine_timer_slack();
        let mut pacer = Pacer::default();
        for wait_us in [0, 50, 150, 2_000, 20, 700] {
            let deadline = Instant::now() + Duration::from_micros(wait_us);
            assert!(pacer.wait_until(deadline, || false));
            assert!(Instant::now() >= deadline, "{wait_us} µs");
            assert!((MARGIN_MIN..=MARGIN_MAX).contains(&pacer.margin()));
        }
        let far = Instant::now() + Duration::from_secs(3_600);
        let asked = std::cell::Cell::new(0);
        let stopped = || {
            asked.set(asked.get() + 1);
            asked.get() > 2
        };
        assert!(
            !pacer.wait_until(far, stopped),
            "stopped, not an hour later"
        );
        assert_eq!(asked.get(), 3);
    }

    #[test]
    fn the_margin_jumps_to_a_late_wake_up_and_comes_down_slowly() {
        let mut pacer = Pacer::default();
        pacer.learn(Duration::from_micros(100));
        assert_eq!(pacer.margin(), Duration::from_micros(125));
        pacer.learn(Duration::from_micros(10));
        let once = pacer.margin();
        assert!(once < Duration::from_micros(125) && once > Duration::from_micros(115));
        for _ in 0..500 {
            pacer.learn(Duration::from_micros(10));
        }
        assert!(
            pacer.margin() < Duration::from_micros(15),
            "{:?}",
            pacer.margin()
        );
        pacer.learn(Duration::from_secs(1));
        assert_eq!(pacer.margin(), MARGIN_MAX);
    }
}
