//! Faults, each with its exit code and a clear message, no process left behind and the baseline
//! byte for byte as it was: a service that drops connections, one that answers garbage, one
//! that never answers, a port already taken, an output directory that cannot be written, a
//! disk that fills up, and two gates at once. (A service that exits at start, is never ready or
//! dies mid-run, and SIGINT/SIGTERM to the gate, are in `service.rs`.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadgate_tests::{Sandbox, bins};

const GATE: &str = "[gate]\nerror_rate = { max = \"1%\" }\n";

#[test]
fn a_service_that_drops_connections_fails_the_error_rate_with_io_errors() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("drops");
    let spec = sandbox.quick_spec("drops", &["--drop-rate", "0.2"], GATE);
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(1);
    let total = &sandbox.summary()["specs"][0]["summary"]["total"];
    let io = total["errors"]["io"].as_u64().unwrap_or(0);
    let requests = total["requests"].as_u64().unwrap();
    // About a fifth, within wide bounds.
    assert!(io * 20 > requests && io * 3 < requests, "{total:#}");
    assert!(
        run.stdout.contains("io: the connection broke"),
        "the error is spelled out:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("error_rate"), "{}", run.stdout);
    sandbox.assert_no_leftover_processes();
    sandbox.assert_baseline_untouched("drops", &baseline);
}

#[test]
fn a_service_that_answers_garbage_is_all_errors_not_a_hang() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("garbage");
    let spec = sandbox.quick_spec("garbage", &["--garbage"], GATE);
    // Garbage cannot answer an HTTP readiness probe: ready once the port accepts.
    sandbox.edit_spec(
        &spec,
        "ready = { http = \"/health\", timeout = \"20s\" }",
        "ready = { timeout = \"20s\" }",
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(1);
    let total = &sandbox.summary()["specs"][0]["summary"]["total"];
    assert!(total["requests"].as_u64().unwrap() > 0, "{total:#}");
    assert_eq!(total["failures"], total["requests"], "{total:#}");
    let (io, requests) = (
        total["errors"]["io"].as_u64().unwrap(),
        total["requests"].as_u64().unwrap(),
    );
    assert!(
        io * 10 >= requests * 9,
        "broken connections, mostly: {total:#}"
    );
    assert!(
        run.stdout.contains("io: the answer is not HTTP/1.1")
            && run.stdout.contains("error_rate 100.00% exceeds max 1.00%"),
        "{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
    sandbox.assert_baseline_untouched("garbage", &baseline);
}

#[test]
fn a_service_that_never_answers_ends_within_its_bound_as_timeouts() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("silent");
    // Every request waits for a stall that lasts an hour; /health is spared, so it is ready.
    let spec = sandbox.quick_spec(
        "silent",
        &["--stall-every", "1h", "--stall-for", "1h"],
        GATE,
    );
    sandbox.edit_spec(
        &spec,
        "[load]\n",
        "[defaults]\ntimeout = \"1s\"\n\n[load]\n",
    );
    let started = Instant::now();
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    let took = started.elapsed();
    run.expect_code(1);
    // Warmup 0.3 s + duration 2 s + timeout 1 s + grace: far below this wide bound.
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
    let total = &sandbox.summary()["specs"][0]["summary"]["total"];
    assert!(total["requests"].as_u64().unwrap() > 0, "{total:#}");
    assert_eq!(total["errors"]["timeout"], total["requests"], "{total:#}");
    assert!(
        run.stdout.contains("timeout: no answer within 1s"),
        "{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
    sandbox.assert_baseline_untouched("silent", &baseline);
}

#[test]
fn a_port_already_taken_fails_the_service_with_its_log() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("taken");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let spec = sandbox.quick_spec("taken", &[], GATE);
    sandbox.edit_spec(
        &spec,
        "\"--port\", \"{port}\"",
        &format!("\"--port\", \"{port}\""),
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(3);
    assert!(
        run.stdout.contains("before it became ready")
            && run
                .stdout
                .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Address already in use"),
        "{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
    sandbox.assert_baseline_untouched("taken", &baseline);
}

#[test]
fn an_output_directory_that_cannot_be_written_is_refused_before_the_run() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("out");
    let spec = sandbox.quick_spec("out", &[], GATE);
    // A directory inside a regular file cannot exist, whoever runs the test (root included).
    let file = sandbox.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = file.join("out");
    let run = sandbox.run_command(
        Command::new(&bins().xtask)
            .args([
                "loadtest",
                "--no-build",
                "--update-baselines",
                "--baselines",
            ])
            .arg(sandbox.baselines())
            .arg("--out")
            .arg(&out)
            .arg(&spec),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "cannot create the output directory {}",
            out.display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("starting"),
        "refused before the service starts: {}",
        run.stderr
    );
    sandbox.assert_no_leftover_processes();
    sandbox.assert_baseline_untouched("out", &baseline);
}

#[test]
fn a_full_disk_names_the_file_and_never_half_writes_a_baseline() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("full");
    let spec = sandbox.quick_spec("full", &[], GATE);
    // A file-size limit plays the full disk: a write past 1 KiB fails with EFBIG ("File too
    // large"), with SIGXFSZ ignored so the write fails instead of the process dying.
    let script = format!(
        "trap '' XFSZ; ulimit -f 1; exec {} loadtest --no-build --update-baselines --baselines {} --out {} {}",
        bins().xtask.display(),
        sandbox.baselines().display(),
        sandbox.out().display(),
        spec.display()
    );
    let run = sandbox.run_command(Command::new("bash").args(["-c", &script]));
    run.expect_code(2);
    assert!(
        run.stderr.contains("cannot write ") && run.stderr.contains("File too large"),
        "{}",
        run.stderr
    );
    sandbox.assert_no_leftover_processes();
    sandbox.assert_baseline_untouched("full", &baseline);
}

#[test]
fn two_gates_at_once_take_turns_on_one_output_directory() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("twice", &[], GATE);
    let start = || {
        sandbox
            .loadtest()
            .arg("--update-baselines")
            .arg(&spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    let waited = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("another gate is writing"))
        .count();
    assert_eq!(waited, 1, "one gate waited for the other: {outputs:?}");
    // Both complete, neither mixed into the other: whole JSON, one service log per run.
    let summary = sandbox.summary();
    assert_eq!(summary["verdict"], "pass");
    let log = sandbox.read_out("twice.service.log");
    assert_eq!(log.matches("demo-service listening on").count(), 1, "{log}");
    let baseline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sandbox.baseline_file("twice")).unwrap())
            .unwrap();
    assert_eq!(baseline["spec"], "twice");
    sandbox.assert_no_leftover_processes();
}
