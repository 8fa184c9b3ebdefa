//! The processes' own resources while the load runs: the service's whole process tree (a service
//! may fork workers, like gunicorn with `-w 2`) and the generator itself, read from `/proc` at a
//! steady interval by a thread of its own, then summarized for the judged window.
//!
//! Resident memory is summed over the tree. CPU time is user + system, plus that of children the
//! service has already reaped, so a worker that exits mid-run does not take its CPU with it.
//!
//! CPU time comes from each process's CPU clock (`clock_getcpuclockid` + `clock_gettime`), in
//! nanoseconds, threads that have exited included. `/proc/PID/stat` counts it in clock ticks of
//! 10 ms: at a gate's usual load a run uses a tenth of a second of service CPU, so one tick is
//! a tenth of the figure, and unchanged runs read two tick levels apart. The ticks remain the
//! only source for reaped children (whose CPU changes only when one exits) and the fallback for
//! a process whose clock cannot be read; [`CpuClock`] records which source a figure came from.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use procfs::process::{Process, all_processes};
use serde::{Deserialize, Serialize};

use crate::support::units::{Seconds, format_bytes, round_to};

/// Often enough to catch a spike of a few hundred milliseconds, rarely enough that scanning
/// `/proc` costs the machine next to nothing.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Where a process's own CPU time was read from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CpuClock {
    /// The process's CPU clock, in nanoseconds.
    #[default]
    ProcessClock,
    /// `/proc/PID/stat`'s user + system time, in clock ticks (10 ms on most systems).
    Ticks,
}

/// One reading of a process, or the sum over a process tree.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    /// [`CpuClock::Ticks`] when any process summed here was read in ticks.
    pub cpu_clock: CpuClock,
    pub threads: u64,
    pub fds: u64,
    pub processes: u64,
}

impl Reading {
    fn add(&mut self, other: Reading) {
        self.rss_bytes += other.rss_bytes;
        self.cpu_seconds += other.cpu_seconds;
        self.cpu_clock = self.cpu_clock.or_coarser(other.cpu_clock);
        self.threads += other.threads;
        self.fds += other.fds;
        self.processes += other.processes;
    }
}

impl CpuClock {
    /// The source of a sum of figures: as coarse as its coarsest part.
    fn or_coarser(self, other: CpuClock) -> CpuClock {
        match (self, other) {
            (CpuClock::ProcessClock, CpuClock::ProcessClock) => CpuClock::ProcessClock,
            _ => CpuClock::Ticks,
        }
    }
}

/// Reads one process, its CPU time from `source` where it can be; `None` once it is gone.
pub fn read_process(pid: i32, source: CpuClock) -> Option<Reading> {
    let process = Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    // Read after the stat, so a process that is gone by now is read in ticks, not as zero.
    let clock = match source {
        CpuClock::ProcessClock => process_cpu_seconds(pid),
        CpuClock::Ticks => None,
    };
    let (cpu_seconds, cpu_clock) = cpu_seconds(
        stat.utime + stat.stime,
        stat.cutime + stat.cstime,
        procfs::ticks_per_second(),
        clock,
    );
    Some(Reading {
        rss_bytes: stat.rss * procfs::page_size(),
        cpu_seconds,
        cpu_clock,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
        fds: process.fd_count().map_or(0, |n| n as u64),
        processes: 1,
    })
}

/// A process's CPU time: its own, from its clock when that could be read (`clock`, seconds)
/// and else from its ticks, plus that of the children it has reaped, which only ticks record.
fn cpu_seconds(
    own_ticks: u64,
    reaped_children_ticks: i64,
    ticks_per_second: u64,
    clock: Option<f64>,
) -> (f64, CpuClock) {
    let ticks = ticks_per_second.max(1) as f64;
    let reaped_children = reaped_children_ticks.max(0) as f64 / ticks;
    match clock {
        Some(own) => (own + reaped_children, CpuClock::ProcessClock),
        None => (own_ticks as f64 / ticks + reaped_children, CpuClock::Ticks),
    }
}

/// The CPU time `pid` has used, every thread it ever had included, in seconds with nanosecond
/// resolution; `None` where the clock cannot be read (the process is gone, or the system
/// refuses).
#[allow(
    unsafe_code,
    reason = "clock_getcpuclockid(3) and clock_gettime(2) have no safe wrapper in std"
)]
fn process_cpu_seconds(pid: i32) -> Option<f64> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the call writes one clockid_t through a pointer to a live local of that type.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut time = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the call writes one timespec through a pointer to a live local of that type.
    if unsafe { libc::clock_gettime(clock, &mut time) } != 0 {
        return None;
    }
    Some(time.tv_sec as f64 + time.tv_nsec as f64 * 1e-9)
}

