//! Accepted results, one JSON file per spec under `baselines/`: read before any load is sent (a
//! corrupt file stops the gate and is left untouched), written only on request and atomically,
//! pretty and stable so a pull request shows a readable diff.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::summary::SpecSummary;
use crate::support::files::write_atomic;
use crate::support::meta::Provenance;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema_version: u32,
    pub spec: String,
    /// The spec's workload hash when recorded; another hash means another workload.
    pub spec_hash: String,
    /// When, on what revision and which host this was recorded.
    pub provenance: Provenance,
    pub summary: SpecSummary,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("corrupt baseline {}: {detail} (the file was left as it is: fix it, delete it, or record a new one with --update-baselines)", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("cannot read baseline {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads a baseline; `Ok(None)` when there is none yet.
pub fn read(path: &Path) -> Result<Option<Baseline>, BaselineError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            return Err(BaselineError::Corrupt {
                path: path.to_path_buf(),
                detail: "not UTF-8 text".into(),
            });
        }
        Err(source) => {
            return Err(BaselineError::Unreadable {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(path, &text).map(Some)
}

/// Parses a baseline's text; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Baseline, BaselineError> {
    let corrupt = |detail: String| BaselineError::Corrupt {
        path: path.to_path_buf(),
        detail,
    };
    let baseline: Baseline = serde_json::from_str(text).map_err(|err| corrupt(err.to_string()))?;
    if baseline.schema_version != SCHEMA_VERSION {
        return Err(corrupt(format!(
            "schema version {} is not the supported {SCHEMA_VERSION}",
            baseline.schema_version
        )));
    }
    let histograms = std::iter::once(("total", &baseline.summary.total)).chain(
        baseline
            .summary
            .requests
            .iter()
            .map(|(name, metrics)| (name.as_str(), metrics)),
    );
    for (scope, metrics) in histograms {
        (metrics.histogram.decode())
            .map_err(|err| corrupt(format!("the histogram of `{scope}` does not decode: {err}")))?;
    }
    Ok(baseline)
}

/// Writes a baseline atomically, pretty-printed with a final newline.
pub fn write(path: &Path, baseline: &Baseline) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(baseline)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}
