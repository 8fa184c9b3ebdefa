//! `loadtest calibrate`: a spec run several times unchanged, its spread and the `[gate]` lines
//! it proposes printed, and nothing written where baselines live. No verdict depends on timing:
//! the test asserts what is printed and what is left on disk, not the numbers.

use loadgate_tests::{Run, Sandbox, bins};

#[test]
fn calibrate_prints_gate_lines_for_the_judged_metrics_and_writes_no_baseline() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec(
        "steady",
        &[],
        "[gate]\np50 = { regression = \"10%\" }\nerror_rate = { max = \"1%\" }\n\n[gate.request.status]\np90 = { regression = \"10%\" }\n",
    );
    let run = Run::from(
        std::process::Command::new(&bins().xtask)
            .args([
                "loadtest",
                "calibrate",
                "--no-build",
                "--runs",
                "2",
                "--out",
            ])
            .arg(sandbox.out())
            .arg(&spec)
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("GITHUB_ACTIONS")
            .output()
            .expect("xtask runs"),
    );
    run.expect_code(0);
    let out = &run.stdout;
    assert!(out.contains("steady (2 runs)"), "{out}");
    // The metrics the gate judges relatively, each scope under its own table.
    assert!(out.contains("total p50 "), "{out}");
    assert!(out.contains("status p90 "), "{out}");
    assert!(
        !out.contains("error_rate ="),
        "a max is not calibrated: {out}"
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    let gate = lines.iter().position(|l| *l == "[gate]").expect(out);
    assert!(
        lines[gate + 1].starts_with("p50 = { regression = \""),
        "{out}"
    );
    assert!(lines[gate + 1].contains("noise_floor = \""), "{out}");
    assert_eq!(lines[gate + 2], "[gate.request.status]", "{out}");
    assert!(
        lines[gate + 3].starts_with("p90 = { regression = \""),
        "{out}"
    );
    assert_eq!(
        std::fs::read_dir(sandbox.baselines()).unwrap().count(),
        0,
        "calibrate writes no baseline"
    );
    assert!(
        sandbox.out().join("calibrate").is_dir(),
        "its runs' reports"
    );
    sandbox.assert_no_leftover_processes();
}