/// Reads the tree rooted at `root`: the process and all its descendants, found through their
/// parent ids (a worker may start its own process group, so the group is not enough).
/// `None` once the root is gone.
pub fn read_tree(root: i32, source: CpuClock) -> Option<Reading> {
    let mut total = read_process(root, source)?;
    for pid in descendants(root) {
        if let Some(reading) = read_process(pid, source) {
            total.add(reading);
        }
    }
    Some(total)
}

/// The processes below `root`, found through their parent ids, parents before their children.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for process in all_processes().into_iter().flatten().flatten() {
        if let Ok(stat) = process.stat() {
            children.entry(stat.ppid).or_default().push(stat.pid);
        }
    }
    let mut found = Vec::new();
    let mut pending = children.remove(&root).unwrap_or_default();
    while let Some(pid) = pending.pop() {
        found.push(pid);
        pending.extend(children.remove(&pid).unwrap_or_default());
    }
    found
}

/// Readings taken at one moment, `at` after the sampler started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: Duration,
    /// `None` when there is no service to watch (`--target`) or it has gone.
    pub service: Option<Reading>,
    pub generator: Option<Reading>,
}

/// A thread reading the service's tree and the generator every [`SAMPLE_INTERVAL`], from its
/// start until [`Sampler::finish`], which takes a last reading.
#[derive(Debug)]
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    pub fn start(service_pid: Option<i32>) -> Sampler {
        let (stop, stopped) = mpsc::channel();
        let generator_pid = i32::try_from(std::process::id()).expect("a pid fits in i32");
        let source = test_cpu_source();
        let thread = std::thread::Builder::new()
            .name("loadgate-sampler".into())
            .spawn(move || {
                let started = Instant::now();
                let sample = || Sample {
                    at: started.elapsed(),
                    service: service_pid.and_then(|pid| read_tree(pid, source)),
                    generator: read_process(generator_pid, source),
                };
                let mut samples = vec![sample()];
                // Until told to stop, then one last reading at that moment.
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(SAMPLE_INTERVAL)
                {
                    samples.push(sample());
                }
                samples.push(sample());
                samples
            })
            .expect("the sampler thread starts");
        Sampler { stop, thread }
    }

    pub fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

/// Where the sampler reads CPU time from: the clock, unless a benchmark comparing it with the
/// ticks sets `LOADGATE_TEST_CPU_TICKS=1`, honoured only under `LOADGATE_TEST_SEAMS=1` so no
/// production environment can coarsen its figures by accident.
fn test_cpu_source() -> CpuClock {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| v == "1");
    if set("LOADGATE_TEST_SEAMS") && set("LOADGATE_TEST_CPU_TICKS") {
        CpuClock::Ticks
    } else {
        CpuClock::ProcessClock
    }
}

/// What a process (tree) used during the judged window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceFigures {
    /// Highest resident memory seen during the whole load, warmup included.
    pub rss_peak_bytes: u64,
    /// Mean over the judged window's samples.
    pub rss_mean_bytes: u64,
    /// At the start and end of the judged window; their difference is the leak signal.
    pub rss_start_bytes: u64,
    pub rss_end_bytes: u64,
    pub rss_growth_bytes: i64,
    /// User + system CPU time during the judged window.
    pub cpu_seconds: f64,
    /// Where the CPU time was read from: `process-clock` (nanoseconds) or `ticks` (10 ms, the
    /// fallback where a process's clock could not be read). Absent in summaries written before
    /// the clock was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_clock: Option<CpuClock>,
    /// `cpu_seconds` per judged request, in µs.
    pub cpu_per_request_us: f64,
    /// Average number of cores busy during the judged window (1.0 = one core all the time).
    pub cpu_utilisation: f64,
    pub threads_peak: u64,
    pub fds_peak: u64,
    pub processes_peak: u64,
}

/// One point of the service's time series, for charts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourcePoint {
    /// Seconds since the load started (the judged window starts after the warmup).
    pub t: Seconds,
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
    pub fds: u64,
    pub processes: u64,
}

/// Which readings of a sample to summarize.
#[derive(Debug, Clone, Copy)]
pub enum Who {
    Service,
    Generator,
}

