//! `--against REV`: the base side of a same-machine A/B run. The revision is checked out in a
//! separate git worktree (from the local repository: nothing is fetched) and its binaries built
//! there, into `target/against/` so the next run reuses the build. The worktree is removed
//! however the gate ends (`Drop`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

use crate::service::binary::BinDir;

/// A checked-out and built base revision.
#[derive(Debug)]
pub struct BaseCheckout {
    /// What the user asked for (`origin/main`, `HEAD~1`).
    pub rev: String,
    /// The commit it resolved to.
    pub commit: String,
    /// The worktree: the base service runs from here, as the candidate runs from the root.
    pub dir: PathBuf,
    root: PathBuf,
}

impl BaseCheckout {
    /// Checks `rev` out beside `root`'s work tree and builds its binaries in release mode;
    /// `announce` hears whether an earlier build of the commit is reused, before any build.
    pub fn prepare(
        root: &Path,
        rev: &str,
        announce: impl FnOnce(&BaseCheckout, bool),
    ) -> anyhow::Result<BaseCheckout> {
        let commit = git(
            root,
            &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
        )
        .with_context(|| format!("--against {rev}: not a revision of this repository"))?;
        // One place per commit: cargo's fingerprints include the path, so the next run against
        // the same commit finds its build current. One left by a killed run is replaced.
        let dir = root
            .join("target")
            .join("against-worktrees")
            .join(&commit[..12]);
        check_out(root, &dir, &commit)
            .with_context(|| format!("--against {rev}: cannot check {commit} out"))?;
        let checkout = BaseCheckout {
            rev: rev.to_owned(),
            commit,
            dir,
            root: root.to_path_buf(),
        };
        // A commit never changes: its binaries, once built, serve every later run against it
        // (a fresh worktree's new file times would make cargo rebuild them).
        let target_dir = base_target_dir(root);
        let built_marker = target_dir.join("loadgate-built-commit");
        let built = std::fs::read_to_string(&built_marker).ok().as_deref()
            == Some(checkout.commit.as_str());
        // Told before the build, which can take minutes.
        announce(&checkout, built);
        if !built {
            let _ = std::fs::remove_file(&built_marker);
            let status = crate::support::cargo::command(&checkout.dir)
                .args(["build", "--release", "--workspace", "--bins", "--quiet"])
                // Its own target directory, kept between runs: the next build is incremental.
                .env("CARGO_TARGET_DIR", &target_dir)
                .status()
                .context("cannot run cargo to build the base revision")?;
            if !status.success() {
                bail!("--against {rev}: building the base revision failed ({status})");
            }
            crate::support::files::write_atomic(&built_marker, checkout.commit.as_bytes())?;
        }
        // The spec's `target/release/…` commands resolve, from the worktree, to its build.
        std::os::unix::fs::symlink(&target_dir, checkout.dir.join("target"))
            .context("cannot link the base build into its worktree")?;
        Ok(checkout)
    }
}

impl BaseCheckout {
    /// Where the base service's `{bin:NAME}` points: the base revision's own build.
    pub fn bins(&self) -> BinDir {
        BinDir::Target(base_target_dir(&self.root))
    }
}

/// The base revision's target directory, kept between runs so its build is incremental.
fn base_target_dir(root: &Path) -> PathBuf {
    root.join("target").join("against")
}

impl Drop for BaseCheckout {
    fn drop(&mut self) {
        remove_worktree(&self.root, &self.dir);
    }
}

/// Checks `commit` out, detached, into a worktree of `root`'s repository at `dir`, replacing one
/// a killed run left there.
pub fn check_out(root: &Path, dir: &Path, commit: &str) -> anyhow::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    if dir.exists() {
        remove_worktree(root, dir);
    }
    git(
        root,
        &[
            "worktree",
            "add",
            "--detach",
            "--force",
            path_str(dir)?,
            commit,
        ],
    )?;
    Ok(())
}

/// Removes the worktree at `dir`, by git or, failing that, from the disk.
pub fn remove_worktree(root: &Path, dir: &Path) {
    let removed = path_str(dir)
        .ok()
        .and_then(|dir| git(root, &["worktree", "remove", "--force", dir]).ok());
    if removed.is_none() {
        let _ = std::fs::remove_dir_all(dir);
        let _ = git(root, &["worktree", "prune"]);
    }
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Runs git in `repo` and answers its trimmed output.
pub fn git(repo: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .context("cannot run git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
