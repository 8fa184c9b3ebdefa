//! Streams end to end, against a service in another language (Python's aiohttp,
//! `stream_service.py`; aiohttp installed by `cargo xtask test` under `target/ci-tools/`): Server-Sent
//! Events timed per message, the first after 50 ms and nine more 20 ms apart; the gate catches
//! slower gaps on `message_gap` and a later first message on `first_message`; streams that
//! misbehave are each classified and counted, and none holds the run past its timeout; `expect`
//! judges a stream's count and last message; a WebSocket sends several messages, binary ones,
//! offers a subprotocol and keeps its socket across a user's iterations.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loadgate::result::SpecSummary;
use loadgate_tests::{Run, Sandbox, junit_failures, toml_array, workspace_root};

const SERVICE: &str = include_str!("stream_service.py");

/// Where `cargo xtask test` installs aiohttp (target/ci-tools/python, like manifests.rs's
/// packages).
fn aiohttp_path() -> PathBuf {
    let python = workspace_root().join("target/ci-tools/python");
    assert!(
        python.join("aiohttp").exists(),
        "{} has no aiohttp: `cargo xtask test` installs it before the tests run",
        python.display()
    );
    python
}

/// The `[service]` command (and its environment) running the stream service with these
/// timings (ms).
fn service_command(sandbox: &Sandbox, first_ms: u32, gap_ms: u32) -> String {
    service_command_with(sandbox, first_ms, gap_ms, &[])
}

/// The same, with `more` arguments to the service.
fn service_command_with(sandbox: &Sandbox, first_ms: u32, gap_ms: u32, more: &[String]) -> String {
    let script = sandbox.path().join("stream_service.py");
    std::fs::write(&script, SERVICE).unwrap();
    let mut args = vec![
        "python3".into(),
        script.display().to_string(),
        "--port".into(),
        "{port}".into(),
        "--first-ms".into(),
        first_ms.to_string(),
        "--gap-ms".into(),
        gap_ms.to_string(),
    ];
    args.extend_from_slice(more);
    let command = toml_array(&args);
    // aiohttp where xtask put it.
    format!(
        "command = {command}\nenv = {{ PYTHONPATH = {:?} }}",
        aiohttp_path().display().to_string()
    )
}

/// The slower service doubles a figure (+50 ms, +20 ms): regressions beyond 50 % and a noise
/// floor fail, which an unchanged run beside a CPU hog stays within. The stream is read to its
/// end (ten messages), which keeps the connection for the next one: a new connection's accept
/// would be in the first message's time.
const STREAM_GATE: &str = r#"[gate]
first_message_p50 = { regression = "50%", noise_floor = "30ms" }
message_gap_p50 = { regression = "50%", noise_floor = "10ms" }
message_gap_p99 = { max = "1s" }
error_rate = { max = "0%" }
"#;

/// The timed request of each protocol, named `sse` or `ws`.
const SSE: &str = "[[request]]\nname = \"sse\"\npath = \"/sse\"\nstream = \"sse\"";
const WS: &str = "[[request]]\nname = \"ws\"\npath = \"/ws\"\nwebsocket = { send = \"hello ${seq}\", messages = 10 }";

fn stream_spec(sandbox: &Sandbox, (first_ms, gap_ms): (u32, u32), load: &str) -> PathBuf {
    protocol_spec(sandbox, (first_ms, gap_ms), load, SSE)
}

fn protocol_spec(
    sandbox: &Sandbox,
    (first_ms, gap_ms): (u32, u32),
    load: &str,
    request: &str,
) -> PathBuf {
    let command = service_command(sandbox, first_ms, gap_ms);
    sandbox.spec(
        "tokens",
        &format!(
            r#"name = "tokens"

[service]
{command}
ready = {{ http = "/health", timeout = "30s" }}

[load]
{load}

{request}
timeout = "5s"

{STREAM_GATE}"#
        ),
    )
}

const CLOSED: &str = "model = \"closed\"\nusers = 4\nwarmup = \"300ms\"\nduration = \"2s\"";

fn run_gate(sandbox: &Sandbox, spec: &Path, more: &[&str]) -> Run {
    let mut args = vec![spec.to_str().unwrap()];
    args.extend(more);
    sandbox.run(&args)
}

fn summary_of(sandbox: &Sandbox) -> SpecSummary {
    sandbox.spec_summary()
}