impl Who {
    fn reading(self, sample: &Sample) -> Option<Reading> {
        match self {
            Who::Service => sample.service,
            Who::Generator => sample.generator,
        }
    }
}

/// Figures for the window `[start, end]` (since the sampler started) in which `requests` judged
/// requests were made. Values at the window's edges are interpolated between samples. `None`
/// without readings in the window.
pub fn figures(
    samples: &[Sample],
    who: Who,
    start: Duration,
    end: Duration,
    requests: u64,
) -> Option<ResourceFigures> {
    let points: Vec<(f64, Reading)> = samples
        .iter()
        .filter_map(|s| who.reading(s).map(|r| (s.at.as_secs_f64(), r)))
        .collect();
    let (first, last) = (points.first()?, points.last()?);
    // A service that died early: the window ends with its last reading.
    let (start, end) = (
        start.as_secs_f64().max(first.0),
        end.as_secs_f64().min(last.0),
    );
    if end <= start {
        return None;
    }
    let at = |t: f64, value: fn(&Reading) -> f64| interpolate(&points, t, value);
    let rss = |r: &Reading| r.rss_bytes as f64;
    let cpu = |r: &Reading| r.cpu_seconds;
    let in_window: Vec<&Reading> = points
        .iter()
        .filter(|(t, _)| (start..=end).contains(t))
        .map(|(_, r)| r)
        .collect();
    let peak = |value: fn(&Reading) -> u64| points.iter().map(|(_, r)| value(r)).max().unwrap_or(0);
    let rss_start = at(start, rss) as u64;
    let rss_end = at(end, rss) as u64;
    let cpu_seconds = (at(end, cpu) - at(start, cpu)).max(0.0);
    let cpu_clock = points.iter().fold(CpuClock::ProcessClock, |clock, (_, r)| {
        clock.or_coarser(r.cpu_clock)
    });
    let rss_mean = if in_window.is_empty() {
        (rss_start + rss_end) / 2
    } else {
        in_window.iter().map(|r| r.rss_bytes).sum::<u64>() / in_window.len() as u64
    };
    Some(ResourceFigures {
        rss_peak_bytes: peak(|r| r.rss_bytes),
        rss_mean_bytes: rss_mean,
        rss_start_bytes: rss_start,
        rss_end_bytes: rss_end,
        rss_growth_bytes: rss_end as i64 - rss_start as i64,
        cpu_seconds: round_to(cpu_seconds, 4),
        cpu_clock: Some(cpu_clock),
        cpu_per_request_us: if requests == 0 {
            0.0
        } else {
            round_to(cpu_seconds * 1e6 / requests as f64, 2)
        },
        cpu_utilisation: round_to(cpu_seconds / (end - start), 3),
        threads_peak: peak(|r| r.threads),
        fds_peak: peak(|r| r.fds),
        processes_peak: peak(|r| r.processes),
    })
}

/// The service's readings as a time series.
pub fn series(samples: &[Sample]) -> Vec<ResourcePoint> {
    samples
        .iter()
        .filter_map(|s| {
            s.service.map(|r| ResourcePoint {
                t: Seconds(round_to(s.at.as_secs_f64(), 2)),
                rss_bytes: r.rss_bytes,
                cpu_seconds: round_to(r.cpu_seconds, 3),
                threads: r.threads,
                fds: r.fds,
                processes: r.processes,
            })
        })
        .collect()
}

/// Linear interpolation of `value` at time `t` between the readings around it (clamped at the
/// ends). `points` are in time order.
fn interpolate(points: &[(f64, Reading)], t: f64, value: fn(&Reading) -> f64) -> f64 {
    let after = points.partition_point(|(at, _)| *at < t);
    match (
        after.checked_sub(1).and_then(|i| points.get(i)),
        points.get(after),
    ) {
        (Some((t0, r0)), Some((t1, r1))) if t1 > t0 => {
            value(r0) + (value(r1) - value(r0)) * (t - t0) / (t1 - t0)
        }
        (_, Some((_, r))) | (Some((_, r)), None) => value(r),
        (None, None) => 0.0,
    }
}

