//! Running cargo from a process that cargo itself started (`cargo xtask`, `cargo test`).
//!
//! Such a process inherits the variables cargo sets for the crate it runs (`CARGO_PKG_NAME`,
//! `CARGO_MANIFEST_DIR`, …). Build scripts that watch them with `rerun-if-env-changed`
//! (ring's does) then see a changed environment in the nested build and rebuild, and the next
//! top-level build rebuilds them back: minutes lost on every run. The nested cargo gets the
//! environment a user's shell would give it.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, bail};

/// `cargo` (the one running us, when known) in `root`, without the per-crate variables.
pub fn command(root: &Path) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(root);
    for (name, _) in std::env::vars_os() {
        if is_per_crate(&name) {
            command.env_remove(name);
        }
    }
    command
}

/// `cargo metadata` (no dependencies) of the workspace that holds `dir`: its root, target
/// directory and packages, as cargo resolves them (environment and config included).
pub fn metadata(dir: &Path) -> anyhow::Result<serde_json::Value> {
    let output = command(dir)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).context("cannot read cargo's metadata")
}

fn is_per_crate(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    const EXACT: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    EXACT.contains(&name) || name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_CFG_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_crate_variables_are_removed_and_the_rest_kept() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_MANIFEST_DIR",
            "OUT_DIR",
        ] {
            assert!(is_per_crate(OsStr::new(name)), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "PATH",
            "RUSTFLAGS",
        ] {
            assert!(!is_per_crate(OsStr::new(name)), "{name}");
        }
    }
}