/// Whether a run's message times are the service's to within the issue's bounds: first message
/// p50 within 5 ms of 50 ms, gap p50 within 2 ms of 20 ms.
fn on_time(summary: &SpecSummary) -> Result<(), String> {
    let stream = summary.total.stream.as_ref().ok_or("no stream figures")?;
    let first = stream.first_message_us.p50 as i64;
    let gap = stream.message_gap_us.p50 as i64;
    if (first - 50_000).abs() <= 5_000 && (gap - 20_000).abs() <= 2_000 {
        Ok(())
    } else {
        Err(format!("first message p50 {first} µs, gap p50 {gap} µs"))
    }
}

/// Records a baseline with the service as written; on a busy shared machine the timing bounds
/// may miss (or the open model fall behind), and the recording is then made once more with the
/// machine to itself, where they must hold.
fn recorded(load: &str, request: &str) -> Sandbox {
    let attempt = |sandbox: &Sandbox| {
        let spec = protocol_spec(sandbox, (50, 20), load, request);
        let run = run_gate(sandbox, &spec, &["--update-baselines"]);
        // The open model behind its schedule: inconclusive, as on_schedule() knows it.
        if run.code == Some(4) {
            let why = run
                .stdout
                .lines()
                .find(|l| l.contains("did not keep its schedule"));
            return Err(format!("exit 4: {}", why.unwrap_or_default().trim()));
        }
        run.expect_code(0);
        on_time(&summary_of(sandbox))
    };
    let sandbox = Sandbox::new();
    match attempt(&sandbox) {
        Ok(()) => sandbox,
        Err(why) => {
            eprintln!("stream timing off on a busy machine ({why}): once more, alone");
            drop(sandbox);
            let sandbox = Sandbox::alone();
            attempt(&sandbox).unwrap();
            sandbox
        }
    }
}

