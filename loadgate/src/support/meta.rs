//! The one place that reads the clock, the git revision and host facts. Everything downstream
//! receives them as a plain `Provenance`, so renderers stay pure and golden files need no redaction.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::cpu_latency;

/// When, where and from which revision a run was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// RFC 3339, UTC, seconds precision.
    pub recorded_at: String,
    pub git_revision: Option<String>,
    /// True when the work tree had uncommitted changes.
    pub git_dirty: bool,
    pub host: Host,
    pub loadgate_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub cpu_model: Option<String>,
    /// Idle CPUs polled instead of halting: the kernel's CPU latency limit was 0 µs
    /// (`--keep-cpus-awake`, or a tuning profile). Wake-ups, and so latencies, are shorter then;
    /// absent (false) where it could not be read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cpus_kept_awake: bool,
}

impl Provenance {
    /// Reads the clock, git (in `repo`) and the host once.
    pub fn collect(repo: &Path) -> Provenance {
        Provenance {
            recorded_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            git_revision: git(repo, &["rev-parse", "HEAD"]),
            git_dirty: git(repo, &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
            host: Host::collect(),
            loadgate_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

impl Host {
    pub fn collect() -> Host {
        Host {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(|info| {
                    info.lines()
                        .find(|line| line.starts_with("model name"))
                        .and_then(|line| line.split_once(':'))
                        .map(|(_, model)| model.trim().to_owned())
                }),
            cpus_kept_awake: cpu_latency::cpus_kept_awake(),
        }
    }
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
