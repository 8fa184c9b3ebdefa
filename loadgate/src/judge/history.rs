//! `loadtest history`: every committed version of the baselines, read from the project's own git
//! history (`git log` for the commits, `git show REV:path` for each file: nothing fetched, no
//! branch or server of its own). An input of the judge's kind, beside `baseline.rs` whose
//! parser reads each version; `report::history` draws what this gives.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::judge::baseline;
use crate::judge::verdict::GateResult;
use crate::metric::{Metric, Scope};

/// The metrics a history follows, each drawn when some version has it.
pub const METRICS: [Metric; 9] = [
    Metric::P50,
    Metric::P90,
    Metric::P99,
    Metric::Rps,
    Metric::ErrorRate,
    Metric::Capacity,
    Metric::ServiceCpuPerRequest,
    Metric::ServiceRssPeak,
    Metric::Instructions,
];

/// The baselines' history, spec by spec.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The baselines directory, as the notes and the pages name it.
    pub dir: String,
    pub specs: Vec<SpecHistory>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpecHistory {
    pub spec: String,
    /// One per commit whose version of the file was read, oldest first.
    pub points: Vec<Point>,
    /// A commit whose version could not be read, named with why.
    pub skipped: Vec<String>,
}

/// One committed version of a spec's baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub short: String,
    /// The commit's date, ISO 8601.
    pub date: String,
    pub subject: String,
    /// The total's value of each of [`METRICS`] the version has, in its internal unit.
    pub values: Vec<(Metric, f64)>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(
        "no git history to read: {} is not in a git repository ({detail})",
        dir.display()
    )]
    NoRepository { dir: PathBuf, detail: String },
    #[error("no git history to read: no commit touches {what}")]
    NoCommits { what: String },
    #[error("cannot run git: {0}")]
    Git(#[from] std::io::Error),
}

/// The last `limit` commits that touched each of `specs`' baseline in `dir` (every
/// `*.json` ever committed there when `specs` is empty), read at each commit.
pub fn read(dir: &Path, specs: &[String], limit: usize) -> Result<History, HistoryError> {
    // Run inside the directory, so every path below is relative to it wherever the repository is.
    let git = Git { dir };
    git.run(&["rev-parse", "--git-dir"])?
        .map_err(|detail| HistoryError::NoRepository {
            dir: dir.to_path_buf(),
            detail,
        })?;
    let names: Vec<String> = if specs.is_empty() {
        git.committed_names()?
    } else {
        specs.iter().map(|s| spec_name(s)).collect()
    };
    let shown = dir.display().to_string();
    let mut history = History {
        dir: shown.clone(),
        specs: Vec::new(),
    };
    for name in names {
        let spec = git.spec(&name, limit)?;
        if !spec.points.is_empty() || !spec.skipped.is_empty() {
            history.specs.push(spec);
        }
    }
    if history.specs.is_empty() {
        let what = match specs {
            [] => format!("{shown}/*.json"),
            _ => specs
                .iter()
                .map(|s| format!("{shown}/{}.json", spec_name(s)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        return Err(HistoryError::NoCommits { what });
    }
    Ok(history)
}

/// `reads`, `loadspec/reads.toml` or `baselines/reads.json`: the spec's name.
fn spec_name(spec: &str) -> String {
    Path::new(spec)
        .file_stem()
        .map_or(spec.to_owned(), |s| s.to_string_lossy().into_owned())
}

/// Git, run in the baselines directory.
struct Git<'a> {
    dir: &'a Path,
}

impl Git<'_> {
    /// Git's output, or its complaint when it fails; `Err` when it cannot run at all.
    fn run(&self, args: &[&str]) -> Result<Result<String, String>, std::io::Error> {
        let output = Command::new("git")
            .arg("-C")
            .arg(self.dir)
            .args(args)
            .output()?;
        Ok(if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        })
    }

    /// The stems of every `*.json` committed directly in the directory, sorted.
    fn committed_names(&self) -> Result<Vec<String>, HistoryError> {
        let listed = self
            .run(&["log", "--format=", "--name-only", "--relative", "--", "."])?
            .unwrap_or_default();
        let names: BTreeSet<String> = listed
            .lines()
            .filter(|line| !line.contains('/'))
            .filter_map(|line| line.strip_suffix(".json"))
            .map(str::to_owned)
            .collect();
        Ok(names.into_iter().collect())
    }

    /// `name`'s baseline at each of the last `limit` commits that touched it, oldest first.
    fn spec(&self, name: &str, limit: usize) -> Result<SpecHistory, HistoryError> {
        let file = format!("./{name}.json");
        let log = self
            .run(&[
                "log",
                &format!("-n{limit}"),
                "--format=%H%x1f%h%x1f%cI%x1f%s",
                "--",
                &file,
            ])?
            .unwrap_or_default();
        let mut spec = SpecHistory {
            spec: name.to_owned(),
            points: Vec::new(),
            skipped: Vec::new(),
        };
        for line in log.lines().rev() {
            let fields: Vec<&str> = line.splitn(4, '\u{1f}').collect();
            let [hash, short, date, subject] = fields[..] else {
                continue;
            };
            let shown = format!("{short}:{name}.json");
            let text = match self.run(&["show", &format!("{hash}:{file}")])? {
                Ok(text) => text,
                Err(_) => {
                    spec.skipped.push(format!(
                        "commit {short} ({date}): {name}.json is not there (removed)"
                    ));
                    continue;
                }
            };
            match baseline::parse(Path::new(&shown), &text) {
                Ok(baseline) => spec.points.push(Point {
                    short: short.to_owned(),
                    date: date.to_owned(),
                    subject: subject.to_owned(),
                    values: METRICS
                        .iter()
                        .filter_map(|m| Some((*m, baseline.summary.value(*m, &Scope::Total)?)))
                        .collect(),
                }),
                Err(err) => spec
                    .skipped
                    .push(format!("commit {short} ({date}) skipped: {err}")),
            }
        }
        Ok(spec)
    }
}

/// The last run's result, when `summary.json` is in one of `dirs` (the first found); a file that
/// does not read is passed over: the history stands without it.
pub fn current_run(dirs: &[PathBuf]) -> Option<GateResult> {
    dirs.iter().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
        serde_json::from_str(&text).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_is_named_by_its_stem_however_it_is_given() {
        for given in ["reads", "loadspec/reads.toml", "baselines/reads.json"] {
            assert_eq!(spec_name(given), "reads", "{given}");
        }
    }

    #[test]
    fn a_directory_outside_any_repository_has_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let err = read(dir.path(), &[], 50).unwrap_err();
        assert!(matches!(err, HistoryError::NoRepository { .. }), "{err}");
    }
}
