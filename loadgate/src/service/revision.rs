//! `loadtest bisect`: any commit's service, checked out and built without touching the user's
//! work tree, index, HEAD or stash. Each commit gets a detached git worktree outside the
//! project's directory (as `--against` does: a commit from before the project adopted loadgate
//! builds as it was); every commit builds into one shared target directory
//! (`target/bisect/target/`), so only what changed between two commits recompiles, and its
//! release binaries are then copied aside (`target/bisect/bins/<commit>/release/`), where its
//! service runs from while the next commit builds. The worktree is removed however the
//! bisection ends (`Drop`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub use crate::service::against::git;
use crate::service::against::{check_out, remove_worktree, worktree_dir};
use crate::service::binary::BinDir;

/// A commit checked out and built.
#[derive(Debug)]
pub struct Revision {
    pub commit: String,
    /// The worktree: the commit's service runs from here, its `target/` linked to its bins.
    pub dir: PathBuf,
    bins: PathBuf,
    root: PathBuf,
}

/// Why a commit could not be prepared: its build failed (the commit is skipped), or the
/// machinery did (git, the disk: the bisection stops).
#[derive(Debug)]
pub enum PrepareError {
    Build(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for PrepareError {
    fn from(err: anyhow::Error) -> PrepareError {
        PrepareError::Other(err)
    }
}

/// Where a bisection keeps its builds.
fn bisect_dir(root: &Path) -> PathBuf {
    root.join("target").join("bisect")
}

impl Revision {
    /// Checks `commit` out and builds its binaries in release mode (its cargo output goes to
    /// `log`); a killed build is stopped with its future (`kill_on_drop`).
    pub async fn prepare(root: &Path, commit: &str, log: &Path) -> Result<Revision, PrepareError> {
        let short = &commit[..12.min(commit.len())];
        let dir = worktree_dir(root, "bisect", commit);
        check_out(root, &dir, commit).with_context(|| format!("cannot check {short} out"))?;
        let revision = Revision {
            commit: commit.to_owned(),
            dir,
            bins: bisect_dir(root).join("bins").join(short),
            root: root.to_path_buf(),
        };
        let target_dir = bisect_dir(root).join("target");
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let status = tokio::process::Command::from(crate::support::cargo::command(&revision.dir))
            .args(["build", "--release", "--workspace", "--bins"])
            .env("CARGO_TARGET_DIR", &target_dir)
            .stdout(log_file.try_clone().context("cannot share the build log")?)
            .stderr(log_file)
            .kill_on_drop(true)
            .status()
            .await
            .context("cannot run cargo to build a commit")?;
        if !status.success() {
            let tail = crate::support::files::tail(log, 5);
            return Err(PrepareError::Build(format!(
                "it does not build ({status}): {}",
                tail.trim().lines().last().unwrap_or("no output")
            )));
        }
        copy_binaries(&release_dir(&target_dir), &revision.bins.join("release"))?;
        // The spec's `target/release/…` commands resolve, from the worktree, to its own build.
        std::os::unix::fs::symlink(&revision.bins, revision.dir.join("target"))
            .context("cannot link the commit's build into its worktree")?;
        Ok(revision)
    }

    /// Where the commit's `{bin:NAME}` are.
    pub fn bin_dir(&self) -> BinDir {
        BinDir::Target(self.bins.clone())
    }
}

fn release_dir(target_dir: &Path) -> PathBuf {
    match std::env::var("CARGO_BUILD_TARGET")
        .ok()
        .filter(|t| !t.is_empty())
    {
        Some(triple) => target_dir.join(triple).join("release"),
        None => target_dir.join("release"),
    }
}

/// The executables of a release directory (not its dependencies' files), copied to `to`.
fn copy_binaries(from: &Path, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let Ok(entries) = std::fs::read_dir(from) else {
        // A package without binaries: its service is a script of the commit.
        return Ok(());
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("cannot copy {} aside", entry.path().display()))?;
        }
    }
    Ok(())
}

impl Drop for Revision {
    fn drop(&mut self) {
        remove_worktree(&self.root, &self.dir);
        // Copies of the shared build's binaries: the build itself stays for the next commit.
        let _ = std::fs::remove_dir_all(&self.bins);
    }
}
