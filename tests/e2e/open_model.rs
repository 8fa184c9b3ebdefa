//! The open model: requests at a fixed rate, latency from each request's intended send time.
//! Against a service that stalls, it shows the stall that a closed model hides (coordinated
//! omission); a rate the generator cannot keep is inconclusive, never a pass.

use loadgate::result::Verdict;
use loadgate_tests::{Sandbox, assert_sent, on_schedule};

/// A spec against the demo service stalling 300 ms every second.
fn stalling_spec(sandbox: &Sandbox, name: &str, load: &str) -> std::path::PathBuf {
    let load = format!("{load}\nwarmup = \"500ms\"\nduration = \"3s\"");
    sandbox.demo_spec(
        name,
        &["--stall-every", "1s", "--stall-for", "300ms"],
        &load,
        "",
    )
}

fn p99_ms(sandbox: &Sandbox) -> f64 {
    sandbox.spec_summary().total.latency_us.p99 as f64 / 1e3
}

#[test]
fn the_open_model_sees_a_stall_the_closed_model_hides() {
    // 200 requests/s: about 30 % of them are due while the service stalls.
    let (sandbox, _) = on_schedule(false, |sandbox| {
        let open = stalling_spec(sandbox, "open", "model = \"open\"\nrate = 200.0");
        sandbox.run(&[open.to_str().unwrap()])
    });
    let open_p99 = p99_ms(&sandbox);
    let schedule = sandbox
        .spec_summary()
        .schedule
        .expect("an open-model schedule");
    assert_sent(schedule.sent, 600);
    // Measured from the actual send, a latency is never above the one from the intended time.
    assert!(
        schedule.uncorrected_latency_us.p99 <= sandbox.spec_summary().total.latency_us.p99,
        "{schedule:#?}"
    );

    // Two users without think time: each is stuck once per stall, among thousands of fast
    // requests, so the stall stays far above their 99th percentile.
    let closed = stalling_spec(&sandbox, "closed", "model = \"closed\"\nusers = 2");
    sandbox.run(&[closed.to_str().unwrap()]).expect_code(0);
    let closed_p99 = p99_ms(&sandbox);

    assert!(
        open_p99 >= 250.0,
        "the open model's p99 reflects the 300 ms stall: {open_p99} ms"
    );
    assert!(
        closed_p99 < 150.0,
        "the closed model's p99 hides it: {closed_p99} ms"
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn the_judged_latency_is_the_service_s_not_the_generator_timer_s() {
    // 500 requests/s: each sender keeps its own time.
    assert_on_time(false, "steady", 500, 1_500);
}

#[test]
fn a_dense_schedule_is_kept_on_time_by_a_thread_of_its_own() {
    // 5 000 requests/s, the least the schedule thread keeps: it spins; no other test measures
    // meanwhile.
    assert_on_time(true, "dense", 5_000, 15_000);
}

/// Runs the demo service at `rate` for 3 s (`due` judged requests) and checks that the sends
/// were on time: the judged latency is the service's, and the console says how far off.
/// With `alone`, the machine is the test's from the start.
fn assert_on_time(alone: bool, name: &str, rate: u32, due: u64) {
    let load = format!("model = \"open\"\nrate = {rate}.0\nwarmup = \"500ms\"\nduration = \"3s\"");
    let (sandbox, run) = on_schedule(alone, |sandbox| {
        let spec = sandbox.demo_spec(name, &[], &load, "");
        sandbox.run(&[spec.to_str().unwrap()])
    });
    let summary = sandbox.spec_summary();
    let schedule = summary.schedule.expect("an open-model schedule");
    assert_sent(schedule.sent, due);
    // From the intended send time, a request's latency holds the generator's own send error
    // too: the sends are on time to within microseconds, so the medians agree. (A wide bound,
    // and relative: a busy machine slows the service and the sends alike. Tokio's timer added
    // a millisecond; scripts/bench-open.py measures the tight figures.)
    let (judged, uncorrected) = (
        summary.total.latency_us.p50,
        schedule.uncorrected_latency_us.p50,
    );
    let bound = 100 + uncorrected / 2;
    assert!(
        uncorrected <= judged && judged - uncorrected <= bound,
        "judged p50 {judged} µs, uncorrected p50 {uncorrected} µs"
    );
    let error = &schedule.send_error_us;
    assert!(
        error.p50 <= bound && error.p50 <= error.p99 && error.p99 <= error.max,
        "{error:?}"
    );
    assert!(
        run.stdout
            .contains(&format!("send error p50 {}µs", error.p50)),
        "{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn senders_keeping_their_own_time_open_the_connections_the_rate_needs_and_no_more() {
    // 400 requests/s answered in 5 ms: 2 in flight on average (Little's law). Each sender
    // holds a connection and a timer; a pool grown per late request would hold hundreds.
    let (sandbox, _) = on_schedule(false, |sandbox| {
        let spec = sandbox.demo_spec(
            "paced",
            &["--delay", "5ms"],
            "model = \"open\"\nrate = 400.0\nwarmup = \"500ms\"\nduration = \"3s\"",
            "",
        );
        sandbox.run(&[spec.to_str().unwrap()])
    });
    let summary = sandbox.spec_summary();
    let schedule = summary.schedule.expect("an open-model schedule");
    assert_sent(schedule.sent, 1_200);
    assert!(
        summary.total.latency_us.p50 >= 5_000,
        "every answer takes the 5 ms delay: {:?}",
        summary.total.latency_us
    );
    let generator = summary.generator.expect("the generator's figures");
    assert!(
        generator.fds_peak < 100,
        "{} descriptors open for 2 requests in flight",
        generator.fds_peak
    );
}

#[test]
fn a_rate_the_generator_cannot_keep_is_inconclusive_and_never_a_baseline() {
    // The flood takes every core it can get: no other test measures meanwhile.
    let sandbox = Sandbox::alone();
    let spec = sandbox.demo_spec(
        "flood",
        &[],
        "model = \"open\"\nrate = 1000000.0\nwarmup = \"300ms\"\nduration = \"2s\"",
        "[gate]\np99 = { max = \"10s\" }\n",
    );

    // Beyond the sane bound of 50 000 requests/s: refused unless asked for.
    let refused = sandbox.run(&[spec.to_str().unwrap()]);
    refused.expect_code(2);
    assert!(
        refused.stderr.contains("--allow-large-load"),
        "{}",
        refused.stderr
    );

    let run = sandbox.run(&[
        "--allow-large-load",
        "--update-baselines",
        spec.to_str().unwrap(),
    ]);
    run.expect_code(4);
    assert!(
        run.stdout.contains("did not keep its schedule")
            && run.stdout.contains("of the 1000000 asked"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("INCONCLUSIVE"), "{}", run.stdout);
    let summary = sandbox.summary();
    assert_eq!(
        (summary.verdict, summary.exit_code),
        (Verdict::Inconclusive, 4)
    );
    assert!(
        !sandbox.baselines().join("flood.json").exists(),
        "an untrustworthy run is no baseline"
    );
    let junit = sandbox.read_out("junit.xml");
    assert!(junit.contains(r#"<error type="inconclusive""#), "{junit}");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn idle_cpus_kept_awake_for_a_run_are_recorded_in_its_summary_and_released_after_it() {
    // The hold is the whole machine's: no other test runs meanwhile.
    let sandbox = Sandbox::alone();
    // A warmup: the senders starting up are not judged.
    let load = "model = \"open\"\nrate = 200.0\nwarmup = \"500ms\"\nduration = \"1s\"";
    let spec = sandbox.demo_spec("awake", &[], load, "");
    let run = sandbox.run(&[spec.to_str().unwrap(), "--keep-cpus-awake"]);
    let limit = || {
        std::fs::read("/dev/cpu_dma_latency")
            .ok()
            .map(|bytes| i32::from_ne_bytes(bytes[..4].try_into().unwrap()))
    };
    let permitted = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")
        .is_ok();
    if permitted {
        // With the machine to itself, 200 requests/s keep their schedule: exit 0, nothing less.
        run.expect_code(0);
        assert!(sandbox.summary().provenance.host.cpus_kept_awake, "{run:?}");
        assert_ne!(limit(), Some(0), "the hold ended with the run");
        sandbox.run(&[spec.to_str().unwrap()]).expect_code(0);
        assert!(!sandbox.summary().provenance.host.cpus_kept_awake);
    } else {
        run.expect_code(2);
        assert!(
            run.stderr
                .contains("--keep-cpus-awake: cannot hold /dev/cpu_dma_latency"),
            "{}",
            run.stderr
        );
    }
    sandbox.assert_no_leftover_processes();
}
