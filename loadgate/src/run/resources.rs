//! The processes' own resources while the load runs: the service's whole process tree (a service
//! may fork workers, like gunicorn with `-w 2`) and the generator itself, read from `/proc` at a
//! steady interval by a thread of its own, then summarized for the judged window.
//!
//! Resident memory is summed over the tree. CPU time is user + system, plus that of children the
//! service has already reaped, so a worker that exits mid-run does not take its CPU with it.

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

/// One reading of a process, or the sum over a process tree.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    pub rss_bytes: u64,
    pub cpu_seconds: f64,
    pub threads: u64,
    pub fds: u64,
    pub processes: u64,
}

impl Reading {
    fn add(&mut self, other: Reading) {
        self.rss_bytes += other.rss_bytes;
        self.cpu_seconds += other.cpu_seconds;
        self.threads += other.threads;
        self.fds += other.fds;
        self.processes += other.processes;
    }
}

/// Reads one process; `None` once it is gone.
pub fn read_process(pid: i32) -> Option<Reading> {
    let process = Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    let own = (stat.utime + stat.stime) as f64;
    let reaped_children = (stat.cutime + stat.cstime).max(0) as f64;
    Some(Reading {
        rss_bytes: stat.rss * procfs::page_size(),
        cpu_seconds: (own + reaped_children) / ticks,
        threads: u64::try_from(stat.num_threads).unwrap_or(0),
        fds: process.fd_count().map_or(0, |n| n as u64),
        processes: 1,
    })
}

/// Reads the tree rooted at `root`: the process and all its descendants, found through their
/// parent ids (a worker may start its own process group, so the group is not enough).
/// `None` once the root is gone.
pub fn read_tree(root: i32) -> Option<Reading> {
    let mut total = read_process(root)?;
    for pid in descendants(root) {
        if let Some(reading) = read_process(pid) {
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
        let thread = std::thread::Builder::new()
            .name("loadgate-sampler".into())
            .spawn(move || {
                let started = Instant::now();
                let sample = || Sample {
                    at: started.elapsed(),
                    service: service_pid.and_then(read_tree),
                    generator: read_process(generator_pid),
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
        format!(
            "RSS peak {} (window {} -> {}, {}{}), CPU {:.2}s = {}/req, {:.2} cores, {} threads, {} fds{processes}",
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
            let tree = read_tree(pid).unwrap();
            let sum: u64 = members()
                .iter()
                .filter_map(|p| read_process(*p))
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
        assert!(read_tree(pid).is_none(), "a reaped process has no tree");
    }
}
