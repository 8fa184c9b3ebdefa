//! Faults, each with its exit code and a clear message, no process left behind and the baseline
//! byte for byte as it was: a service that drops connections, one that answers garbage, one
//! that never answers, a port already taken, an output directory that cannot be written, a
//! disk that fills up, and two gates at once. (A service that exits at start, is never ready or
//! dies mid-run, and SIGINT/SIGTERM to the gate, are in `service.rs`.)

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadgate::result::Verdict;
use loadgate_tests::{Fault, Sandbox, bins, wait_for_stderr};

const GATE: &str = "[gate]\nerror_rate = { max = \"1%\" }\n";

#[test]
fn a_service_that_drops_connections_fails_the_error_rate_with_io_errors() {
    let fault = Fault::new("drops", &["--drop-rate", "0.2"], GATE);
    let run = fault.run(1);
    let total = fault.sandbox.spec_summary().total;
    let io = total.errors.get("io").copied().unwrap_or(0);
    // About a fifth, within wide bounds.
    assert!(
        io * 20 > total.requests && io * 3 < total.requests,
        "{total:#?}"
    );
    assert!(
        run.stdout.contains("io: the connection broke"),
        "the error is spelled out:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("error_rate"), "{}", run.stdout);
    fault.assert_left_clean();
}

#[test]
fn a_service_that_answers_garbage_is_all_errors_not_a_hang() {
    let fault = Fault::new("garbage", &["--garbage"], GATE);
    // Garbage cannot answer an HTTP readiness probe: ready once the port accepts.
    fault.sandbox.edit_spec(
        &fault.spec,
        "ready = { http = \"/health\", timeout = \"20s\" }",
        "ready = { timeout = \"20s\" }",
    );
    let run = fault.run(1);
    let total = fault.sandbox.spec_summary().total;
    assert!(total.requests > 0, "{total:#?}");
    assert_eq!(total.failures, total.requests, "{total:#?}");
    assert!(
        total.errors["io"] * 10 >= total.requests * 9,
        "broken connections, mostly: {total:#?}"
    );
    assert!(
        run.stdout.contains("io: the answer is not HTTP/1.1")
            && run.stdout.contains("error_rate 100.00% exceeds max 1.00%"),
        "{}",
        run.stdout
    );
    fault.assert_left_clean();
}

#[test]
fn a_service_that_never_answers_ends_within_its_bound_as_timeouts() {
    // Every request waits for a stall that lasts an hour; /health is spared, so it is ready.
    let fault = Fault::new(
        "silent",
        &["--stall-every", "1h", "--stall-for", "1h"],
        GATE,
    );
    fault.sandbox.edit_spec(
        &fault.spec,
        "[load]\n",
        "[defaults]\ntimeout = \"1s\"\n\n[load]\n",
    );
    let started = Instant::now();
    let run = fault.run(1);
    let took = started.elapsed();
    // Warmup 0.3 s + duration 2 s + timeout 1 s + grace: far below this wide bound.
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
    let total = fault.sandbox.spec_summary().total;
    assert!(total.requests > 0, "{total:#?}");
    assert_eq!(total.errors["timeout"], total.requests, "{total:#?}");
    assert!(
        run.stdout.contains("timeout: no answer within 1s"),
        "{}",
        run.stdout
    );
    fault.assert_left_clean();
}

#[test]
fn a_port_already_taken_fails_the_service_with_its_log() {
    let fault = Fault::new("taken", &[], GATE);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    fault.sandbox.edit_spec(
        &fault.spec,
        "\"--port\", \"{port}\"",
        &format!("\"--port\", \"{port}\""),
    );
    let run = fault.run(3);
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
    fault.assert_left_clean();
}

#[test]
fn an_output_directory_that_cannot_be_written_is_refused_before_the_run() {
    let fault = Fault::new("out", &[], GATE);
    let sandbox = &fault.sandbox;
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
            .arg(&fault.spec),
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
    fault.assert_left_clean();
}

#[test]
fn a_full_disk_names_the_file_and_never_half_writes_a_baseline() {
    let fault = Fault::new("full", &[], GATE);
    let sandbox = &fault.sandbox;
    // A file-size limit plays the full disk: a write past 1 KiB fails with EFBIG ("File too
    // large"), with SIGXFSZ ignored so the write fails instead of the process dying.
    let script = format!(
        "trap '' XFSZ; ulimit -f 1; exec {} loadtest --no-build --update-baselines --baselines {} --out {} {}",
        bins().xtask.display(),
        sandbox.baselines().display(),
        sandbox.out().display(),
        fault.spec.display()
    );
    let run = sandbox.run_command(Command::new("bash").args(["-c", &script]));
    run.expect_code(5);
    assert!(
        run.stderr.contains("cannot write ") && run.stderr.contains("File too large"),
        "{}",
        run.stderr
    );
    fault.assert_left_clean();
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
    // The second starts once the first holds the directory: the first names no other gate
    // before it starts its service, and then has its whole run to go.
    let mut first = start();
    let first_rest = wait_for_stderr(&mut first, "starting `");
    let second = start();
    let second_output = second.wait_with_output().unwrap();
    let first_status = first.wait().unwrap();
    let first_stderr = first_rest.join().unwrap();
    assert_eq!(first_status.code(), Some(0), "{first_stderr}");
    assert_eq!(second_output.status.code(), Some(0), "{second_output:?}");
    assert!(
        String::from_utf8_lossy(&second_output.stderr).contains("another gate is writing"),
        "the second gate waited for the first: {second_output:?}"
    );
    // Both complete, neither mixed into the other: whole JSON, one service log per run.
    assert_eq!(sandbox.summary().verdict, Verdict::Pass);
    let log = sandbox.read_out("twice.service.log");
    assert_eq!(log.matches("demo-service listening on").count(), 1, "{log}");
    assert_eq!(sandbox.baseline("twice").spec, "twice");
    sandbox.assert_no_leftover_processes();
}
