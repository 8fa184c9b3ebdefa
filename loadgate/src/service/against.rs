//! `--against REV`: the base side of a same-machine A/B run. Only the service comes from REV
//! (the gate, the specs and the thresholds are the current revision's): REV is checked out in a
//! git worktree outside the project's directory (from the local repository: nothing is fetched),
//! so a revision from before the project adopted loadgate builds as the project it was, with its
//! own manifest, lockfile and profile, and no workspace around it to claim it. Its binaries are
//! built into `against/` under the project's target directory, where the next run reuses them.
//! The worktree is removed however the gate ends (`Drop`); one that a killed run left is reused,
//! then removed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

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
    target_dir: PathBuf,
}

impl BaseCheckout {
    /// Checks `rev` out outside `root`'s directory and builds its binaries in release mode with
    /// cargo's progress on stderr; `announce` hears whether an earlier build of the commit is
    /// reused, before any build.
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
        let dir = worktree_dir(root, "against", &commit);
        reuse_or_check_out(root, &dir, &commit)
            .with_context(|| format!("--against {rev}: cannot check {commit} out"))?;
        let checkout = BaseCheckout {
            rev: rev.to_owned(),
            commit,
            dir,
            root: root.to_path_buf(),
            target_dir: base_target_dir(root),
        };
        // A commit never changes: its binaries, once built, serve every later run against it
        // (a fresh worktree's new file times would make cargo rebuild them).
        let built_marker = checkout.target_dir.join("loadgate-built-commit");
        let built = std::fs::read_to_string(&built_marker).ok().as_deref()
            == Some(checkout.commit.as_str());
        // Told before the build, which can take minutes.
        announce(&checkout, built);
        if !built {
            let _ = std::fs::remove_file(&built_marker);
            checkout.build()?;
            crate::support::files::write_atomic(&built_marker, checkout.commit.as_bytes())?;
        }
        // The spec's `target/release/…` commands resolve, from the worktree, to its build.
        let link = checkout.dir.join("target");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&checkout.target_dir, &link)
            .context("cannot link the base build into its worktree")?;
        Ok(checkout)
    }

    /// `cargo build --release --workspace --bins` in the worktree: REV's own profile and
    /// lockfile, its own target directory (kept between runs: the next build is incremental).
    fn build(&self) -> anyhow::Result<()> {
        let mut command = crate::support::cargo::command(&self.dir);
        command
            .args(["build", "--release", "--workspace", "--bins"])
            .env("CARGO_TARGET_DIR", &self.target_dir);
        // Killed, the gate takes its build with it.
        crate::service::die_with_parent(&mut command);
        let status = command
            .status()
            .context("cannot run cargo to build the base revision")?;
        if !status.success() {
            bail!(
                "--against {}: building the base revision failed ({status})",
                self.rev
            );
        }
        Ok(())
    }

    /// Where the base service's `{bin:NAME}` points: the base revision's own build.
    pub fn bins(&self) -> BinDir {
        BinDir::Target(self.target_dir.clone())
    }
}

/// The base revision's target directory: `against/` under the project's (so a
/// `CARGO_TARGET_DIR` cached by CI keeps it too), kept between runs so its build is incremental.
fn base_target_dir(root: &Path) -> PathBuf {
    crate::service::binary::target_directory(root)
        .unwrap_or_else(|_| root.join("target"))
        .join("against")
}

impl Drop for BaseCheckout {
    fn drop(&mut self) {
        remove_worktree(&self.root, &self.dir);
    }
}

/// Where a worktree of `commit` for `purpose` (`against`, `bisect`) goes: outside the project's
/// directory, so no workspace of the project encloses it, in the system's temporary directory
/// under a folder keyed by the project (its name and a hash of its path), one per commit, the
/// same from one run to the next.
pub fn worktree_dir(root: &Path, purpose: &str, commit: &str) -> PathBuf {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let digest = Sha256::digest(root.as_os_str().as_encoded_bytes());
    let key: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::env::temp_dir()
        .join(format!("loadgate-{purpose}"))
        .join(format!("{name}-{key}"))
        .join(&commit[..12.min(commit.len())])
}

/// `dir` as a worktree of `commit`: the one a killed run left there when it still is one,
/// untouched, else a fresh checkout.
fn reuse_or_check_out(root: &Path, dir: &Path, commit: &str) -> anyhow::Result<()> {
    let intact = dir.join(".git").is_file()
        && git(dir, &["rev-parse", "HEAD"]).is_ok_and(|head| head == commit)
        && git(dir, &["status", "--porcelain", "--untracked-files=no"])
            .is_ok_and(|changes| changes.is_empty());
    if intact {
        return Ok(());
    }
    check_out(root, dir, commit)
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
    // The project's folder, then the purpose's, once they hold no other worktree.
    for parent in dir.ancestors().skip(1).take(2) {
        let _ = std::fs::remove_dir(parent);
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
