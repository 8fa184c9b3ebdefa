//! Waiting for a send time to within microseconds: in a tokio task, or on a thread of its own.
//!
//! tokio's timer has a millisecond wheel, and the kernel's sleeps grant a thread 50 µs of timer
//! slack by default: a send woken by either is late by up to a millisecond, and that lands in
//! every latency the open model measures. Here a task waits on a timerfd (no slack; it wakes the
//! runtime's event loop when it fires), a thread sleeps with 1 ns of slack, and either wakes a
//! margin before the send time and spins for the rest. The margin follows the 95th percentile of
//! how late the kernel's wake-ups have been lately (tens of µs on an idle virtual machine, more
//! on a shared one), the 99th where idle CPUs are kept awake: the spin, all the CPU this costs,
//! stays small.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::support::cpu_latency;

/// The margin's bounds and start. A wake-up is never earlier than asked; one later than the
/// maximum is a busy machine's preemption, which a spin would cover only at the price of a busy
/// core.
const MARGIN_MIN: Duration = Duration::from_micros(5);
const MARGIN_MAX: Duration = Duration::from_micros(250);
const MARGIN_START: Duration = Duration::from_micros(100);

/// How long before a send time the kernel's timer should fire, shared by all who wait: the
/// lateness of wake-ups is the machine's, not a task's.
#[derive(Debug)]
pub struct Margin {
    nanos: AtomicU64,
    /// Up this much on a late wake-up, down [`STEP_DOWN`] on another: see [`Margin::covering`].
    step_up: Duration,
}

impl Margin {
    /// The margin for this machine as it is now. Where idle CPUs are kept awake (they poll:
    /// `--keep-cpus-awake`), the tail of their wake-ups is tens of µs, and covering its 99th
    /// percentile costs a short spin. Where they halt, the tail is the host's: hundreds of µs to
    /// milliseconds. Covering it would cost that spin on every request and shortens no tail
    /// (measured at 200 req/s: 0.046 of a core against 0.036, the same send error p99), so the
    /// margin covers the 95th percentile there.
    pub fn for_this_machine() -> Margin {
        Margin::covering(if cpu_latency::cpus_kept_awake() {
            99
        } else {
            95
        })
    }

    /// A margin that settles at the `percentile`-th percentile of recent wake-ups: it steps up
    /// on a late one `percentile / (100 − percentile)` times as far as it steps down on another.
    fn covering(percentile: u32) -> Margin {
        Margin {
            nanos: AtomicU64::new(MARGIN_START.as_nanos() as u64),
            step_up: STEP_DOWN * percentile / (100 - percentile),
        }
    }

    pub fn get(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Relaxed))
    }

    /// A wake-up this late moves the margin a step towards its percentile.
    fn learn(&self, late: Duration) {
        let margin = self.get();
        let next = if late > margin {
            margin + self.step_up
        } else {
            margin.saturating_sub(STEP_DOWN)
        };
        let next = next.clamp(MARGIN_MIN, MARGIN_MAX);
        self.nanos.store(next.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Fine enough that a step up for the 99th percentile (25 µs) overshoots it little.
const STEP_DOWN: Duration = Duration::from_nanos(250);

/// A waiter's own timer: a timerfd in the runtime's event loop, made when first needed.
#[derive(Debug, Default)]
pub struct Timer(Option<AsyncFd<OwnedFd>>);

impl Timer {
    /// Sleeps until about `at` (a wake-up is tens of µs late). Without a timerfd (none left to
    /// open), tokio's own timer does it, a millisecond coarser.
    async fn sleep_until(&mut self, at: Instant) {
        let fd = match &mut self.0 {
            Some(fd) => fd,
            slot => match timerfd() {
                Ok(fd) => slot.insert(fd),
                Err(_) => return tokio::time::sleep_until(at).await,
            },
        };
        let left = at.saturating_duration_since(Instant::now());
        // A zero value disarms a timerfd: nothing left to wait for.
        if left.is_zero() || arm(fd, left).is_err() {
            return;
        }
        loop {
            let Ok(mut ready) = fd.readable().await else {
                return;
            };
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| Ok(rustix::io::read(fd, &mut expirations)?)) {
                Ok(_) => return,
                Err(_would_block) => continue,
            }
        }
    }
}

/// A timerfd in the runtime's event loop.
#[allow(
    unsafe_code,
    reason = "tokio registers a raw descriptor only if told it stays open, which OwnedFd ensures"
)]
fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
    let flags = TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC;
    let fd = rustix::time::timerfd_create(TimerfdClockId::Monotonic, flags)?;
    // SAFETY: the AsyncFd owns `fd`, which stays open, the same descriptor, until it is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(io::Error::from)
}

/// Arms `fd` to fire once, `after` from now (re-arming clears an expiry not yet read).
fn arm(fd: &AsyncFd<OwnedFd>, after: Duration) -> io::Result<()> {
    let value = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            tv_sec: after.as_secs() as _,
            tv_nsec: after.subsec_nanos() as _,
        },
    };
    rustix::time::timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &value)?;
    Ok(())
}

