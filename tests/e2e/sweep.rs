//! The capacity sweep: the same load at more and more users, a table of every step, and the
//! capacity it names — checked against a demo service whose saturation point is known
//! (`--max-concurrency 8` with a 20 ms delay: 8 requests at a time, at most 400 per second).

use loadgate_tests::{Sandbox, junit_failures};

fn sweep_spec(sandbox: &Sandbox, max_concurrency: &str) -> std::path::PathBuf {
    sandbox.demo_spec(
        "sweep",
        &["--max-concurrency", max_concurrency, "--delay", "20ms"],
        "model = \"closed\"\nusers = 1\nwarmup = \"300ms\"\nduration = \"1500ms\"",
        "[sweep]\nusers = [2, 4, 8, 16, 32]\nlimit = { p90 = \"1s\", error_rate = \"1%\" }\n\n\
         [gate]\ncapacity = { regression = \"10%\" }\n",
    )
}

#[test]
fn a_sweep_names_the_capacity_of_a_service_that_saturates_and_gates_on_it() {
    let sandbox = Sandbox::new();
    let spec = sweep_spec(&sandbox, "8");
    let run = sandbox.run(&["--update-baselines", spec.to_str().unwrap()]);
    run.expect_code(0);

    let sweep = sandbox.spec_summary().sweep.expect("a sweep");
    let steps: Vec<f64> = sweep.steps.iter().map(|s| s.step).collect();
    assert_eq!(steps, [2.0, 4.0, 8.0, 16.0, 32.0], "{sweep:#?}");
    // The knee is at 8 users; one step either side is within what a busy machine can blur.
    let capacity = sweep.capacity.expect("a capacity");
    assert!(
        [4.0, 8.0, 16.0].contains(&capacity),
        "capacity {capacity}: {sweep:#?}"
    );
    // Past the knee, more users bring no more throughput.
    assert!(
        sweep.steps[4].rps < sweep.steps[2].rps * 1.5,
        "32 users vs 8: {sweep:#?}"
    );
    for heading in [
        "sweep by users:",
        "fail %",
        "req/s",
        &format!("capacity: {capacity} users"),
    ] {
        assert!(
            run.stdout.contains(heading),
            "no `{heading}` on the console:\n{}",
            run.stdout
        );
    }

    // One request at a time: the service saturates before the first step, so the capacity is 2,
    // below any the first run may have blurred to, and the gate fails. (Two at a time could
    // measure 4 if 2 users left a slot idle, as the first run may have measured too.)
    let serial = sweep_spec(&sandbox, "1");
    assert_eq!(serial, spec);
    let run = sandbox.run(&[serial.to_str().unwrap()]);
    run.expect_code(1);
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit_failures(&junit)
            .iter()
            .any(|f| f.starts_with("capacity ") && f.contains("exceeds -10%")),
        "{junit}"
    );
    // The capacity curve, with the first run's as the baseline: one point per step in a
    // browser, and in summary.md a Mermaid chart with both and the table of every step.
    let (charts, _) = crate::report_html::charts_in_browser(&sandbox.out().join("report.html"));
    assert_eq!(
        crate::report_html::points_of(
            &charts,
            "capacity curve: requests/s and latency by users against the baseline"
        ),
        5,
        "{charts:?}"
    );
    let markdown = sandbox.read_out("summary.md");
    for shown in [
        "xychart-beta\n    title \"sweep: requests/s by users (bars: baseline, line: this run)\"",
        "x-axis \"users\" [\"2 capacity\", \"4 ",
        "| users | requests | failures | errors | p50 | p90 | p99 | req/s | |",
        "| 2 | ",
        "| 32 | ",
        "capacity: 2 users",
    ] {
        assert!(
            markdown.contains(shown),
            "no `{shown}` in summary.md:\n{markdown}"
        );
    }
    sandbox.assert_no_leftover_processes();
}
