//! `perf` on the service: whether it can run here (and, when not, the words saying why and what
//! to change), a recording of the service's process tree started and stopped around the judged
//! window, and its samples folded into [`Stacks`] with inferno.
//!
//! Call graphs are unwound from DWARF (`--call-graph dwarf`): a release Rust binary keeps no frame
//! pointers unless built with `-C force-frame-pointers=yes`, and with `-g` (frame pointers) perf
//! got one frame per sample from the demo service, the sampled function alone with no caller.
//! DWARF needs the debug information the workspace's release profile keeps
//! (`debug = "line-tables-only"`), and copies 8 KiB of stack per sample: at 99 Hz, a few hundred
//! KiB a second on two busy cores.

use std::io::{BufReader, Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use inferno::collapse::Collapse as _;
use tokio::process::{Child, Command};

use crate::profile::{FREQUENCY_HZ, Stacks};

/// How long perf may take to attach to the service and start sampling.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What to install, for the note of a machine without `perf`.
const INSTALL: &str = "install it (Debian: `sudo apt-get install linux-perf`; Ubuntu and \
                       GitHub-hosted runners: `sudo apt-get install linux-tools-common \
                       linux-tools-$(uname -r)`)";

/// Why no profile can be recorded here, in words for a note; `None` when `perf` should work.
pub fn unavailable() -> Option<String> {
    match std::process::Command::new("perf")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Some(format!(
                "no profile: `perf` is not on PATH; {INSTALL}, or drop --profile. The verdict does not depend on it"
            ));
        }
        Err(err) => return Some(format!("no profile: cannot run `perf`: {err}")),
        Ok(status) if !status.success() => {
            // Debian's `perf` wrapper fails when no perf matches the running kernel.
            return Some(format!(
                "no profile: `perf --version` failed ({status}): no perf for this kernel? {INSTALL}"
            ));
        }
        Ok(_) => {}
    }
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid").ok()?;
    paranoid_note(paranoid.trim().parse().ok()?, is_root())
}

/// Up to 2, a user may sample its own processes (in user space only at 2); above (Debian's and
/// Ubuntu's 3 and 4), only root may.
fn paranoid_note(level: i32, root: bool) -> Option<String> {
    (level > 2 && !root).then(|| {
        format!(
            "no profile: /proc/sys/kernel/perf_event_paranoid is {level}, which lets only root sample \
             processes; allow it with `sudo sysctl kernel.perf_event_paranoid=1` (or run as root). The \
             verdict does not depend on it"
        )
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(2))
            == Some("0")
    })
}

/// A `perf record` running on the service's processes.
#[derive(Debug)]
pub struct Recording {
    child: Child,
    data: PathBuf,
    log: PathBuf,
}

impl Recording {
    /// Starts sampling `pids` (the service and its descendants, each with all its threads) into
    /// `data`; perf's own words go to `log`. Returns once perf samples: it takes up to a second
    /// to attach to a busy process, so it starts with events off and is told to turn them on
    /// through a control FIFO, which it acknowledges when they are. The error is a note's words.
    pub async fn start(pids: &[i32], data: &Path, log: &Path) -> Result<Recording, String> {
        let (ctl, ack) = (data.with_extension("ctl"), data.with_extension("ack"));
        for file in [data, &ctl, &ack] {
            let _ = std::fs::remove_file(file);
        }
        make_fifo(&ctl)
            .and_then(|()| make_fifo(&ack))
            .map_err(|err| format!("cannot make perf's control FIFOs: {err}"))?;
        // perf opens the acknowledgement FIFO for writing without blocking, which needs a reader
        // there already; a FIFO opened for reading and writing never blocks.
        let mut ack_reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&ack)
            .map_err(|err| format!("cannot open {}: {err}", ack.display()))?;
        let mut ctl_writer = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&ctl)
            .map_err(|err| format!("cannot open {}: {err}", ctl.display()))?;
        let pids: Vec<String> = pids.iter().map(i32::to_string).collect();
        let stderr = std::fs::File::create(log)
            .map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let mut child = Command::new("perf")
            .args(["record", "-q", "-F", &FREQUENCY_HZ.to_string()])
            .args(["-e", "cpu-clock", "--call-graph", "dwarf"])
            // Samples stamped on CLOCK_MONOTONIC, so each run's judged window can be cut out;
            // no build-id pass over the whole file when it stops (seconds on a large binary).
            .args(["-k", "mono", "--no-buildid", "--no-buildid-cache"])
            .args(["-D", "-1", "--control"])
            .arg(format!("fifo:{},{}", ctl.display(), ack.display()))
            .arg("-p")
            .arg(pids.join(","))
            .arg("-o")
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| format!("cannot run perf record: {err}"))?;
        ctl_writer
            .write_all(b"enable\n")
            .map_err(|err| format!("cannot tell perf to start: {err}"))?;
        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut said = Vec::new();
        loop {
            let mut buffer = [0; 64];
            match ack_reader.read(&mut buffer) {
                Ok(n) => said.extend_from_slice(&buffer[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(format!("cannot read perf's acknowledgement: {err}")),
            }
            if said.windows(3).any(|w| w == b"ack") {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log_text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(format!(
                    "perf record exited at once ({status}): {}",
                    last_line(&log_text)
                ));
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "perf record did not start sampling within {} s",
                    START_TIMEOUT.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // perf holds them open; their names are no longer needed.
        let _ = std::fs::remove_file(&ctl);
        let _ = std::fs::remove_file(&ack);
        Ok(Recording {
            child,
            data: data.to_owned(),
            log: log.to_owned(),
        })
    }

    /// Stops the recording (SIGINT: perf writes its file and exits) and folds what it sampled
    /// within `windows` (CLOCK_MONOTONIC seconds, from and to); the error is a note's words. The
    /// raw data is removed: the folded stacks are what is kept.
    pub async fn stop(mut self, windows: Vec<(f64, f64)>) -> Result<Stacks, String> {
        if let Some(pid) = self.child.id() {
            interrupt(pid);
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .map_err(|_| "perf record did not stop within 30 s".to_owned())
            .and_then(|waited| waited.map_err(|err| format!("perf record: {err}")))?;
        let said = std::fs::read_to_string(&self.log).unwrap_or_default();
        // perf exits with the signal's status (or 130) when interrupted: the file says more.
        if !self.data.exists() {
            return Err(format!(
                "perf record wrote no samples ({status}): {}",
                last_line(&said)
            ));
        }
        let data = self.data.clone();
        let folded = tokio::task::spawn_blocking(move || fold(&data, &windows))
            .await
            .map_err(|err| format!("folding the samples: {err}"))?;
        let _ = std::fs::remove_file(&self.data);
        folded
    }
}

#[allow(
    unsafe_code,
    reason = "kill(2) has no safe wrapper in std; it shares no memory"
)]
fn interrupt(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: a signal to one process id; no memory is shared.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
}

#[allow(
    unsafe_code,
    reason = "mkfifo(3) has no safe wrapper in std; the path is a NUL-terminated copy"
)]
fn make_fifo(path: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::mkfifo(path.as_ptr(), 0o600) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// `perf script` over a recording, collapsed into folded stacks. Inlined frames are left out
/// (`--no-inline`): resolving them runs addr2line per address and takes minutes on a large
/// binary; a function kept out of line (`#[inline(never)]`, or simply not inlined) is named.
pub fn fold(data: &Path, windows: &[(f64, f64)]) -> Result<Stacks, String> {
    let output = std::process::Command::new("perf")
        // No period field: each sample counts 1 (with it, inferno weighs a cpu-clock sample by
        // its period in nanoseconds).
        .args([
            "script",
            "--no-inline",
            "-F",
            "comm,tid,time,event,ip,sym,dso",
            "-i",
        ])
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run perf script: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "perf script failed ({}): {}",
            output.status,
            last_line(&String::from_utf8_lossy(&output.stderr))
        ));
    }
    fold_script(&within(&output.stdout, windows))
}

