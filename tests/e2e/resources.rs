//! The service's own memory and CPU, measured on its process tree and gated like latency. The
//! regressions are injected for real with the demo service's knobs, and each is far larger than
//! the threshold it must break, so machine noise cannot decide these verdicts.

use loadgate_tests::{Sandbox, junit_failures};

/// The CPU check counts changes beyond 1 ms a request only: the injected one is 2 ms, and the runs
/// that must pass then cannot fail on what a busy machine does to a debug service's few hundred
/// µs a request (50 % of them is within the default floor of 1 µs).
const GATE: &str = r#"[gate]
service_rss_peak = { regression = "20%", max = "1GiB" }
service_rss_growth = { max = "50MiB" }
service_cpu_per_request = { regression = "50%", noise_floor = "1ms" }
"#;

#[test]
fn a_leaking_service_fails_the_memory_checks_with_both_peaks() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("leaky", &[], GATE);
    let spec = spec.to_str().unwrap();
    sandbox.run(&["--update-baselines", spec]).expect_code(0);
    sandbox.run(&[spec]).expect_code(0);

    // 4 users at ~10 ms per request for 2 s: hundreds of requests × 512 KiB ≫ 50 MiB.
    let leaking = sandbox.run_command(
        sandbox
            .loadtest()
            .arg(spec)
            .env("DEMO_SERVICE_LEAK_PER_REQUEST", "512KiB"),
    );
    leaking.expect_code(1);
    let junit = sandbox.read_out("junit.xml");
    let failures = junit_failures(&junit);
    let peak = failures
        .iter()
        .find(|f| f.starts_with("service_rss_peak "))
        .unwrap_or_else(|| panic!("no service_rss_peak failure:\n{junit}"));
    // e.g. `service_rss_peak 9.8 MiB -&gt; 412.3 MiB (+4107.1%) exceeds +20%`
    assert_eq!(
        peak.matches(" MiB").count(),
        2,
        "baseline and current peak RSS: {peak}"
    );
    assert!(
        peak.contains(" -&gt; ") && peak.contains("exceeds +20%"),
        "{peak}"
    );
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("service_rss_growth ") && f.ends_with("exceeds max 50.0 MiB")),
        "{junit}"
    );
    let service = sandbox
        .spec_summary()
        .service
        .expect("the service's figures");
    assert!(service.rss_growth_bytes > 50 << 20, "{service:#?}");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn costlier_requests_fail_the_cpu_per_request_check() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("costly", &[], GATE);
    let spec = spec.to_str().unwrap();
    let with_cpu = |cost: &str| {
        let mut command = sandbox.loadtest();
        command.arg(spec).env("DEMO_SERVICE_CPU_PER_REQUEST", cost);
        command
    };
    sandbox
        .run_command(with_cpu("2ms").arg("--update-baselines"))
        .expect_code(0);
    let base_cpu = sandbox
        .baseline("costly")
        .summary
        .service
        .expect("the service's figures")
        .cpu_per_request_us;
    assert!(
        base_cpu >= 2_000.0,
        "each request burns 2 ms of CPU, measured {base_cpu} µs"
    );

    sandbox.run_command(&mut with_cpu("2ms")).expect_code(0);
    let costlier = sandbox.run_command(&mut with_cpu("4ms"));
    costlier.expect_code(1);
    assert!(
        costlier
            .stdout
            .contains("✗ total service_cpu_per_request regression"),
        "{}",
        costlier.stdout
    );
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains("message=\"service_cpu_per_request "),
        "{junit}"
    );
}

#[test]
fn a_forking_service_is_measured_as_its_whole_tree_and_reported_everywhere() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("workers", &["--workers", "2"], "");
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(0);

    let summary = sandbox.spec_summary();
    let service = summary.service.as_ref().expect("the service's figures");
    assert_eq!(
        service.processes_peak, 3,
        "the supervisor and its 2 workers: {service:#?}"
    );
    // Each process of the demo service has at least a megabyte resident.
    assert!(service.rss_peak_bytes > 3 << 20, "{service:#?}");
    assert!(service.cpu_seconds > 0.0, "{service:#?}");
    assert!(
        summary.service_series.len() >= 20,
        "2.3 s of load sampled every 100 ms: {}",
        summary.service_series.len()
    );
    let generator = summary.generator.as_ref().expect("the generator's figures");
    assert!(generator.cpu_per_request_us > 0.0, "{generator:#?}");
    // Both read from the processes' CPU clocks, to the nanosecond, not in ticks.
    let json = sandbox.summary_json();
    for who in ["service", "generator"] {
        assert_eq!(
            json["specs"][0]["summary"][who]["cpu_clock"], "process-clock",
            "{who}"
        );
    }

    // The figures are on the console, in junit.xml and in summary.md.
    for (place, text) in [
        ("console", run.stdout.clone()),
        ("junit.xml", sandbox.read_out("junit.xml")),
        ("summary.md", sandbox.read_out("summary.md")),
    ] {
        for who in ["service", "generator"] {
            assert!(
                text.contains(who) && text.contains("RSS peak") && text.contains("/req"),
                "{place}:\n{text}"
            );
        }
        assert!(text.contains("3 processes"), "{place}:\n{text}");
    }
    sandbox.assert_no_leftover_processes();
}
