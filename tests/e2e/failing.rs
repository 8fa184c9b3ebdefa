//! A failing service never looks fast: fast failures are not judged as latency, a run in which
//! every request failed never passes, and a `--target` that does not answer gets no load.

use std::net::TcpListener;

use loadgate::result::{CheckKind, CheckOutcome, Verdict};
use loadgate_tests::SUMMARY_SCHEMA_FILE;
use loadgate_tests::{Sandbox, assert_valid, junit_failures};

/// p50 may not regress by more than 10 % beyond a 100 µs noise floor.
const P50_GATE: &str = "[gate]\np50 = { regression = \"10%\", noise_floor = \"100us\" }\n";

#[test]
fn fast_failures_are_timed_apart_and_the_judged_latency_is_the_answered_requests() {
    let sandbox = Sandbox::new();
    // `ok` answers 200 after 10 ms; `gone` fails at once (readiness is outside the delay, and
    // its 200 is not the 404 the spec expects), three times as often.
    let command = sandbox.demo_command(&["--delay", "10ms"]);
    let spec = sandbox.spec(
        "mixed",
        &format!(
            "[service]\ncommand = {command}\nready = {{ http = \"/health\", timeout = \"20s\" }}\n\n\
             [load]\nusers = 4\nduration = \"2s\"\n\n\
             [[request]]\nname = \"ok\"\nweight = 1\npath = \"/\"\n\n\
             [[request]]\nname = \"gone\"\nweight = 3\npath = \"/health\"\nexpect = {{ status = [404] }}\n\n\
             [gate]\nerror_rate = {{ max = \"100%\" }}\n"
        ),
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(0);
    let summary = sandbox.spec_summary();
    let (ok, gone, total) = (
        &summary.requests["ok"],
        &summary.requests["gone"],
        &summary.total,
    );
    assert!(gone.failures > ok.requests, "{summary:#?}");
    assert_eq!(gone.failures, gone.requests);
    // The judged total is the answered `ok` requests', not a blend with the fast failures.
    let (judged, answered) = (total.latency_us.p50 as f64, ok.latency_us.p50 as f64);
    assert!(
        (judged - answered).abs() <= 0.1 * answered,
        "total p50 {judged} µs, ok p50 {answered} µs"
    );
    assert!(answered >= 10_000.0, "{answered}");
    let failed = gone.failed.as_ref().expect("the failures' own latency");
    assert!(failed.latency_us.p50 < 5_000, "{failed:#?}");
    assert_eq!(gone.latency_us.p50, 0, "nothing of `gone` was answered");
    assert!(
        run.stdout.contains("latency is of answered requests"),
        "{}",
        run.stdout
    );
    assert_valid(SUMMARY_SCHEMA_FILE, &sandbox.summary_json());
}

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
    // Recording does not excuse it, and such a run is no baseline.
    let run = sandbox.run(&["--update-baselines", spec.to_str().unwrap()]);
    run.expect_code(1);
    assert!(!sandbox.baselines().join("broken.json").exists());
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
    // A sweep asks the same question first.
    let sweep = sandbox.spec(
        "dead-sweep",
        "[load]\nusers = 1\nduration = \"1s\"\n\n[[request]]\nname = \"home\"\npath = \"/\"\n\n\
         [sweep]\nusers = [1, 2]\nlimit = { p90 = \"50ms\" }\n",
    );
    let run = sandbox.run(&["--target", &url, sweep.to_str().unwrap()]);
    run.expect_code(3);
    assert!(sandbox.summary().specs[0].summary.is_none(), "no step ran");
}
