//! A failing service never looks fast: fast failures are not judged as latency, a run in which
//! every request failed never passes, and a `--target` that does not answer gets no load.

use std::net::TcpListener;

use loadgate::{CheckKind, CheckOutcome, Verdict};
use loadgate_tests::{Sandbox, junit_failures};

/// p50 may not regress by more than 10 % beyond a 100 µs noise floor.
const P50_GATE: &str = "[gate]\np50 = { regression = \"10%\", noise_floor = \"100us\" }\n";

#[test]
fn fast_failures_against_a_slower_healthy_baseline_fail_and_never_read_as_improved() {
    let sandbox = Sandbox::new();
    // The baseline: every request answered 200 after 2 ms.
    let healthy = sandbox.quick_spec("flip", &["--delay", "2ms"], P50_GATE);
    sandbox
        .run(&["--update-baselines", healthy.to_str().unwrap()])
        .expect_code(0);
    // Now every request answers 500 at once.
    let failing = sandbox.quick_spec("flip", &["--delay", "2ms", "--fail-rate", "1"], P50_GATE);
    let run = sandbox.run(&[failing.to_str().unwrap()]);
    run.expect_code(1);
    let spec = &sandbox.summary().specs[0];
    assert_eq!(spec.verdict, Verdict::Fail);
    for check in &spec.checks {
        assert!(!check.message.contains("improved"), "{check:#?}");
    }
    let p50 = spec
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::Regression)
        .expect("the p50 check");
    assert_eq!(p50.outcome, CheckOutcome::Fail);
    assert_eq!(p50.message, "p50 regression: no answered requests in total");
    let failures = junit_failures(&sandbox.read_out("junit.xml")).join("\n");
    assert!(failures.contains("every one of the"), "{failures}");
}

#[test]
fn a_spec_whose_every_request_fails_never_passes_even_without_a_gate() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("broken", &["--fail-rate", "1"], "");
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("every one of the") && run.stdout.contains("requests failed"),
        "the console names the rule: {}",
        run.stdout
    );
}

#[test]
fn a_target_that_does_not_answer_fails_the_spec_before_any_load() {
    let sandbox = Sandbox::new();
    // A port nobody listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let spec = sandbox.spec(
        "dead",
        "[load]\nusers = 2\nduration = \"2s\"\n\n[[request]]\nname = \"home\"\npath = \"/\"\n",
    );
    let run = sandbox.run(&[
        "--target",
        &url,
        "--update-baselines",
        spec.to_str().unwrap(),
    ]);
    run.expect_code(3);
    assert!(
        run.stdout
            .contains(&format!("the target {url}/ did not answer"))
            && run.stdout.to_lowercase().contains("connection refused"),
        "{}",
        run.stdout
    );
    let result = sandbox.summary();
    assert_eq!(result.specs[0].verdict, Verdict::ServiceFailed);
    assert!(result.specs[0].summary.is_none(), "no load was sent");
    assert!(
        !sandbox.baselines().join("dead.json").exists(),
        "no baseline is recorded from a dead target"
    );
}
