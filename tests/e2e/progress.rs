//! Live progress: quiet but alive in a log (a plain line every few seconds), redrawn on a
//! terminal (here a pseudo-terminal from util-linux's `script`).

use std::process::Command;

use loadgate_tests::{Sandbox, bins};

fn spec(sandbox: &Sandbox, seconds: u32) -> String {
    sandbox
        .demo_spec(
            "live",
            &[],
            &format!("users = 2\nthink_time = \"10ms\"\nduration = \"{seconds}s\""),
            "",
        )
        .display()
        .to_string()
}

#[test]
fn a_log_gets_a_plain_progress_line_every_few_seconds() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[&spec(&sandbox, 6)]);
    run.expect_code(0);
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("loadgate: live: 5s/6s · "))
        .collect();
    assert_eq!(lines.len(), 1, "one line at 5 s:\n{}", run.stderr);
    for part in [" req/s · 0 errors · p50 ", " p90 ", " requests"] {
        assert!(lines[0].contains(part), "`{part}` in {}", lines[0]);
    }
    // No redraws in a log.
    assert!(
        !run.stderr.contains('\r') && !run.stderr.contains("\x1b["),
        "{:?}",
        run.stderr
    );
}

#[test]
fn a_terminal_gets_a_redrawn_progress_bar() {
    let sandbox = Sandbox::new();
    let command = format!(
        "{} loadtest --no-build --baselines {} --out {} {}",
        bins().xtask.display(),
        sandbox.baselines().display(),
        sandbox.out().display(),
        spec(&sandbox, 3)
    );
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("util-linux's `script` runs: `cargo xtask test` installs it when missing");
    let shown = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("loadgate: live ["), "a bar: {shown:?}");
    assert!(
        shown.contains("s/3s") && shown.contains(" req/s · 0 errors · p50 "),
        "{shown:?}"
    );
    assert!(
        shown.contains('\r') || shown.contains("\x1b["),
        "redrawn in place: {shown:?}"
    );
    assert!(
        !shown.contains("loadgate: live: 2s/3s · "),
        "no log lines on a terminal: {shown:?}"
    );
}