#[test]
fn sse_is_timed_per_message_and_the_gate_catches_slower_gaps_and_a_later_first_message() {
    let sandbox = recorded(CLOSED, SSE);
    let summary = summary_of(&sandbox);
    let sse = &summary.requests["sse"];
    let stream = sse.stream.as_ref().unwrap();
    assert_eq!(sse.failures, 0, "{sse:#?}");
    assert_eq!(stream.streams, sse.requests, "every stream answered");
    assert_eq!(stream.messages, 10 * stream.streams, "ten messages each");
    assert_eq!(stream.messages_per_stream, 10.0);
    // The whole stream is the request's latency: at least the ten messages' 230 ms.
    assert!(sse.latency_us.p50 >= 230_000, "{:?}", sse.latency_us);
    assert_eq!(
        summary.total.stream.as_ref().unwrap().messages,
        stream.messages
    );
    // Second by second too, for the report's charts.
    let seconds: Vec<_> = summary.series.iter().filter_map(|p| p.stream).collect();
    assert!(!seconds.is_empty(), "{:?}", summary.series);
    assert!(
        seconds.iter().all(|s| s.first_message_p50_us >= 40_000),
        "{seconds:?}"
    );
    let html = sandbox.read_out("report.html");
    assert!(
        html.contains("\"first_message\":{"),
        "the page charts first messages"
    );
    let baseline = sandbox.baseline("tokens");
    assert!(baseline.summary.requests["sse"].stream.is_some());

    // Unchanged: passes against the baseline.
    let spec = stream_spec(&sandbox, (50, 20), CLOSED);
    run_gate(&sandbox, &spec, &[]).expect_code(0);

    // Gaps of 40 ms: message_gap fails, first_message does not.
    let spec = stream_spec(&sandbox, (50, 40), CLOSED);
    let run = run_gate(&sandbox, &spec, &[]);
    run.expect_code(1);
    let junit = sandbox.read_out("junit.xml");
    let failures = junit_failures(&junit);
    assert!(
        failures.len() == 1 && failures[0].contains("message_gap_p50"),
        "{failures:?}"
    );
    assert!(run.stdout.contains("message_gap_p50"), "{}", run.stdout);

    // The first message at 100 ms: first_message fails, message_gap does not.
    let spec = stream_spec(&sandbox, (100, 20), CLOSED);
    run_gate(&sandbox, &spec, &[]).expect_code(1);
    let junit = sandbox.read_out("junit.xml");
    let failures = junit_failures(&junit);
    assert!(
        failures.len() == 1 && failures[0].contains("first_message_p50"),
        "{failures:?}"
    );
    let markdown = sandbox.read_out("summary.md");
    assert!(markdown.contains(r"first\_message\_p50"), "{markdown}");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn in_the_open_model_the_intended_send_time_starts_a_stream_s_clock() {
    let load =
        "model = \"open\"\nrate = 10\nmax_in_flight = 20\nwarmup = \"300ms\"\nduration = \"2s\"";
    let sandbox = recorded(load, SSE);
    let summary = summary_of(&sandbox);
    let stream = summary.requests["sse"].stream.as_ref().unwrap();
    assert!(stream.streams >= 12, "{stream:?}");
    assert!(summary.schedule.is_some());
}

/// Each way a stream can go wrong, one request each, 500 ms timeout.
const MISBEHAVING: [(&str, &str); 4] = [
    ("malformed", "malformed"),
    ("early", "closed_early"),
    ("short", "too_few_messages"),
    ("never", "timeout"),
];

/// Runs a spec with one behaving request (`good`, named `ok`) and one request per mode of
/// `faults` (`request` makes each from its mode), 4 users for 2 s; asserts the run passes
/// within 30 s (never the hour a `never` stream would wait) and that every request of a mode
/// failed as its kind, within its 500 ms timeout, give or take a busy machine's timer.
fn run_faults(
    sandbox: &Sandbox,
    good: &str,
    faults: &[(&str, &str)],
    request: impl Fn(&str) -> String,
) -> SpecSummary {
    let command = service_command(sandbox, 20, 10);
    // The behaving one: a run in which every request failed never passes.
    let mut requests = format!("{good}\n\n");
    for (mode, _) in faults {
        requests += &format!("{}\ntimeout = \"500ms\"\n\n", request(mode));
    }
    let spec = sandbox.spec(
        "faults",
        &format!(
            "name = \"faults\"\n\n[service]\n{command}\nready = {{ http = \"/health\", timeout = \"30s\" }}\n\n\
             [load]\nmodel = \"closed\"\nusers = 4\nduration = \"2s\"\n\n{requests}\
             [gate]\nerror_rate = {{ max = \"100%\" }}\n"
        ),
    );
    let started = Instant::now();
    let run = run_gate(sandbox, &spec, &[]);
    let took = started.elapsed();
    run.expect_code(0);
    assert!(
        took < Duration::from_secs(30),
        "the run took {took:?}:\n{}\n{}",
        run.stderr,
        sandbox.read_out("faults.service.log")
    );
    let summary = summary_of(sandbox);
    let ok = &summary.requests["ok"];
    assert_eq!(ok.failures, 0, "{ok:#?}");
    for (mode, kind) in faults {
        let metrics = &summary.requests[*mode];
        assert!(metrics.requests > 0, "{mode}: no requests");
        assert_eq!(
            (metrics.errors.get(*kind).copied(), metrics.failures),
            (Some(metrics.requests), metrics.requests),
            "{mode}: every one is {kind}: {metrics:#?}"
        );
        assert!(metrics.stream.is_none(), "no answered stream in {mode}");
        assert!(!metrics.examples.is_empty(), "{mode}");
        let failed = &metrics.failed.as_ref().unwrap().latency_us;
        assert!(failed.max < 1_500_000, "{mode}: {failed:?}");
    }
    let never = &summary.requests["never"]
        .failed
        .as_ref()
        .unwrap()
        .latency_us;
    assert!(never.min >= 490_000, "timed out at 500 ms: {never:?}");
    summary
}

#[test]
fn misbehaving_streams_are_each_classified_and_none_outlasts_its_timeout() {
    let sandbox = Sandbox::new();
    let good = "[[request]]\nname = \"ok\"\npath = \"/sse\"\nstream = \"sse\"";
    let summary = run_faults(&sandbox, good, &MISBEHAVING, |mode| {
        format!(
            "[[request]]\nname = \"{mode}\"\npath = \"/sse?mode={mode}\"\nstream = \"sse\"\nmessages = 10"
        )
    });
    // Without `messages`, every message until the stream ends.
    let ok = &summary.requests["ok"];
    assert_eq!(ok.stream.as_ref().unwrap().messages_per_stream, 10.0);
    let examples = &summary.requests["short"].examples;
    assert!(
        examples[0]
            .message
            .contains("ended after 3 messages, expected 10"),
        "{examples:?}"
    );
    sandbox.assert_no_leftover_processes();
}

/// Each way a WebSocket can go wrong, one request each, 500 ms timeout.
const WS_MISBEHAVING: [(&str, &str); 5] = [
    ("malformed", "close_error"),
    ("error", "close_error"),
    ("early", "closed_early"),
    ("short", "too_few_messages"),
    ("never", "timeout"),
];

#[test]
fn misbehaving_websockets_are_each_classified_and_none_outlasts_its_timeout() {
    let sandbox = Sandbox::new();
    let good = WS.replace("name = \"ws\"", "name = \"ok\"");
    let summary = run_faults(&sandbox, &good, &WS_MISBEHAVING, |mode| {
        format!(
            "[[request]]\nname = \"{mode}\"\npath = \"/ws?mode={mode}\"\nwebsocket = {{ send = \"hi\", messages = 10 }}"
        )
    });
    let examples = &summary.requests["error"].examples;
    assert!(
        examples[0]
            .message
            .contains("closed the WebSocket with code 1011 after 3 messages"),
        "{examples:?}"
    );
    sandbox.assert_no_leftover_processes();
}

/// A spec of `requests` against the stream service (first message at 20 ms, then 10 ms apart,
/// `more` arguments), `users` for 2 s; every request may fail, so the run passes and the
/// summary says how each did.
fn requests_spec(sandbox: &Sandbox, users: u32, more: &[String], requests: &str) -> PathBuf {
    let command = service_command_with(sandbox, 20, 10, more);
    sandbox.spec(
        "judged",
        &format!(
            "name = \"judged\"\n\n[service]\n{command}\nready = {{ http = \"/health\", timeout = \"30s\" }}\n\n\
             [load]\nmodel = \"closed\"\nusers = {users}\nduration = \"2s\"\n\n{requests}\n\
             [gate]\nerror_rate = {{ max = \"100%\" }}\n"
        ),
    )
}

/// Every request of `name` failed as `kind`, and the first example says `message`.
#[track_caller]
fn all_failed(summary: &SpecSummary, name: &str, kind: &str, message: &str) {
    let metrics = &summary.requests[name];
    assert!(metrics.requests > 0, "{name}: no requests");
    assert_eq!(
        (metrics.errors.get(kind).copied(), metrics.failures),
        (Some(metrics.requests), metrics.requests),
        "{name}: every one is {kind}: {metrics:#?}"
    );
    let example = &metrics.examples[0];
    assert!(example.message.contains(message), "{name}: {example:?}");
}

#[test]
fn expect_judges_a_stream_s_count_and_its_last_message() {
    let sandbox = Sandbox::new();
    let sse = |name: &str, path: &str, keys: &str| {
        format!("[[request]]\nname = \"{name}\"\npath = \"{path}\"\nstream = \"sse\"\n{keys}\n\n")
    };
    let requests = [
        sse(
            "done",
            "/sse?mode=done",
            "expect = { min_messages = 11, last_event = \"done\", last_message_contains = \"[DONE]\" }",
        ),
        sse("unnamed", "/sse", "expect = { last_event = \"done\" }"),
        sse("lacking", "/sse", "expect = { last_message_contains = \"[DONE]\" }"),
        sse("short", "/sse?mode=short", "expect = { min_messages = 4 }"),
        sse("enough", "/sse?mode=short", "expect = { min_messages = 3 }"),
        // Reading stops at `messages`: the last message read is the fifth, not the final one.
        sse(
            "cut",
            "/sse?mode=done",
            "messages = 5\nexpect = { last_message_contains = \"[DONE]\" }",
        ),
        "[[request]]\nname = \"ws\"\npath = \"/ws\"\n\
         websocket = { send = \"hi\", messages = 10 }\n\
         expect = { min_messages = 10, last_message_contains = \"hi 9\" }\n\n"
            .to_owned(),
        "[[request]]\nname = \"ws-lacking\"\npath = \"/ws\"\n\
         websocket = { send = \"hi\", messages = 10 }\nexpect = { last_message_contains = \"bye\" }\n\n"
            .to_owned(),
    ];
    let spec = requests_spec(&sandbox, 4, &[], &requests.concat());
    run_gate(&sandbox, &spec, &[]).expect_code(0);
    let summary = summary_of(&sandbox);
    for name in ["done", "enough", "ws"] {
        let metrics = &summary.requests[name];
        assert!(metrics.requests > 0, "{name}: no requests");
        assert_eq!(metrics.failures, 0, "{name}: {metrics:#?}");
    }
    assert_eq!(
        summary.requests["done"]
            .stream
            .as_ref()
            .unwrap()
            .messages_per_stream,
        11.0
    );
    all_failed(
        &summary,
        "unnamed",
        "expect",
        "the last event is not named `done`",
    );
    let quoted = summary.requests["unnamed"].examples[0].body.as_deref();
    assert!(
        quoted.is_some_and(|q| q.starts_with("event: token\ndata: 9\nmore")),
        "the example quotes the last event: {quoted:?}"
    );
    all_failed(
        &summary,
        "lacking",
        "expect",
        "the last message does not contain `[DONE]`",
    );
    all_failed(
        &summary,
        "short",
        "too_few_messages",
        "ended after 3 messages, expected 4",
    );
    all_failed(&summary, "cut", "expect", "does not contain `[DONE]`");
    all_failed(
        &summary,
        "ws-lacking",
        "expect",
        "the last message does not contain `bye`",
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn a_websocket_sends_several_binary_messages_on_a_subprotocol_and_keeps_its_socket() {
    let sandbox = Sandbox::new();
    let log = sandbox.path().join("chat.log");
    let chat = |tag: &str, keys: &str, expect: &str| {
        format!(
            "[[request]]\nname = \"{tag}\"\npath = \"/chat?tag={tag}\"\nwebsocket = {{ {keys} }}\n\
             expect = {{ last_message_contains = \"{expect}\" }}\ntimeout = \"2s\"\n\n"
        )
    };
    let requests = [
        // Both messages sent, in order, as binary frames, the second templated; the socket kept.
        chat(
            "kept",
            "send = [\"first\", \"second ${user.id}\"], binary = true, protocols = [\"chat.v1\"], \
             messages = 2, reuse = true",
            "binary second 1",
        ),
        chat(
            "fresh",
            "send = \"plain ${user.id}\", protocols = [\"x.v0\", \"chat.v1\"], messages = 1",
            "text plain 1",
        ),
        chat(
            "refused",
            "send = \"x\", protocols = [\"other.v9\"], messages = 1",
            "",
        ),
    ];
    // One user: `${user.id}` is 1.
    let spec = requests_spec(
        &sandbox,
        1,
        &["--chat-log".into(), log.display().to_string()],
        &requests.concat(),
    );
    run_gate(&sandbox, &spec, &[]).expect_code(0);
    let summary = summary_of(&sandbox);
    for name in ["kept", "fresh"] {
        let metrics = &summary.requests[name];
        assert!(metrics.requests >= 3, "{name}: {metrics:#?}");
        assert_eq!(metrics.failures, 0, "{name}: {metrics:#?}");
    }
    assert_eq!(
        summary.requests["kept"]
            .stream
            .as_ref()
            .unwrap()
            .messages_per_stream,
        2.0
    );
    all_failed(
        &summary,
        "refused",
        "malformed",
        "did not pick one of the subprotocols offered",
    );
    // Sockets the service opened, by tag: one for all of the kept one's iterations, one per
    // request otherwise.
    let opened = std::fs::read_to_string(&log).unwrap();
    let count = |tag: &str| opened.lines().filter(|l| *l == tag).count() as u64;
    assert_eq!(count("kept"), 1, "{opened}");
    assert!(
        count("fresh") >= summary.requests["fresh"].requests,
        "{opened}"
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn streams_past_a_shell_s_open_files_limit_are_held() {
    let sandbox = Sandbox::new();
    let command = sandbox.demo_command(&[]);
    let spec = sandbox.spec(
        "many",
        &format!(
            "name = \"many\"\n\n[service]\ncommand = {command}\n\
             ready = {{ http = \"/health\", timeout = \"20s\" }}\n\n\
             [load]\nmodel = \"closed\"\nusers = 400\nramp_up = \"500ms\"\nduration = \"2s\"\n\n\
             [[request]]\nname = \"feed\"\npath = \"/events?first=200ms&gap=100ms&count=10\"\n\
             stream = \"sse\"\nmessages = 10\ntimeout = \"5s\"\n\n\
             [gate]\nerror_rate = {{ max = \"0%\" }}\n"
        ),
    );
    // Started from a shell whose soft limit is 256 open files: 400 streams need a socket each
    // in the gate and one more each in the service it starts.
    let gate = sandbox.loadtest();
    let mut limited = std::process::Command::new("bash");
    limited
        .args(["-c", "ulimit -Sn 256 && exec \"$@\"", "bash"])
        .arg(gate.get_program())
        .args(gate.get_args())
        .arg(&spec);
    for (name, value) in gate.get_envs() {
        match value {
            Some(value) => limited.env(name, value),
            None => limited.env_remove(name),
        };
    }
    let run = sandbox.run_command(&mut limited);
    run.expect_code(0);
    let summary = summary_of(&sandbox);
    let feed = &summary.requests["feed"];
    assert_eq!(feed.failures, 0, "{:?}", feed.errors);
    assert!(feed.stream.as_ref().unwrap().streams >= 400, "{feed:#?}");
    sandbox.assert_no_leftover_processes();
}
