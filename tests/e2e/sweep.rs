//! The capacity sweep: the same load at more and more users, a table of every step, and the
//! capacity it names — checked against a demo service whose saturation point is known
//! (`--max-concurrency 8` with a 20 ms delay: 8 requests at a time, at most 400 per second).

use loadgate_tests::Sandbox;

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

    let sweep = &sandbox.summary()["specs"][0]["summary"]["sweep"];
    let steps = sweep["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5, "{sweep:#}");
    for field in [
        "step",
        "requests",
        "failures",
        "error_rate",
        "rps",
        "latency_us",
        "grew",
        "limits_held",
    ] {
        assert!(steps[0].get(field).is_some(), "no `{field}` in {sweep:#}");
    }
    // The knee is at 8 users; one step either side is within what a busy machine can blur.
    let capacity = sweep["capacity"].as_f64().unwrap();
    assert!(
        [4.0, 8.0, 16.0].contains(&capacity),
        "capacity {capacity}: {sweep:#}"
    );
    // Past the knee, more users bring no more throughput.
    let rps = |i: usize| steps[i]["rps"].as_f64().unwrap();
    assert!(rps(4) < rps(2) * 1.5, "32 users vs 8: {sweep:#}");
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

    // Half the concurrency: the capacity drops and the gate fails.
    let halved = sweep_spec(&sandbox, "2");
    assert_eq!(halved, spec);
    let run = sandbox.run(&[halved.to_str().unwrap()]);
    run.expect_code(1);
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains(r#"message="capacity "#) && junit.contains("exceeds -10%"),
        "{junit}"
    );
    sandbox.assert_no_leftover_processes();
}
