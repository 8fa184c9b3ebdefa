//! Realistic traffic from the spec alone: secrets from the environment that reach the service
//! but no report, a seeded random stream that repeats, a login flow whose token every later
//! request carries, and expectations whose mismatches are errors of their own kind.

use std::path::{Path, PathBuf};

use loadgate_tests::SUMMARY_SCHEMA_FILE;
use loadgate_tests::{Sandbox, assert_valid, toml_array};

const TOKEN_VAR: &str = "LOADGATE_E2E_TOKEN";
const TOKEN: &str = "s3cr3t-t0ken-e2e-4242";

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn an_environment_secret_reaches_the_service_but_no_output() {
    let sandbox = Sandbox::new();
    let command = sandbox.demo_command(&[]);
    // The key is the service's API key and a header of every request; the echo request fails its
    // expectation, so the report quotes an answer that holds the key.
    let spec = sandbox.spec(
        "secret",
        &format!(
            r#"name = "secret"

[service]
command = {command}
env = {{ DEMO_SERVICE_API_KEY = "${{env.{TOKEN_VAR}}}" }}
ready = {{ http = "/health", timeout = "20s" }}

[load]
users = 2
think_time = "5ms"
warmup = "200ms"
duration = "1500ms"

[defaults]
headers = {{ X-Api-Key = "${{env.{TOKEN_VAR}}}" }}

[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = {{ user = "u${{user.id}}" }}
capture = {{ token = "json:$.token" }}

[[request]]
name = "classify"
method = "POST"
path = "/classify"
headers = {{ Authorization = "Bearer ${{user.token}}" }}
json = {{ text = "hello" }}

[[request]]
name = "echo"
method = "POST"
path = "/echo"
body = "key=${{env.{TOKEN_VAR}}}"
expect = {{ body_contains = "never-in-the-answer" }}
"#
        ),
    );

    // Unset: bad input before anything starts, naming the variable and where it is used.
    let unset = sandbox.run_command(sandbox.loadtest().env_remove(TOKEN_VAR).arg(&spec));
    unset.expect_code(2);
    assert!(
        unset
            .stderr
            .contains(&format!("environment variable `{TOKEN_VAR}` is not set")),
        "{}",
        unset.stderr
    );
    assert!(unset.stderr.contains("secret.toml:"), "{}", unset.stderr);
    assert!(sandbox.service_pids().is_empty());

    let step_summary = sandbox.path().join("step-summary.md");
    let run = sandbox.run_command(
        sandbox
            .loadtest()
            .env(TOKEN_VAR, TOKEN)
            .env("GITHUB_STEP_SUMMARY", &step_summary)
            .arg("--update-baselines")
            .arg(&spec),
    );
    run.expect_code(0);
    let requests = sandbox.spec_summary().requests;
    // The service accepted the key: the classify requests passed its check.
    let classify = &requests["classify"];
    assert!(
        classify.failures == 0 && classify.requests > 10,
        "{classify:#?}"
    );
    // The echo's answer held the key, and the report shows it redacted.
    let example = &requests["echo"].examples[0];
    assert_eq!(example.kind, "expect", "{example:#?}");
    assert_eq!(example.body.as_deref(), Some("key=***"), "{example:#?}");

    let mut written = files_under(sandbox.path());
    written.retain(|f| f.extension().is_none_or(|e| e != "sqlite"));
    assert!(
        written.contains(&step_summary)
            && written.contains(&sandbox.baselines().join("secret.json"))
    );
    for file in &written {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        assert!(
            !text.contains(TOKEN),
            "{} holds the secret:\n{text}",
            file.display()
        );
    }
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    assert!(run.stdout.contains("key=***"), "{}", run.stdout);
    sandbox.assert_no_leftover_processes();
}

/// The bodies the demo service logged for `/echo`, in order.
fn echoed(sandbox: &Sandbox, name: &str) -> Vec<String> {
    sandbox
        .read_out(&format!("{name}.service.log"))
        .lines()
        .filter_map(|line| line.strip_prefix("request POST /echo "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_same_seed_sends_the_same_bodies() {
    let sandbox = Sandbox::new();
    let words = sandbox.path().join("words.csv");
    std::fs::write(&words, "word,n\nalpha,1\nbeta,2\ngamma,3\ndelta,4\n").unwrap();
    let command = sandbox.demo_command(&["--log-bodies"]);
    let data = toml_array(&[words.display().to_string()]);
    let data = data.trim_matches(['[', ']']);
    let spec = sandbox.spec(
        "seeded",
        &format!(
            r#"name = "seeded"
seed = 7

[service]
command = {command}
ready = {{ http = "/health", timeout = "20s" }}

[load]
users = 1
think_time = "2ms"
duration = "1s"

[data]
file = {data}
pick = "random"

[[request]]
name = "echo"
method = "POST"
path = "/echo"
json = {{ n = "${{random.int(1, 1000000)}}", s = "${{random.string(8)}}", id = "${{uuid}}", pick = '${{random.choice(["a", "b", "c"])}}', word = "${{row.word}}", seq = "${{seq}}" }}
"#
        ),
    );
    let run_bodies = || {
        sandbox.run(&[spec.to_str().unwrap()]).expect_code(0);
        echoed(&sandbox, "seeded")
    };
    let first = run_bodies();
    let second = run_bodies();
    let n = first.len().min(second.len());
    assert!(n >= 20, "too few requests to compare: {n}");
    assert_eq!(first[..n], second[..n], "the same seed, the same bodies");

    // The bodies are real JSON with values that vary.
    let parsed: Vec<serde_json::Value> = first
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert!(
        parsed[0]["n"].is_u64() && parsed[0]["s"].as_str().unwrap().len() == 8,
        "{}",
        first[0]
    );
    assert!(["alpha", "beta", "gamma", "delta"].contains(&parsed[0]["word"].as_str().unwrap()));
    assert!(parsed.iter().any(|p| p["n"] != parsed[0]["n"]));
    assert!(parsed.iter().any(|p| p["word"] != parsed[0]["word"]));

    sandbox.edit_spec(&spec, "seed = 7", "seed = 8");
    let other = run_bodies();
    let n = n.min(other.len());
    assert_ne!(first[..n], other[..n], "another seed, other bodies");
}

#[test]
fn each_user_logs_in_once_and_every_request_carries_its_token() {
    let sandbox = Sandbox::new();
    let service = sandbox.start_demo(&["--api-key", "team-key"]);
    let spec = sandbox.spec(
        "flow",
        r#"name = "flow"

[load]
users = 3
think_time = "5ms..10ms"
duration = "1500ms"

[defaults]
headers = { X-Api-Key = "team-key" }

[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = { user = "user-${user.id}" }
capture = { token = "json:$.token" }

[[request]]
name = "classify"
method = "POST"
path = "/classify"
headers = { Authorization = "Bearer ${user.token}" }
json = { text = "you are a winner, claim your free prize" }
expect = { status = [200], json = { "$.label" = "spam" } }
"#,
    );
    sandbox
        .run(&["--target", &service.url, spec.to_str().unwrap()])
        .expect_code(0);
    let requests = sandbox.spec_summary().requests;
    assert_eq!(requests["login"].requests, 3, "{requests:#?}");
    let classify = &requests["classify"];
    let classified = classify.requests;
    assert!(classified > 30 && classify.failures == 0, "{classify:#?}");

    // The service's own account: three sessions, each used, and every request it classified
    // came with a token it had handed out (an unknown one is answered 401, an error above).
    let sessions: serde_json::Value =
        serde_json::from_str(&service.get("/debug/sessions")).unwrap();
    assert_eq!(sessions["logins"], 3, "{sessions}");
    assert_eq!(sessions["used"], 3, "{sessions}");
    assert_eq!(sessions["classified"], classified, "{sessions}");
}

#[test]
fn expectation_mismatches_are_errors_of_their_own_kind_with_examples() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec(
        "expect",
        &[],
        r#"[[request]]
name = "echo"
method = "POST"
path = "/echo"
json = { word = "hello" }
expect = { status = [200], json = { "$.word" = "goodbye" } }

[gate]
error_rate = { max = "1%" }
"#,
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(1);
    assert_valid(SUMMARY_SCHEMA_FILE, &sandbox.summary_json());
    let summary = sandbox.spec_summary();
    let echo = &summary.requests["echo"];
    assert!(
        echo.failures > 0 && echo.failures == echo.requests,
        "{echo:#?}"
    );
    assert_eq!(echo.errors["expect"], echo.failures, "{echo:#?}");
    assert_eq!(summary.total.errors["expect"], echo.failures);
    assert_eq!(summary.requests["home"].failures, 0);
    let example = &echo.examples[0];
    assert_eq!(example.status, Some(200));
    assert_eq!(example.message, r#"$.word is "hello", expected "goodbye""#);
    assert_eq!(example.body.as_deref(), Some(r#"{"word":"hello"}"#));
    // The error-rate threshold counts them; every report shows an example.
    assert!(run.stdout.contains("error_rate"), "{}", run.stdout);
    assert!(
        run.stdout.contains("echo: expect: $.word is \"hello\""),
        "{}",
        run.stdout
    );
    assert!(
        sandbox
            .read_out("summary.md")
            .contains("error in `echo`: expect:")
    );
    assert!(
        sandbox
            .read_out("junit.xml")
            .contains("error in echo: expect:")
    );
}