/// The samples of `perf script` text stamped within one of `windows`: each sample is a block
/// of lines ending at a blank one, its first line `comm tid seconds.micros: event:`.
pub fn within(script: &[u8], windows: &[(f64, f64)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(script);
    let mut kept = String::new();
    for block in text.split("\n\n") {
        let stamp = block.lines().next().and_then(|header| {
            header
                .split_whitespace()
                .filter_map(|token| token.strip_suffix(':'))
                .find_map(|token| token.parse::<f64>().ok())
        });
        if stamp.is_some_and(|t| windows.iter().any(|(from, to)| (*from..=*to).contains(&t))) {
            kept.push_str(block.trim_start_matches('\n'));
            kept.push_str("\n\n");
        }
    }
    kept.into_bytes()
}

/// `perf script` text → folded stacks, with inferno's collapser (thread names first, no pids).
pub fn fold_script(script: &[u8]) -> Result<Stacks, String> {
    let mut folded = Vec::new();
    let mut options = inferno::collapse::perf::Options::default();
    options.nthreads = 1;
    inferno::collapse::perf::Folder::from(options)
        .collapse(BufReader::new(script), &mut folded)
        .map_err(|err| format!("cannot fold perf's samples: {err}"))?;
    Ok(Stacks::parse(&String::from_utf8_lossy(&folded)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paranoid_kernel_is_named_with_the_setting_that_allows_sampling() {
        assert_eq!(paranoid_note(2, false), None);
        assert_eq!(paranoid_note(4, true), None);
        let note = paranoid_note(4, false).unwrap();
        assert!(
            note.contains("perf_event_paranoid is 4")
                && note.contains("sudo sysctl kernel.perf_event_paranoid=1"),
            "{note}"
        );
    }

    #[test]
    fn only_the_samples_within_a_window_are_kept() {
        let sample = |t: &str| format!("w  1  {t}: cpu-clock: \n\t  1 f (/x)\n\n");
        let script = [
            sample("9.5"),
            sample("10.5"),
            sample("11.5"),
            sample("20.0"),
        ]
        .concat();
        let kept = within(script.as_bytes(), &[(10.0, 11.0), (19.0, 21.0)]);
        assert_eq!(
            String::from_utf8(kept).unwrap(),
            [sample("10.5"), sample("20.0")].concat()
        );
    }

    #[test]
    fn perf_script_text_folds_into_stacks_with_the_thread_first() {
        let script = "\
tokio-rt-worker  9195  3050.466783: cpu-clock: 
\t          19e615 demo_service::extra_work (/x/demo-service)
\t          19e000 demo_service::home (/x/demo-service)

tokio-rt-worker  9194  3050.722109: cpu-clock: 
\t          19e619 demo_service::extra_work (/x/demo-service)
\t          19e000 demo_service::home (/x/demo-service)

";
        let stacks = fold_script(script.as_bytes()).unwrap();
        assert_eq!(
            stacks.folded(),
            "tokio-rt-worker;demo_service::home;demo_service::extra_work 2\n"
        );
    }
}
