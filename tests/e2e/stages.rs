//! Stages: the load ramps linearly between levels, users for the closed model and rates for the
//! open one, and the per-second series shows it.

use loadgate_tests::{Sandbox, assert_sent, on_schedule};

#[test]
fn closed_stages_start_and_stop_users() {
    let sandbox = Sandbox::new();
    // Up to 4 users in 1 s, 4 for 1 s, down to none in 1 s.
    let spec = sandbox.demo_spec(
        "ramp",
        &[],
        "model = \"closed\"\nthink_time = \"5ms..15ms\"\n\
         stages = [{ duration = \"1s\", users = 4 }, { duration = \"1s\", users = 4 }, { duration = \"1s\", users = 0 }]",
        "",
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(0);
    assert!(
        run.stderr.contains("up to 4 users for 3s"),
        "{}",
        run.stderr
    );
    let summary = sandbox.spec_summary();
    assert_eq!(
        summary.load.measured_seconds.0, 3.0,
        "the stages make the run's length"
    );
    let active: Vec<u32> = summary.series.iter().map(|p| p.active).collect();
    assert!(active.len() >= 3, "{active:?}");
    // All 4 at the plateau (t = 2 s); at the end (t = 3 s) the level is 0, but the tick may
    // catch the last user still finishing its think time, so at most one.
    assert_eq!(active[1], 4, "{active:?}");
    assert!(active[2] <= 1, "{active:?}");
    assert!(*active.last().unwrap() <= 1, "{active:?}");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn open_stages_ramp_the_rate_and_schedule_exactly_the_profile() {
    // 0 → 200 requests/s in 1 s, then 200/s for 1 s: 100 + 200 requests.
    let (sandbox, _) = on_schedule(false, |sandbox| {
        let spec = sandbox.demo_spec(
            "ramp",
            &[],
            "model = \"open\"\nstages = [{ duration = \"1s\", rate = 200.0 }, { duration = \"1s\", rate = 200.0 }]",
            "",
        );
        sandbox.run(&[spec.to_str().unwrap()])
    });
    let summary = sandbox.spec_summary();
    let schedule = summary.schedule.expect("an open-model schedule");
    // The profile itself, exactly: 300 requests due over the 2 s window.
    assert_eq!(
        schedule.target_rps, 150.0,
        "the profile's mean over the window: {schedule:#?}"
    );
    assert_sent(schedule.sent, 300);
    // The ramp in the per-second series: half the plateau's requests in the first second.
    let series = &summary.series;
    let (first, second) = (series[0].requests, series[1].requests);
    assert!(
        (90..=110).contains(&first) && (185..=215).contains(&second),
        "{series:?}"
    );
    sandbox.assert_no_leftover_processes();
}
