//! Sessions and flows as users write them: a login's cookie kept in each user's jar and sent
//! with every later request (or not, with `cookies = false`), ordered flows whose steps pass a
//! captured token along and show in every report, and the mistakes a flow can hold.

use loadgate::result::{CheckOutcome, Verdict};
use loadgate_tests::SUMMARY_SCHEMA_FILE;
use loadgate_tests::{Sandbox, assert_valid, junit_failures};

use crate::bad_input::assert_bad_input;

/// Users that log in once (the answer sets the `sid` cookie), then ask for their own page,
/// which answers 401 without the cookie.
const SESSION: &str = r#"name = "session"

[load]
users = 4
think_time = "5ms..10ms"
duration = "1500ms"

[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = { user = "user-${user.id}" }

[[request]]
name = "me"
path = "/me"
expect = { status = [200] }

[gate]
error_rate = { max = "1%" }
"#;

#[test]
fn a_login_cookie_carries_into_the_mix_one_session_per_user_and_off_fails_the_gate() {
    let sandbox = Sandbox::new();
    let service = sandbox.start_demo(&[]);
    let spec = sandbox.spec("session", SESSION);
    sandbox
        .run(&["--target", &service.url, spec.to_str().unwrap()])
        .expect_code(0);
    let requests = sandbox.spec_summary().requests;
    assert_eq!(requests["login"].requests, 4, "{requests:#?}");
    let me = &requests["me"];
    assert!(me.requests > 20 && me.failures == 0, "{me:#?}");
    // The service's account: four logins, and every /me came with one of their cookies, each
    // user's own (four distinct sessions seen by cookie).
    let sessions: serde_json::Value =
        serde_json::from_str(&service.get("/debug/sessions")).unwrap();
    assert_eq!(sessions["logins"], 4, "{sessions}");
    assert_eq!(sessions["cookie_sessions"], 4, "{sessions}");

    // Without the jar the cookie is never sent: every /me is a 401 and the gate fails.
    sandbox.edit_spec(&spec, "[load]", "[defaults]\ncookies = false\n\n[load]");
    let run = sandbox.run(&["--target", &service.url, spec.to_str().unwrap()]);
    run.expect_code(1);
    let summary = sandbox.spec_summary();
    let me = &summary.requests["me"];
    assert!(me.requests > 0 && me.failures == me.requests, "{me:#?}");
    assert_eq!(me.status_codes["401"], me.requests, "{me:#?}");
    let spec_result = &sandbox.summary().specs[0];
    assert_eq!(spec_result.verdict, Verdict::Fail);
    let failed: Vec<String> = spec_result.failed_checks().map(|c| c.name()).collect();
    assert_eq!(failed, ["total error_rate max"], "{failed:?}");
}

/// A cart flow in order (open → add → checkout, the cart's token captured by the first step)
/// beside a flow that skips a step, so its iterations abort; per-step p90 ceilings on two steps,
/// far above a loaded machine's answer times and far below the slowed step's 1 s.
fn flows_spec(sandbox: &Sandbox, service_args: &[&str]) -> std::path::PathBuf {
    let command = sandbox.demo_command(service_args);
    sandbox.spec(
        "flows",
        &format!(
            r#"name = "flows"

[service]
command = {command}
ready = {{ http = "/health", timeout = "20s" }}

[load]
users = 4
think_time = "2ms..5ms"
duration = "2s"

[[flow]]
name = "cart"
weight = 3

[[flow.step]]
name = "open"
method = "POST"
path = "/cart/open"
capture = {{ cart = "json:$.token" }}

[[flow.step]]
name = "add"
method = "POST"
path = "/cart/add?token=${{user.cart}}"
think = "1ms"

[[flow.step]]
name = "checkout"
method = "POST"
path = "/cart/checkout?token=${{user.cart}}"
capture = {{ receipt = "json:$.receipt" }}

[[flow]]
name = "skip"

[[flow.step]]
name = "open"
method = "POST"
path = "/cart/open"
capture = {{ cart = "json:$.token" }}

[[flow.step]]
name = "checkout"
method = "POST"
path = "/cart/checkout?token=${{user.cart}}"

[[flow.step]]
name = "never"
path = "/"

[gate.request."cart/open"]
p90 = {{ max = "250ms" }}

[gate.request."cart/checkout"]
p90 = {{ max = "250ms" }}
error_rate = {{ max = "0%" }}
"#
        ),
    )
}

#[test]
fn flows_run_in_order_show_each_step_in_every_report_and_a_slowed_step_fails_its_own_p90() {
    let sandbox = Sandbox::new();
    let spec = flows_spec(&sandbox, &[]);
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(0);
    assert_valid(SUMMARY_SCHEMA_FILE, &sandbox.summary_json());
    let summary = sandbox.spec_summary();
    let cart = &summary.flows["cart"];
    assert!(cart.completed > 10 && cart.aborted == 0, "{cart:#?}");
    assert_eq!(cart.steps, ["cart/open", "cart/add", "cart/checkout"]);
    for step in &cart.steps {
        let metrics = &summary.requests[step];
        assert!(metrics.requests >= cart.completed, "{step}: {metrics:#?}");
        assert_eq!(
            metrics.failures, 0,
            "{step} answered out of order: {metrics:#?}"
        );
        assert!(!metrics.status_codes.contains_key("409"), "{metrics:#?}");
    }
    // The skipping flow: its second step comes out of order (409), which ends the iteration.
    let skip = &summary.flows["skip"];
    assert!(skip.aborted > 0 && skip.completed == 0, "{skip:#?}");
    assert_eq!(
        summary.requests["skip/checkout"].status_codes["409"],
        skip.aborted
    );
    assert_eq!(summary.requests["skip/never"].requests, 0);

    // Per-step rows on the console and in every report.
    for text in [
        &run.stdout,
        &sandbox.read_out("summary.md"),
        &sandbox.read_out("junit.xml"),
    ] {
        assert!(text.contains("cart/checkout"), "{text}");
        assert!(text.contains("flow skip:"), "{text}");
    }
    assert!(run.stdout.contains("aborted"), "{}", run.stdout);
    assert!(sandbox.read_out("summary.md").contains("| cart/add |"));
    assert!(sandbox.read_out("report.html").contains("cart/checkout"));
    // The last step's capture is read by no later step: a warning, not an error.
    let warning = "step `cart/checkout` captures `receipt`, which no later step";
    assert!(run.stdout.contains(warning), "{}", run.stdout);
    assert!(
        sandbox.summary().specs[0]
            .notes
            .iter()
            .any(|n| n.contains(warning))
    );

    // Only the checkout is slowed: its own p90 fails, the open step's holds.
    let spec = flows_spec(&sandbox, &["--slow", "/cart/checkout=1s"]);
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(1);
    let checks = &sandbox.summary().specs[0].checks;
    let outcome = |name: &str| {
        checks
            .iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no check `{name}` in {checks:#?}"))
            .outcome
    };
    assert_eq!(outcome("cart/checkout p90 max"), CheckOutcome::Fail);
    assert_eq!(outcome("cart/open p90 max"), CheckOutcome::Pass);
    let junit = sandbox.read_out("junit.xml");
    let failures = junit_failures(&junit);
    assert_eq!(failures.len(), 1, "{junit}");
    assert!(failures[0].contains("p90"), "{junit}");
}

/// A spec with one flow whose steps are `steps`, which must never reach its service.
fn flow_spec(steps: &str) -> String {
    format!(
        r#"name = "broken"

[service]
command = ["/bin/sh", "-c", "echo started > started.txt; exit 9"]

[load]
users = 2
duration = "1s"

[[flow]]
name = "cart"
{steps}"#
    )
}

#[test]
fn flow_mistakes_are_exit_2_naming_file_line_and_key() {
    let sandbox = Sandbox::new();
    let open = "[[flow.step]]\nname = \"open\"\nmethod = \"POST\"\npath = \"/cart/open\"\n";
    let cases = [
        (
            flow_spec(""),
            [
                "broken.toml:11:",
                "key `flow.name`",
                "flow `cart` has no steps",
            ],
        ),
        (
            flow_spec(&format!(
                "[[flow.step]]\nname = \"add\"\nmethod = \"POST\"\npath = \"/cart/add?token=${{user.cart}}\"\n\n\
                 {open}capture = {{ cart = \"json:$.token\" }}\n"
            )),
            [
                "broken.toml:15:",
                "key `flow.step.path`",
                "is used before any step captures `cart`",
            ],
        ),
    ];
    for (text, expected) in cases {
        assert_bad_input(&sandbox, &text, &expected);
    }
}