impl ResourceFigures {
    /// One line for reports: memory, then CPU, then the process counts.
    pub fn describe(&self) -> String {
        let processes = match self.processes_peak {
            1 => String::new(),
            n => format!(", {n} processes"),
        };
        // Only the fallback is named: a figure that may be a tick off needs saying.
        let ticks = match self.cpu_clock {
            Some(CpuClock::Ticks) => " (CPU in clock ticks)",
            Some(CpuClock::ProcessClock) | None => "",
        };
        format!(
            "RSS peak {} (window {} -> {}, {}{}), CPU {:.2}s = {}/req{ticks}, {:.2} cores, {} threads, {} fds{processes}",
            format_bytes(self.rss_peak_bytes as f64),
            format_bytes(self.rss_start_bytes as f64),
            format_bytes(self.rss_end_bytes as f64),
            if self.rss_growth_bytes >= 0 { "+" } else { "" },
            format_bytes(self.rss_growth_bytes as f64),
            self.cpu_seconds,
            crate::support::units::format_micros(self.cpu_per_request_us),
            self.cpu_utilisation,
            self.threads_peak,
            self.fds_peak,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: u64, rss_mib: u64, cpu: f64) -> Sample {
        let reading = Reading {
            rss_bytes: rss_mib << 20,
            cpu_seconds: cpu,
            cpu_clock: CpuClock::ProcessClock,
            threads: 4,
            fds: 10,
            processes: 1,
        };
        Sample {
            at: Duration::from_millis(at_ms),
            service: Some(reading),
            generator: None,
        }
    }

    #[test]
    fn figures_interpolate_the_window_edges() {
        // RSS grows 1 MiB and CPU 0.1 s per 100 ms.
        let samples: Vec<Sample> = (0..=20)
            .map(|i| sample(i * 100, 10 + i, i as f64 * 0.1))
            .collect();
        let f = figures(
            &samples,
            Who::Service,
            Duration::from_millis(550),
            Duration::from_millis(1550),
            1000,
        )
        .unwrap();
        assert!((f.cpu_seconds - 1.0).abs() < 1e-9, "{f:?}");
        assert!((f.cpu_per_request_us - 1000.0).abs() < 1e-6, "{f:?}");
        assert!((f.cpu_utilisation - 1.0).abs() < 1e-9, "{f:?}");
        assert_eq!(f.rss_start_bytes, (15 << 20) + (1 << 19));
        assert_eq!(f.rss_growth_bytes, 10 << 20);
        assert_eq!(f.rss_peak_bytes, 30 << 20, "the peak covers the whole load");
        assert_eq!((f.threads_peak, f.fds_peak, f.processes_peak), (4, 10, 1));
        assert!(
            figures(
                &samples,
                Who::Generator,
                Duration::ZERO,
                Duration::from_secs(1),
                10
            )
            .is_none()
        );
    }

    #[test]
    fn one_process_read_in_ticks_makes_the_figure_ticks() {
        let mut samples: Vec<Sample> = (0..=10).map(|i| sample(i * 100, 10, 0.0)).collect();
        let at = |samples: &[Sample]| {
            figures(
                samples,
                Who::Service,
                Duration::ZERO,
                Duration::from_secs(1),
                1,
            )
            .unwrap()
            .cpu_clock
        };
        assert_eq!(at(&samples), Some(CpuClock::ProcessClock));
        let mut tree = samples[5].service.unwrap();
        tree.add(Reading {
            cpu_clock: CpuClock::Ticks,
            ..Reading::default()
        });
        samples[5].service = Some(tree);
        assert_eq!(at(&samples), Some(CpuClock::Ticks));
    }

    #[test]
    fn cpu_time_is_the_clock_plus_the_reaped_childrens_ticks() {
        // (own ticks, reaped children's ticks, the clock) -> (seconds, source), at 100 ticks/s.
        let cases = [
            (
                (7, 0, Some(0.071_234_567)),
                (0.071_234_567, CpuClock::ProcessClock),
            ),
            (
                (7, 30, Some(0.071_234_567)),
                (0.371_234_567, CpuClock::ProcessClock),
            ),
            ((7, 30, None), (0.37, CpuClock::Ticks)),
            // A negative count from a confused kernel adds nothing.
            ((7, -3, None), (0.07, CpuClock::Ticks)),
        ];
        for ((own, children, clock), (seconds, source)) in cases {
            let (got, got_source) = cpu_seconds(own, children, 100, clock);
            assert!(
                (got - seconds).abs() < 1e-12,
                "{own} {children} {clock:?}: {got}"
            );
            assert_eq!(got_source, source, "{own} {children} {clock:?}");
        }
    }

    #[test]
    fn the_cpu_clock_counts_a_finished_thread_to_below_a_tick() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let before = read_process(pid, CpuClock::ProcessClock).unwrap();
        // Burn about 150 ms of CPU in a thread that is gone before the second reading.
        std::thread::spawn(|| {
            let started = Instant::now();
            let mut x = 0u64;
            while started.elapsed() < Duration::from_millis(150) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        })
        .join()
        .unwrap();
        let after = read_process(pid, CpuClock::ProcessClock).unwrap();
        assert_eq!(
            (before.cpu_clock, after.cpu_clock),
            (CpuClock::ProcessClock, CpuClock::ProcessClock)
        );
        let burned = after.cpu_seconds - before.cpu_seconds;
        // Wide bounds: a busy machine may give the thread a fraction of its 150 ms; other
        // test threads of this process add their own.
        assert!(burned > 0.01 && burned < 30.0, "burned {burned} s");
        // The ticks count the same time, truncated to whole ticks, read just before the clock.
        let process = Process::new(pid).unwrap();
        let stat = process.stat().unwrap();
        let clock = process_cpu_seconds(pid).unwrap();
        let ticks = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
        assert!(
            clock >= ticks - 0.02 && clock - ticks < 1.0,
            "clock {clock} s, ticks {ticks} s"
        );
        // A reaped child's pid names no process (pids are reused only after wrapping around).
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        let gone = i32::try_from(gone.id()).unwrap();
        assert!(process_cpu_seconds(gone).is_none(), "no such process");
        let in_ticks = read_process(pid, CpuClock::Ticks).unwrap();
        assert_eq!(in_ticks.cpu_clock, CpuClock::Ticks);
    }

