//! Rounds and statistical verdicts end to end: a spec runs its load several times, the summary
//! keeps each round's judged values, a clear slowdown fails with its interval, and rounds too
//! noisy to tell a change of the threshold's size make the run inconclusive (exit 4, a JUnit
//! error, a Markdown warning) with the cause named.

use loadgate::result::Verdict;
use loadgate::testing::baseline;
use loadgate_tests::Sandbox;

const GATE: &str = "[gate]\np90 = { regression = \"10%\", noise_floor = \"0.2ms\" }\n";

fn spec(sandbox: &Sandbox) -> String {
    let spec = sandbox.demo_spec(
        "rounds",
        &[],
        "users = 2\nthink_time = \"5ms\"\nwarmup = \"200ms\"\nduration = \"1s\"",
        GATE,
    );
    // Four rounds, from the spec (the command line's --rounds would do the same).
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, format!("rounds = 4\n{text}")).unwrap();
    spec.display().to_string()
}

#[test]
fn a_slowdown_over_rounds_fails_with_its_interval() {
    let sandbox = Sandbox::new();
    let spec = spec(&sandbox);
    let record = sandbox.run_command(
        sandbox
            .loadtest()
            .env("DEMO_SERVICE_DELAY", "5ms")
            .args(["--update-baselines", &spec]),
    );
    record.expect_code(0);
    assert_eq!(
        record.stderr.matches(": round ").count(),
        4,
        "{}",
        record.stderr
    );
    let rounds = sandbox.baseline("rounds").summary.rounds;
    assert_eq!(rounds.len(), 4, "{rounds:#?}");
    assert!(rounds[0]["total p90"] >= 5_000.0, "{rounds:#?}");

    // Ten times the delay: far beyond 10 % and beyond the noise of a busy machine too. (Twice
    // was not: on a loaded 2-core machine a debug generator's own delays took the 5 ms rounds'
    // p90 to 12 ms give or take 77 %, and 10 ms read as +29 %, which it could not tell from no
    // change: inconclusive.)
    let slower = sandbox.run_command(
        sandbox
            .loadtest()
            .env("DEMO_SERVICE_DELAY", "50ms")
            .arg(&spec),
    );
    slower.expect_code(1);
    assert!(
        slower.stdout.contains("4 rounds) exceeds +10%") && slower.stdout.contains("90% interval"),
        "{}",
        slower.stdout
    );
}

#[test]
fn rounds_too_noisy_to_tell_make_the_run_inconclusive_and_say_so() {
    let sandbox = Sandbox::new();
    let spec = spec(&sandbox);
    sandbox.run(&["--update-baselines", &spec]).expect_code(0);
    // Play a noisy machine: the baseline's rounds spread from a fifth to three times their
    // value, so no interval can exclude a 10 % change.
    let mut noisy = sandbox.baseline("rounds");
    for (round, factor) in noisy.summary.rounds.iter_mut().zip([0.2, 3.0, 0.5, 2.5]) {
        *round.get_mut("total p90").expect("the judged p90") *= factor;
    }
    baseline::write(&sandbox.baseline_file("rounds"), &noisy).unwrap();

    let run = sandbox.run(&[&spec]);
    run.expect_code(4);
    assert!(
        run.stdout
            .contains("this run cannot tell a 10% change on this machine; measured noise ±"),
        "{}",
        run.stdout
    );
    let result = sandbox.summary().specs.remove(0);
    assert_eq!(result.verdict, Verdict::Inconclusive);
    assert!(
        result
            .reason
            .as_ref()
            .is_some_and(|reason| reason.starts_with("total p90 regression: ")),
        "{result:#?}"
    );
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains(r#"<error type="inconclusive" message="p90 "#),
        "{junit}"
    );
    assert!(!junit.contains("<failure"), "{junit}");
    let markdown = sandbox.read_out("summary.md");
    assert!(
        markdown.contains("⚠️ inconclusive") && markdown.contains("## loadgate: ⚠️ INCONCLUSIVE"),
        "{markdown}"
    );
}

#[test]
fn seq_goes_on_across_rounds_against_the_same_service() {
    let sandbox = Sandbox::new();
    // Every emission must be new (201): a `${seq}` restarting at 1 in round 2 would repeat
    // round 1's ids and get 409s from the service that kept them.
    let spec = sandbox.demo_spec(
        "ids",
        &[],
        "users = 2\nthink_time = \"5ms\"\nduration = \"500ms\"",
        r#"[[request]]
name = "emit"
weight = 4
method = "POST"
path = "/badges"
json = { id = "emission-${seq}", badge = "b", reader = "r" }
expect = { status = [201] }
"#,
    );
    sandbox
        .run(&["--rounds", "3", spec.to_str().unwrap()])
        .expect_code(0);
    let emit = &sandbox.spec_summary().requests["emit"];
    assert!(emit.requests > 30, "{emit:#?}");
    assert_eq!(emit.failures, 0, "{emit:#?}");
}
