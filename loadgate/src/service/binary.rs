//! `{bin:NAME}` in a service command: the workspace's release binary NAME wherever cargo puts
//! it, so a spec runs unchanged under `CARGO_TARGET_DIR`, a `build.target-dir` in
//! `.cargo/config.toml` or a `CARGO_BUILD_TARGET` triple. Takes the command's arguments and where
//! to look; gives the arguments with the placeholder replaced by a path.

use std::path::{Path, PathBuf};

const PREFIX: &str = "{bin:";

/// Where a workspace's release binaries are.
#[derive(Debug, Clone)]
pub enum BinDir {
    /// Ask `cargo metadata` in this workspace for its target directory (only when a command
    /// names a binary: a spec without `{bin:…}` needs no cargo).
    OfWorkspace(PathBuf),
    /// A target directory known beforehand (the base revision's build, for `--against`).
    Target(PathBuf),
}

impl BinDir {
    /// `<target dir>[/<CARGO_BUILD_TARGET>]/release`.
    fn release_dir(&self) -> Result<PathBuf, String> {
        let target_dir = match self {
            BinDir::OfWorkspace(root) => target_directory(root)?,
            BinDir::Target(dir) => dir.clone(),
        };
        let triple = std::env::var("CARGO_BUILD_TARGET").ok();
        Ok(release_dir_under(&target_dir, triple.as_deref()))
    }
}

fn release_dir_under(target_dir: &Path, triple: Option<&str>) -> PathBuf {
    match triple.filter(|t| !t.is_empty()) {
        Some(triple) => target_dir.join(triple).join("release"),
        None => target_dir.join("release"),
    }
}

/// `args` with every `{bin:NAME}` replaced by the path of release binary NAME.
pub fn resolve(args: &[String], bins: &BinDir) -> Result<Vec<String>, String> {
    if !args.iter().any(|arg| arg.contains(PREFIX)) {
        return Ok(args.to_vec());
    }
    let release_dir = bins.release_dir()?;
    args.iter()
        .map(|arg| replace_bins(arg, &release_dir))
        .collect()
}

fn replace_bins(arg: &str, release_dir: &Path) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let Some(end) = after.find('}') else {
            return Err(format!("`{arg}`: `{{bin:` without its closing `}}`"));
        };
        let name = &after[..end];
        if name.is_empty() || name.contains('/') {
            return Err(format!("`{arg}`: `{{bin:NAME}}` takes a binary's name"));
        }
        out.push_str(&release_dir.join(name).to_string_lossy());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The workspace's target directory as cargo resolves it (environment and config included).
pub fn target_directory(root: &Path) -> Result<PathBuf, String> {
    let metadata =
        crate::support::cargo::metadata(root).map_err(|err| format!("`{{bin:…}}`: {err:#}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "`{bin:…}`: cargo's metadata has no target_directory".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_placeholders_become_paths_in_the_release_directory() {
        let bins = BinDir::Target(PathBuf::from("/ci/target"));
        // (the arguments as written, the arguments launched or a part of the error)
        type Case<'a> = (&'a [&'a str], Result<&'a [&'a str], &'a str>);
        let cases: [Case; 5] = [
            (
                &["{bin:app}", "--port", "{port}"],
                Ok(&["/ci/target/release/app", "--port", "{port}"]),
            ),
            (
                &["python3", "-m", "http.server"],
                Ok(&["python3", "-m", "http.server"]),
            ),
            (
                &["--exe={bin:a}:{bin:b}"],
                Ok(&["--exe=/ci/target/release/a:/ci/target/release/b"]),
            ),
            (&["{bin:app"], Err("without its closing")),
            (&["{bin:}"], Err("takes a binary's name")),
        ];
        for (args, expected) in cases {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            match (resolve(&args, &bins), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{args:?}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
                (got, want) => panic!("{args:?}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn a_cross_target_puts_release_under_its_triple() {
        let dir = Path::new("/t");
        assert_eq!(release_dir_under(dir, None), Path::new("/t/release"));
        assert_eq!(release_dir_under(dir, Some("")), Path::new("/t/release"));
        assert_eq!(
            release_dir_under(dir, Some("aarch64-unknown-linux-gnu")),
            Path::new("/t/aarch64-unknown-linux-gnu/release")
        );
    }

    #[test]
    fn cargo_metadata_names_this_workspace_target_directory() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dir = target_directory(root).unwrap();
        assert!(dir.is_absolute(), "{}", dir.display());
    }
}