/// Waits until `deadline`: the timer until the margin before it (at most `spin_at_most`
/// before), a spin for the rest. False, and at once, if `stop` turns true first.
pub async fn wait_until(
    timer: &mut Timer,
    margin: &Margin,
    (deadline, spin_at_most): (Instant, Duration),
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let wake_at = deadline
        .checked_sub(margin.get().min(spin_at_most))
        .unwrap_or(deadline);
    if wake_at > Instant::now() {
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            biased;
            _ = stop.changed() => return false,
            () = timer.sleep_until(wake_at) => {}
        }
        margin.learn(Instant::now().saturating_duration_since(wake_at));
    }
    spin_until(deadline);
    true
}

/// Blocks the calling thread until `deadline`: a sleep until the margin before it, a spin for
/// the rest. False, and at once, if `stopped` says so first (it is asked at least every
/// [`POLL`]).
pub fn block_until(margin: &Margin, deadline: Instant, stopped: impl Fn() -> bool) -> bool {
    let wake_at = deadline.checked_sub(margin.get()).unwrap_or(deadline);
    loop {
        if stopped() {
            return false;
        }
        let left = wake_at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let nap = left.min(POLL);
        let woken_at = Instant::now() + nap;
        std::thread::sleep(nap);
        margin.learn(Instant::now().saturating_duration_since(woken_at));
    }
    spin_until(deadline);
    true
}

/// The longest single sleep of [`block_until`]: how often a long wait looks at `stopped`.
const POLL: Duration = Duration::from_millis(10);

/// Spins until `deadline`: for the last microseconds only, where a sleep would wake too late.
pub fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        std::hint::spin_loop();
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
/// others at nice 0, so it is not kept waiting behind them for a scheduler slice (milliseconds).
/// Best effort: without the privilege (root or CAP_SYS_NICE) nothing changes.
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

    #[tokio::test]
    async fn never_returns_before_the_deadline_and_stops_when_asked() {
        let (margin, mut timer) = (Margin::covering(95), Timer::default());
        let (stop_tx, mut stop) = watch::channel(false);
        for wait_us in [0, 50, 150, 2_000, 20, 700, 30_000] {
            let deadline = Instant::now() + Duration::from_micros(wait_us);
            assert!(wait_until(&mut timer, &margin, (deadline, Duration::MAX), &mut stop).await);
            assert!(Instant::now() >= deadline, "{wait_us} µs");
            assert!((MARGIN_MIN..=MARGIN_MAX).contains(&margin.get()));
        }
        assert!(timer.0.is_some(), "waited on a timerfd");
        let far = Instant::now() + Duration::from_secs(3_600);
        let waiting = tokio::spawn(async move {
            wait_until(&mut timer, &margin, (far, Duration::MAX), &mut stop).await
        });
        stop_tx.send(true).unwrap();
        let stopped = tokio::time::timeout(Duration::from_secs(10), waiting).await;
        assert!(!stopped.unwrap().unwrap(), "stopped, not an hour later");
    }

    #[test]
    fn a_thread_never_wakes_before_the_deadline_and_stops_when_asked() {
        fine_timer_slack();
        let margin = Margin::covering(95);
        for wait_us in [0, 50, 150, 2_000, 20, 700] {
            let deadline = Instant::now() + Duration::from_micros(wait_us);
            assert!(block_until(&margin, deadline, || false));
            assert!(Instant::now() >= deadline, "{wait_us} µs");
        }
        let far = Instant::now() + Duration::from_secs(3_600);
        let asked = std::cell::Cell::new(0);
        let stopped = || {
            asked.set(asked.get() + 1);
            asked.get() > 2
        };
        assert!(
            !block_until(&margin, far, stopped),
            "stopped, not an hour later"
        );
        assert_eq!(asked.get(), 3);
    }

    #[test]
    fn the_margin_settles_at_its_percentile_of_recent_wake_ups() {
        for percentile in [95, 99] {
            let margin = Margin::covering(percentile);
            // Wake-ups late by 1 to 100 µs, evenly: the p-th percentile is p µs. The margin
            // steps about it; on average it sits within a step above.
            let mut sum = Duration::ZERO;
            for n in 0..40_000u64 {
                margin.learn(Duration::from_micros(1 + n * 37 % 100));
                if n >= 20_000 {
                    sum += margin.get();
                }
            }
            let mean = (sum / 20_000).as_micros() as u32;
            assert!(
                (percentile - 5..=percentile + 15).contains(&mean),
                "p{percentile}: {mean} µs"
            );
        }
        let margin = Margin::covering(95);
        for _ in 0..1_000 {
            margin.learn(Duration::from_secs(1));
        }
        assert_eq!(margin.get(), MARGIN_MAX);
        for _ in 0..1_000 {
            margin.learn(Duration::ZERO);
        }
        assert_eq!(margin.get(), MARGIN_MIN);
    }
}
