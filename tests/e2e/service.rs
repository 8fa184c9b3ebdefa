//! The service under test as a process: a service that cannot start, never becomes ready or dies
//! mid-run fails the gate with exit 3 and its log tail; an interrupted gate exits 130; and after
//! every one of these, no service process is left behind. `--target` tests a running service.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadgate::result::Verdict;
use loadgate_tests::{Fault, Sandbox, wait_for_stderr};

#[test]
fn a_service_that_exits_at_once_fails_the_run_with_its_log_tail() {
    let fault = Fault::new("reads", &["--no-such-flag"], "");
    let run = fault.run(3);
    assert!(
        run.stdout
            .contains("exited with status 2 before it became ready"),
        "{}",
        run.stdout
    );
    // The service's own complaint, from its log.
    assert!(
        run.stdout.contains("unexpected argument '--no-such-flag'"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("SERVICE FAILED"), "{}", run.stdout);
    let junit = fault.sandbox.read_out("junit.xml");
    assert!(
        junit.contains(r#"<error type="service_failed""#) && junit.contains("--no-such-flag"),
        "{junit}"
    );
    assert_eq!(fault.sandbox.summary().exit_code, 3);
    // report.html shows the log tail, as text, in a browser.
    let (charts, dom) =
        crate::report_html::charts_in_browser(&fault.sandbox.out().join("report.html"));
    assert!(charts.is_empty(), "{charts:?}");
    let pre = dom.find("<pre>").map(|at| &dom[at..]).unwrap_or_default();
    assert!(pre.contains("unexpected argument"), "{dom}");
    fault.assert_left_clean();
}

#[test]
fn a_service_that_never_becomes_ready_is_stopped_and_fails_the_run() {
    let fault = Fault::new("reads", &[], "");
    fault.sandbox.edit_spec(
        &fault.spec,
        r#"ready = { http = "/health", timeout = "20s" }"#,
        r#"ready = { http = "/not-a-health-check", timeout = "1s" }"#,
    );
    let run = fault.run(3);
    assert!(run.stdout.contains("not ready after 1s"), "{}", run.stdout);
    assert!(
        run.stdout.contains("404"),
        "the last probe's answer is given:\n{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("demo-service listening on"),
        "the log tail is shown:\n{}",
        run.stdout
    );
    fault.assert_left_clean();
}

#[test]
fn a_service_killed_mid_run_fails_the_run_and_keeps_what_was_measured() {
    let fault = Fault::new("reads", &[], "");
    let sandbox = &fault.sandbox;
    sandbox.edit_spec(&fault.spec, r#"duration = "2s""#, r#"duration = "30s""#);
    let started = Instant::now();
    let mut gate = sandbox
        .loadtest()
        .arg(&fault.spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_for_stderr(&mut gate, "users for 30s");

    // An out-of-memory kill, as the service sees it.
    std::thread::sleep(Duration::from_secs(1));
    let pids = sandbox.service_pids();
    assert_eq!(pids.len(), 1, "{pids:?}");
    let killed = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -KILL {}", pids[0]))
        .status()
        .unwrap();
    assert!(killed.success());

    let code = wait_bounded(&mut gate, Duration::from_secs(30));
    let stdout = std::io::read_to_string(gate.stdout.take().unwrap()).unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(code, Some(3), "{stdout}\n{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the run stops when the service dies, not at its end"
    );
    assert!(
        stdout.contains("killed by signal 9 (SIGKILL)") && stdout.contains("into the run"),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo-service listening on"),
        "the log tail is shown:\n{stdout}"
    );
    let spec = &sandbox.summary().specs[0];
    assert_eq!(spec.verdict, Verdict::ServiceFailed);
    let summary = spec.summary.as_ref().expect("what was measured is kept");
    assert!(summary.total.requests > 0, "{spec:#?}");
    assert!(
        summary.service.as_ref().unwrap().rss_peak_bytes > 0,
        "and the service's figures: {spec:#?}"
    );
    fault.assert_left_clean();
}

#[test]
fn sigint_to_the_gate_stops_the_service_and_exits_130() {
    interrupt_mid_run("INT");
}

#[test]
fn sigterm_to_the_gate_stops_the_service_and_exits_130() {
    interrupt_mid_run("TERM");
}

fn interrupt_mid_run(signal: &str) {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("reads", &[], "");
    sandbox
        .run(&["--update-baselines", spec.to_str().unwrap()])
        .expect_code(0);
    let baseline_file = sandbox.baseline_file("reads");
    let baseline = std::fs::read(&baseline_file).unwrap();
    sandbox.edit_spec(&spec, r#"duration = "2s""#, r#"duration = "45s""#);
    // Even asked to record a baseline, an interrupted run records none.
    let mut gate = sandbox
        .loadtest()
        .arg("--update-baselines")
        .arg(&spec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let rest = wait_for_stderr(&mut gate, "users for 45s");
    assert!(
        !sandbox.leftover_processes().is_empty(),
        "the service runs during the load"
    );
    std::thread::sleep(Duration::from_millis(500));
    // The shell's built-in `kill`: no extra package needed.
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("kill -{signal} {}", gate.id()))
        .status()
        .unwrap();
    assert!(status.success());

    let code = wait_bounded(&mut gate, Duration::from_secs(30));
    let rest = rest.join().unwrap();
    assert_eq!(code, Some(130), "an interrupted gate exits 130:\n{rest}");
    assert!(
        rest.contains(&format!("interrupted by SIG{signal}")),
        "{rest}"
    );
    sandbox.assert_no_leftover_processes();

    // The partial summary is written, marked interrupted, and not judged.
    let summary = sandbox.summary();
    assert_eq!(
        summary.interrupted,
        Some(format!("SIG{signal}")),
        "{summary:#?}"
    );
    assert_eq!(summary.exit_code, 130);
    let spec = &summary.specs[0];
    assert_eq!(spec.verdict, Verdict::Inconclusive);
    assert!(
        spec.reason
            .as_ref()
            .is_some_and(|reason| reason.starts_with(&format!("interrupted by SIG{signal}"))),
        "{spec:#?}"
    );
    assert!(spec.summary.as_ref().unwrap().total.requests > 0);
    assert!(spec.checks.is_empty(), "not judged");
    assert!(summary.baselines_updated.is_empty());
    assert_eq!(
        std::fs::read(&baseline_file).unwrap(),
        baseline,
        "the baseline is untouched"
    );
}

/// Waits for `child`, killing it and failing the test after `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > limit {
            child.kill().ok();
            panic!("the gate did not stop within {limit:?} of the signal");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn target_mode_loads_a_service_that_is_already_running() {
    let sandbox = Sandbox::new();
    let mut service = sandbox.start_demo(&[]);
    let url = service.url.clone();

    // No [service] table: a spec for --target only.
    let spec = sandbox.spec(
        "remote",
        r#"name = "remote"

[load]
model = "closed"
users = 2
duration = "1s"
think_time = "5ms"

[[request]]
name = "status"
path = "/status"
"#,
    );
    let run = sandbox.run(&["--target", &url, spec.to_str().unwrap()]);
    run.expect_code(0);
    let total = sandbox.spec_summary().total;
    assert!(total.requests > 10, "{total:#?}");
    assert!(
        !sandbox.out().join("remote.service.log").exists(),
        "nothing was launched"
    );
    assert_eq!(
        service.child.try_wait().unwrap(),
        None,
        "the gate leaves a service it did not start running"
    );

    // Without --target, a spec with nothing to launch is bad input.
    sandbox.run(&[spec.to_str().unwrap()]).expect_code(2);
}

#[test]
fn a_target_that_is_not_loopback_is_refused_before_any_load() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("remote", &[], "");
    let spec = spec.to_str().unwrap();
    // Documentation addresses (never routed) and a name that does not resolve: nothing is sent.
    for target in [
        "http://192.0.2.1:8080",
        "http://[2001:db8::1]:8080",
        "http://host.invalid:8080",
    ] {
        let started = Instant::now();
        let run = sandbox.run(&["--target", target, spec]);
        run.expect_code(2);
        assert!(
            run.stderr.contains("refusing to send load to")
                && run.stderr.contains("--allow-remote"),
            "{target}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("starting"), "{}", run.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "refused while planning, not after a run"
        );
    }
    // The generator speaks http and https: another scheme is refused as bad input, not tried.
    let run = sandbox.run(&["--target", "ftp://127.0.0.1:8443", spec]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("speaks http and https; `ftp` is not supported"),
        "{}",
        run.stderr
    );
    assert!(!sandbox.out().join("summary.json").exists(), "nothing ran");
}
