//! Stages: the load ramps linearly between levels, users for the closed model and rates for the
//! open one, and the per-second series shows it.

use loadgate_tests::Sandbox;

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
    let summary = &sandbox.summary()["specs"][0]["summary"];
    assert_eq!(
        summary["load"]["measured_seconds"], 3.0,
        "the stages make the run's length"
    );
    let active: Vec<u64> = summary["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["active"].as_u64().unwrap())
        .collect();
    assert!(active.len() >= 3, "{active:?}");
    // All 4 at the plateau (t = 2 s); at the end (t = 3 s) the level is 0, but the tick may
    // catch the last user still finishing its think time, so at most one.
    assert_eq!(active[1], 4, "{active:?}");
    assert!(active[2] <= 1, "{active:?}");
    assert!(*active.last().unwrap() <= 1, "{active:?}");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn open_stages_ramp_the_rate_and_send_exactly_the_profile() {
    let sandbox = Sandbox::new();
    // 0 → 200 requests/s in 1 s, then 200/s for 1 s: 100 + 200 requests.
    let spec = sandbox.demo_spec(
        "ramp",
        &[],
        "model = \"open\"\nstages = [{ duration = \"1s\", rate = 200.0 }, { duration = \"1s\", rate = 200.0 }]",
        "",
    );
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    // 4 only if this busy machine delayed the generator past its schedule.
    assert!(matches!(run.code, Some(0 | 4)), "{run:?}");
    let summary = &sandbox.summary()["specs"][0]["summary"];
    let schedule = &summary["schedule"];
    assert_eq!(schedule["sent"], 300, "{schedule:#}");
    assert_eq!(
        schedule["target_rps"], 150.0,
        "the profile's mean over the window: {schedule:#}"
    );
    let series = summary["series"].as_array().unwrap();
    let first = series[0]["requests"].as_u64().unwrap();
    let second = series[1]["requests"].as_u64().unwrap();
    assert!(
        (90..=110).contains(&first) && (185..=215).contains(&second),
        "{series:?}"
    );
    sandbox.assert_no_leftover_processes();
}
