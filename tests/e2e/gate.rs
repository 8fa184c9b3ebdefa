//! The gate end to end: the xtask binary launches the demo service, loads it over real sockets,
//! writes its reports, and its exit code follows the service's behaviour against the baseline.
//!
//! Timing never decides these verdicts on its own: an injected delay of 250 ms is judged against
//! a 100 ms noise floor, so a slow shared machine cannot pass or fail a check by accident.

use loadgate::result::Verdict;
use loadgate_tests::SUMMARY_SCHEMA_FILE;
use loadgate_tests::{Sandbox, assert_valid, bins, junit_failures};

/// p50/p90 regressions count only beyond 100 ms; the injected slowdown is 250 ms.
const GATE: &str = r#"[gate]
p50 = { regression = "50%", max = "10s", noise_floor = "100ms" }
p90 = { regression = "50%", noise_floor = "100ms" }
error_rate = { regression = "50%", max = "5%" }
"#;

#[test]
fn a_first_run_passes_with_a_note_and_writes_every_report() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("reads", &[], GATE);
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(0);

    // The console table, like Vegeta's and Locust's.
    for column in [
        "request", "reqs", "fails", "avg", "min", "p50", "p90", "p99", "max", "req/s",
    ] {
        assert!(
            run.stdout.contains(column),
            "no `{column}` column:\n{}",
            run.stdout
        );
    }
    for row in ["home", "status", "total", "status codes: 200 ×"] {
        assert!(run.stdout.contains(row), "no `{row}` row:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("no baseline"), "{}", run.stdout);
    assert!(run.stdout.contains("PASS"), "{}", run.stdout);

    assert_valid(SUMMARY_SCHEMA_FILE, &sandbox.summary_json());
    let result = sandbox.summary();
    assert_eq!(result.schema_version, 1, "{result:#?}");
    assert_eq!(result.verdict, Verdict::Pass);
    assert_eq!(result.specs[0].name, "reads");
    let summary = sandbox.spec_summary();
    let requests = summary.total.requests;
    assert!(
        requests > 20,
        "4 users for 2 s sent only {requests} requests"
    );
    assert_eq!(summary.total.failures, 0, "{summary:#?}");
    let (home, status) = (
        summary.requests["home"].requests,
        summary.requests["status"].requests,
    );
    // Weights 3:1; with dozens of requests the share of `home` is far from 50 %.
    assert!(
        home > status,
        "weights 3:1 but home {home}, status {status}"
    );
    let latency = &summary.total.latency_us;
    assert!(0 < latency.p50 && latency.p50 <= latency.p90, "{latency:?}");
    // The per-second series covers every answered request, warmup included, and never more
    // users than the spec's 4.
    let series = &summary.series;
    assert!(series.len() >= 2, "{series:?}");
    let in_series: u64 = series.iter().map(|p| p.requests).sum();
    assert_eq!(in_series, requests + summary.warmup.requests, "{series:?}");
    assert!(series.iter().all(|p| p.active <= 4), "{series:?}");
    assert!(series.iter().any(|p| p.active == 4), "{series:?}");

    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains(r#"<testsuite id="0" name="reads""#),
        "{junit}"
    );
    assert!(
        junit.contains(r#"name="total p50 max""#) && !junit.contains("<failure"),
        "{junit}"
    );
    let markdown = sandbox.read_out("summary.md");
    assert!(
        markdown.starts_with("## loadgate: ✅ PASS") && markdown.contains("### ✅ reads — PASS"),
        "{markdown}"
    );
    assert!(
        sandbox
            .read_out("reads.service.log")
            .contains("demo-service listening on http://127.0.0.1:")
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn updated_baselines_pass_and_a_slower_service_fails() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("reads", &[], GATE);
    let spec = spec.to_str().unwrap();

    let update = sandbox.run(&["--update-baselines", spec]);
    update.expect_code(0);
    let baseline_file = sandbox.baseline_file("reads");
    assert!(
        update.stdout.contains("baseline written"),
        "{}",
        update.stdout
    );
    let baseline = std::fs::read(&baseline_file).unwrap();
    let recorded = sandbox.baseline("reads");
    assert_eq!(recorded.spec, "reads");
    assert_eq!(recorded.spec_hash.len(), 16, "{recorded:#?}");
    assert!(!recorded.summary.total.histogram.is_empty());

    let plain = sandbox.run(&[spec]);
    plain.expect_code(0);
    assert!(!plain.stdout.contains("no baseline"), "{}", plain.stdout);

    let slow = sandbox.run_command(
        sandbox
            .loadtest()
            .arg(spec)
            .env("DEMO_SERVICE_DELAY", "250ms"),
    );
    slow.expect_code(1);
    assert!(slow.stdout.contains("FAIL"), "{}", slow.stdout);
    let junit = sandbox.read_out("junit.xml");
    // e.g. `p50 1.20ms -&gt; 252.31ms (+20926.1%) exceeds +50%`
    let message = *junit_failures(&junit)
        .first()
        .unwrap_or_else(|| panic!("no <failure> in junit.xml:\n{junit}"));
    assert!(
        message.starts_with("p50 ") || message.starts_with("p90 "),
        "{message}"
    );
    assert!(
        message.contains(" -&gt; ") && message.contains("exceeds +50%"),
        "{message}"
    );
    let values: Vec<&str> = message
        .split_whitespace()
        .filter(|word| word.ends_with("ms") || word.ends_with("µs"))
        .collect();
    assert_eq!(values.len(), 2, "baseline and current in {message}");
    assert_eq!(
        std::fs::read(&baseline_file).unwrap(),
        baseline,
        "a failing run must not touch the baseline"
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn an_error_rate_regression_fails() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("reads", &[], GATE);
    let spec = spec.to_str().unwrap();
    sandbox.run(&["--update-baselines", spec]).expect_code(0);

    let failing = sandbox.run_command(
        sandbox
            .loadtest()
            .arg(spec)
            .env("DEMO_SERVICE_FAIL_RATE", "0.3"),
    );
    failing.expect_code(1);
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains(r#"<testcase name="total error_rate max""#),
        "{junit}"
    );
    assert!(
        junit.contains(r#"<failure type="regression" message="error_rate 0.00% -&gt; "#),
        "{junit}"
    );
    let total = sandbox.spec_summary().total;
    assert!(
        total.failures > 0 && total.errors["status"] > 0,
        "{total:#?}"
    );
    assert!(
        failing.stdout.contains("500 ×"),
        "status codes show the 500s:\n{}",
        failing.stdout
    );
}

#[test]
fn accept_promotes_the_last_summary_without_a_new_run() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("reads", &[], GATE);
    let spec = spec.to_str().unwrap();
    sandbox.run(&[spec]).expect_code(0);
    let summary_before = sandbox.read_out("summary.json");
    std::fs::remove_file(sandbox.out().join("reads.service.log")).unwrap();

    let accept = sandbox.run_command(
        std::process::Command::new(&bins().xtask)
            .args(["loadtest", "accept", "--baselines"])
            .arg(sandbox.baselines())
            .arg("--out")
            .arg(sandbox.out()),
    );
    accept.expect_code(0);
    assert!(accept.stdout.contains("reads.json"), "{}", accept.stdout);
    // Nothing ran: no service log, the summary untouched.
    assert!(!sandbox.out().join("reads.service.log").exists());
    assert_eq!(sandbox.read_out("summary.json"), summary_before);

    let baseline = sandbox.baseline("reads");
    let run = sandbox.summary().specs.remove(0);
    assert_eq!(baseline.spec_hash, run.spec_hash);
    // The baseline is the run's summary without its time series (charts of one run).
    let mut promoted = run.summary.expect("a measured run");
    assert!(!promoted.series.is_empty() && !promoted.service_series.is_empty());
    promoted.series.clear();
    promoted.service_series.clear();
    assert_eq!(baseline.summary, promoted);

    let next = sandbox.run(&[spec]);
    next.expect_code(0);
    assert!(!next.stdout.contains("no baseline"), "{}", next.stdout);
}

#[test]
fn several_specs_run_in_one_gate_each_with_its_own_suite() {
    let sandbox = Sandbox::new();
    let first = sandbox.quick_spec("first", &[], GATE);
    let second = sandbox.quick_spec("second", &[], GATE);
    sandbox
        .run(&[first.to_str().unwrap(), second.to_str().unwrap()])
        .expect_code(0);
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains(r#"name="first""#) && junit.contains(r#"name="second""#),
        "{junit}"
    );
    assert_eq!(sandbox.summary().specs.len(), 2);
    sandbox.assert_no_leftover_processes();
}