    #[test]
    fn figures_written_before_the_clock_was_read_still_read() {
        let old = r#"{"rss_peak_bytes": 1, "rss_mean_bytes": 1, "rss_start_bytes": 1,
            "rss_end_bytes": 1, "rss_growth_bytes": 0, "cpu_seconds": 0.1,
            "cpu_per_request_us": 42.24, "cpu_utilisation": 0.02, "threads_peak": 3,
            "fds_peak": 9, "processes_peak": 1}"#;
        let figures: ResourceFigures = serde_json::from_str(old).unwrap();
        assert_eq!(figures.cpu_clock, None);
        let text = serde_json::to_string(&figures).unwrap();
        assert!(!text.contains("cpu_clock"), "{text}");
        let now = ResourceFigures {
            cpu_clock: Some(CpuClock::ProcessClock),
            ..figures
        };
        let text = serde_json::to_string(&now).unwrap();
        assert!(text.contains(r#""cpu_clock":"process-clock""#), "{text}");
    }

    #[test]
    fn a_window_past_the_last_reading_ends_there() {
        let samples = vec![sample(0, 10, 0.0), sample(100, 10, 0.5)];
        let f = figures(
            &samples,
            Who::Service,
            Duration::ZERO,
            Duration::from_secs(10),
            5,
        )
        .unwrap();
        assert!(
            (f.cpu_seconds - 0.5).abs() < 1e-9 && (f.cpu_utilisation - 5.0).abs() < 1e-9,
            "{f:?}"
        );
    }

    #[test]
    fn the_tree_of_a_forking_process_sums_its_members() {
        use std::os::unix::process::CommandExt as _;
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let members = || -> Vec<i32> {
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap()
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .chain([pid])
                .collect()
        };
        // The children are forked shells until they exec `sleep`, and their RSS changes then:
        // compare once the tree holds still, within a deadline.
        let deadline = Instant::now() + Duration::from_secs(10);
        let (tree, sum) = loop {
            let tree = read_tree(pid, CpuClock::ProcessClock).unwrap();
            let sum: u64 = members()
                .iter()
                .filter_map(|p| read_process(*p, CpuClock::ProcessClock))
                .map(|r| r.rss_bytes)
                .sum();
            if (tree.processes == 3 && tree.rss_bytes == sum) || Instant::now() > deadline {
                break (tree, sum);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The whole group, so the sleeps do not outlive the test.
        std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("kill -KILL -{pid}"))
            .status()
            .unwrap();
        child.wait().unwrap();
        assert_eq!(tree.processes, 3, "the shell and its two children");
        assert_eq!(
            tree.rss_bytes, sum,
            "the tree's RSS is the sum of its members'"
        );
        assert!(sum > 0, "three resident processes");
        assert!(
            read_tree(pid, CpuClock::ProcessClock).is_none(),
            "a reaped process has no tree"
        );
    }
}
