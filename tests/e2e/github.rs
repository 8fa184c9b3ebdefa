//! At home on GitHub Actions: with `GITHUB_STEP_SUMMARY` and `GITHUB_ACTIONS` set, a failing run
//! writes the check table and the latency chart to the job summary and annotates each failed
//! check; a passing run annotates nothing.

use loadgate_tests::SUMMARY_SCHEMA_FILE;
use loadgate_tests::{Sandbox, assert_valid};

#[test]
fn a_failing_run_fills_the_job_summary_and_annotates_the_failed_checks() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec(
        "ci",
        &[],
        "[gate]\np50 = { regression = \"25%\", noise_floor = \"2ms\" }\nerror_rate = { max = \"1%\" }\n",
    );
    let spec = spec.to_str().unwrap();
    sandbox.run(&["--update-baselines", spec]).expect_code(0);

    let step_summary = sandbox.path().join("step-summary.md");
    let on_github = |delay: &str| {
        sandbox.run_command(
            sandbox
                .loadtest()
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_STEP_SUMMARY", &step_summary)
                .env("DEMO_SERVICE_DELAY", delay)
                .arg(spec),
        )
    };

    let failing = on_github("25ms");
    failing.expect_code(1);
    // With failed checks, a baseline and its total: the fullest summary.json there is.
    assert_valid(SUMMARY_SCHEMA_FILE, &sandbox.summary_json());
    let job_page = std::fs::read_to_string(&step_summary).unwrap();
    for expected in [
        "## loadgate: ❌ FAIL",
        "| check | baseline | current | change | threshold | verdict |",
        "| total p50 regression |",
        "❌",
        "```mermaid\nxychart-beta",
        "    bar [",
        "    line [",
    ] {
        assert!(
            job_page.contains(expected),
            "`{expected}` is not in:\n{job_page}"
        );
    }
    let errors: Vec<&str> = failing
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", failing.stdout);
    assert!(
        errors[0].starts_with("::error file=")
            && errors[0].contains("ci.toml,title=loadgate ci%3A total p50 regression::p50 "),
        "{}",
        errors[0]
    );

    let passing = on_github("0s");
    passing.expect_code(0);
    assert!(!passing.stdout.contains("::error"), "{}", passing.stdout);
    assert!(!passing.stdout.contains("::warning"), "{}", passing.stdout);
    let job_page = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        job_page.contains("## loadgate: ✅ PASS"),
        "appended: {job_page}"
    );
}
