//! Which project a command works on: `--root DIR`, else the nearest directory from the current
//! one upward that holds a `Cargo.toml` and a `loadspec/` folder. Never a path baked in at
//! build time: an installed `loadgate`, or an xtask binary run from a copy of its repository,
//! works on the project it is run in.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;

/// `--root DIR`, for any front end to flatten into its arguments.
#[derive(Debug, Clone, Default, Args)]
pub struct RootArgs {
    /// The project's root, holding Cargo.toml and loadspec/ (by default the nearest such
    /// directory from the current one upward); for `init`, the workspace to scaffold.
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
}

impl RootArgs {
    /// `--root` as given, else the project found from the current directory.
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(root) = &self.root {
            if !root.is_dir() {
                bail!("--root {}: not a directory", root.display());
            }
            return Ok(root.clone());
        }
        let here = std::env::current_dir().context("cannot read the current directory")?;
        match find_project(&here) {
            Some(root) => Ok(root),
            None => bail!(
                "no project here: neither {} nor a directory above it holds Cargo.toml and loadspec/ \
                 (run `loadgate init` in your workspace, or pass --root DIR)",
                here.display()
            ),
        }
    }
}

/// The nearest of `start` and its ancestors that holds `Cargo.toml` and `loadspec/`.
pub fn find_project(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file() && dir.join("loadspec").is_dir())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_directory_with_a_manifest_and_specs_is_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        let member = project.join("member/src");
        std::fs::create_dir_all(&member).unwrap();
        std::fs::create_dir(project.join("loadspec")).unwrap();
        std::fs::write(project.join("Cargo.toml"), "").unwrap();
        // A member's own manifest without specs is passed over.
        std::fs::write(project.join("member/Cargo.toml"), "").unwrap();
        let cases = [
            (project.clone(), Some(project.clone())),
            (member.clone(), Some(project.clone())),
            (dir.path().to_path_buf(), None),
        ];
        for (start, expected) in cases {
            assert_eq!(find_project(&start), expected, "from {}", start.display());
        }
    }
}
