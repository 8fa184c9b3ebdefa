//! The one place that reads the clock, the git revision and host facts. Everything downstream
//! receives them as a plain `Provenance`, so renderers stay pure and golden files need no redaction.

use std::collections::BTreeMap;
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
    /// How the services `{bin:NAME}` names were built; absent with `--target`, after `merge` and
    /// in files written before loadgate recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
}

/// The cargo profile a service was measured in. The gate builds the release profile; a CI that
/// wants a faster build overrides its settings through cargo's `CARGO_PROFILE_RELEASE_*`
/// environment variables, which the base revision's build (`--against`, bisect) inherits too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// `release`: `{bin:NAME}` is the release binary.
    pub profile: String,
    /// The `CARGO_PROFILE_RELEASE_*` variables of the gate's environment (`LTO = "off"`, keyed
    /// without the prefix); empty when the project's profile was built as written.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub overrides: BTreeMap<String, String>,
}

impl Build {
    /// The release profile, and its overrides in this process's environment.
    pub fn collect() -> Build {
        Build::of_env(std::env::vars())
    }

    fn of_env(vars: impl Iterator<Item = (String, String)>) -> Build {
        const PREFIX: &str = "CARGO_PROFILE_RELEASE_";
        Build {
            profile: "release".to_owned(),
            overrides: vars
                .filter_map(|(key, value)| Some((key.strip_prefix(PREFIX)?.to_owned(), value)))
                .collect(),
        }
    }

    /// `the release profile` or `the release profile with LTO=off, CODEGEN_UNITS=16`.
    pub fn describe(&self) -> String {
        let settings: Vec<String> = self
            .overrides
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        if settings.is_empty() {
            format!("the {} profile as written", self.profile)
        } else {
            format!("the {} profile with {}", self.profile, settings.join(", "))
        }
    }
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
            build: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_records_the_release_profiles_overrides_from_the_environment() {
        let vars = [
            ("CARGO_PROFILE_RELEASE_LTO", "off"),
            ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
            ("CARGO_PROFILE_DEV_OPT_LEVEL", "1"),
            ("PATH", "/usr/bin"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let build = Build::of_env(vars.into_iter());
        assert_eq!(build.profile, "release");
        assert_eq!(
            build.describe(),
            "the release profile with CODEGEN_UNITS=16, LTO=off"
        );
        assert_eq!(
            Build::of_env(std::iter::empty()).describe(),
            "the release profile as written"
        );
    }
}
