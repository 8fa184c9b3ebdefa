//! What a team adopting loadgate meets first: a spec without `[gate]` is still a gate (the
//! default checks, named on the console).

use loadgate_tests::Sandbox;

#[test]
fn a_spec_without_gate_fails_a_service_that_fails_every_request_and_names_the_default_check() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("first", &["--fail-rate", "1"], "");
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(1);
    assert!(
        run.stdout.contains(
            "note: no [gate] in the spec: the default checks apply (total error_rate max 1.00%)"
        ),
        "the console says which defaults applied:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("total error_rate max"),
        "the console names the failed check:\n{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
}
