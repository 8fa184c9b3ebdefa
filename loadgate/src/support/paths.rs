//! Where things live: the project root, its load specs, its baselines and the output directory.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

#[derive(Debug, Clone)]
pub struct Paths {
    /// The project root: services are started here and relative paths in specs resolve against it.
    pub root: PathBuf,
    pub loadspec_dir: PathBuf,
    pub baselines_dir: PathBuf,
    pub out_dir: PathBuf,
}

impl Paths {
    /// The conventional layout under `root`: `loadspec/`, `baselines/`, `target/loadtest/`.
    pub fn under(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
            loadspec_dir: root.join("loadspec"),
            baselines_dir: root.join("baselines"),
            out_dir: root.join("target").join("loadtest"),
        }
    }

    /// `path` as a reader wants it in reports: relative to the project root when inside it.
    pub fn shown(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root)
            .map_or_else(|_| path.to_path_buf(), Path::to_path_buf)
    }

    pub fn baseline_file(&self, spec_name: &str) -> PathBuf {
        self.baselines_dir.join(format!("{spec_name}.json"))
    }

    /// `--profile`: the profile recorded with the baseline, beside it (gzip-compressed folded
    /// stacks).
    pub fn baseline_profile_file(&self, spec_name: &str) -> PathBuf {
        self.baselines_dir
            .join(format!("{spec_name}.profile.folded.gz"))
    }

    /// `--profile`: the folded stacks of a spec's service (`side` "base" for `--against`'s).
    pub fn profile_folded(&self, stem: &str) -> PathBuf {
        self.out_dir.join(format!("{stem}.profile.folded"))
    }

    pub fn summary_json(&self) -> PathBuf {
        self.out_dir.join("summary.json")
    }

    pub fn service_log(&self, spec_name: &str) -> PathBuf {
        self.out_dir.join(format!("{spec_name}.service.log"))
    }

    /// The spec files to run: every `*.toml` in the loadspec directory (sorted), or those named.
    /// A name is a path to a file, or a spec name looked up in the loadspec directory.
    pub fn spec_files(&self, named: &[String]) -> anyhow::Result<Vec<PathBuf>> {
        if named.is_empty() {
            let entries = std::fs::read_dir(&self.loadspec_dir).with_context(|| {
                format!(
                    "cannot read the spec directory {}",
                    self.loadspec_dir.display()
                )
            })?;
            let mut files = Vec::new();
            for entry in entries {
                let path = entry?.path();
                if path.extension().is_some_and(|ext| ext == "toml") {
                    files.push(path);
                }
            }
            files.sort();
            if files.is_empty() {
                bail!("no load specs (*.toml) in {}", self.loadspec_dir.display());
            }
            return Ok(files);
        }
        named
            .iter()
            .map(|name| {
                let as_path = PathBuf::from(name);
                let in_dir = self.loadspec_dir.join(name).with_extension("toml");
                if as_path.is_file() {
                    Ok(as_path)
                } else if in_dir.is_file() {
                    Ok(in_dir)
                } else {
                    bail!(
                        "spec file not found: {name} (looked for {} and {})",
                        as_path.display(),
                        in_dir.display()
                    )
                }
            })
            .collect()
    }
}
