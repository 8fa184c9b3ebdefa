//! `[cost]` end to end, under the real Valgrind: instructions per request recorded and judged,
//! a costlier handler failing with its function first in every report, both sides of
//! `--against` counted, and the faults (Valgrind missing, `--target`, a service that fails
//! under Valgrind, an interrupt while counting) each with its exit code, its words and no
//! process left behind.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use loadgate::result::Verdict;
use loadgate_tests::{
    Sandbox, bins, interrupt_and_wait, junit_failures, toml_array, wait_for_stderr,
};

/// 1 % of `/` is about 160 instructions; this is far more, and far beyond any noise.
const COSTLIER: &str = "/=400";

const COST: &str = "[cost]\nrequests = 200\nwarmup_requests = 10\n\n\
                    [gate]\ninstructions = { regression = \"1%\" }\n\n\
                    [gate.request.home]\ninstructions = { regression = \"1%\" }\n";

fn cost_spec(sandbox: &Sandbox, name: &str) -> PathBuf {
    sandbox.demo_spec(
        name,
        &[],
        "users = 2\nwarmup = \"0s\"\nduration = \"500ms\"",
        COST,
    )
}

#[test]
fn instructions_are_recorded_and_a_costlier_handler_fails_with_its_function_first() {
    let sandbox = Sandbox::new();
    let spec = cost_spec(&sandbox, "cost");
    let spec = spec.to_str().unwrap();
    sandbox.run(&["--update-baselines", spec]).expect_code(0);
    let recorded = sandbox
        .baseline("cost")
        .summary
        .cost
        .expect("instructions in the baseline");
    let home = recorded.by_request["home"].instructions;
    assert!((1_000.0..5_000_000.0).contains(&home), "{recorded:#?}");
    assert!(
        recorded.by_request["home"].functions.len() > 10,
        "{recorded:#?}"
    );

    // Unchanged: the same count, within the noise floor.
    let unchanged = sandbox.run(&[spec]);
    unchanged.expect_code(0);
    let again = sandbox.spec_summary().cost.unwrap().by_request["home"].instructions;
    assert!((again - home).abs() / home < 0.01, "{home} then {again}");

    let costlier = sandbox.run_command(
        sandbox
            .loadtest()
            .arg(spec)
            .env("DEMO_SERVICE_WORK", COSTLIER),
    );
    costlier.expect_code(1);
    let result = &sandbox.summary().specs[0];
    assert_eq!(result.verdict, Verdict::Fail);
    let home_change = result.cost.iter().find(|c| c.request == "home").unwrap();
    assert_eq!(
        home_change.functions[0].function, "demo_service::extra_work",
        "{home_change:#?}"
    );
    // Where a reader looks: the console, summary.md, report.html and junit.xml.
    let stdout = &costlier.stdout;
    let table = stdout
        .split("where home's instructions went")
        .nth(1)
        .unwrap_or_else(|| panic!("no function table:\n{stdout}"));
    let first_row = table.lines().nth(2).unwrap();
    assert!(
        first_row
            .trim_start()
            .starts_with("demo_service::extra_work"),
        "{stdout}"
    );
    assert!(
        stdout.contains("✗ home instructions regression"),
        "{stdout}"
    );
    let markdown = sandbox.read_out("summary.md");
    let functions = markdown
        .split("Where `home`'s instructions went")
        .nth(1)
        .unwrap_or_else(|| panic!("{markdown}"));
    assert!(
        functions
            .lines()
            .nth(4)
            .unwrap()
            .starts_with("| `demo_service::extra_work` |"),
        "{markdown}"
    );
    assert!(
        sandbox
            .read_out("report.html")
            .contains("demo_service::extra_work")
    );
    let junit = sandbox.read_out("junit.xml");
    assert!(
        junit.contains("<testcase name=\"home instructions regression\"")
            && junit_failures(&junit)
                .iter()
                .any(|message| message.starts_with("instructions ")
                    && message.contains("exceeds +1%")),
        "{junit}"
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn no_cost_skips_the_phase_and_says_so() {
    let sandbox = Sandbox::new();
    let spec = cost_spec(&sandbox, "quick");
    let run = sandbox.run(&["--no-cost", spec.to_str().unwrap()]);
    run.expect_code(0);
    let result = &sandbox.summary().specs[0];
    assert!(result.summary.as_ref().unwrap().cost.is_none());
    assert!(
        result
            .notes
            .iter()
            .any(|n| n.contains("skipped (--no-cost)")),
        "{:?}",
        result.notes
    );
    assert!(!run.stderr.contains("Valgrind"), "{}", run.stderr);
    assert!(
        !result
            .checks
            .iter()
            .any(|c| c.metric == loadgate::result::Metric::Instructions),
        "{:?}",
        result.checks
    );
}

#[test]
fn without_valgrind_a_cost_spec_is_bad_input_naming_what_to_install() {
    let sandbox = Sandbox::new();
    let spec = cost_spec(&sandbox, "novalgrind");
    // A PATH with git (for the run's provenance) and nothing else.
    let tools = sandbox.path().join("path");
    std::fs::create_dir_all(&tools).unwrap();
    let git_path = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v git"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::os::unix::fs::symlink(git_path.trim(), tools.join("git")).unwrap();
    let run = sandbox.run_command(sandbox.loadtest().arg(&spec).env("PATH", &tools));
    run.expect_code(2);
    assert!(
        run.stderr.contains("`valgrind` is not on PATH")
            && run.stderr.contains("apt-get install valgrind")
            && run.stderr.contains("--no-cost"),
        "{}",
        run.stderr
    );
    assert!(
        !sandbox.out().join("novalgrind.service.log").exists(),
        "nothing ran"
    );
}

#[test]
fn a_cost_spec_with_target_is_bad_input() {
    let sandbox = Sandbox::new();
    let service = sandbox.start_demo(&[]);
    let spec = cost_spec(&sandbox, "targeted");
    let run = sandbox.run(&["--target", &service.url, spec.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("[cost] launches the service under Valgrind")
            && run.stderr.contains("--no-cost"),
        "{}",
        run.stderr
    );
}

/// A service that refuses to run under Valgrind (it sees Valgrind's preload library).
fn refusing_spec(sandbox: &Sandbox, name: &str) -> PathBuf {
    let script = format!(
        "case \"$LD_PRELOAD\" in *vgpreload*) echo 'refusing to run under valgrind' >&2; exit 7;; esac; \
         exec {} --port \"$1\"",
        bins().demo_service.display()
    );
    let command = toml_array(&[
        "sh".into(),
        "-c".into(),
        script,
        "sh".into(),
        "{port}".into(),
    ]);
    sandbox.spec(
        name,
        &format!(
            "name = \"{name}\"\n[service]\ncommand = {command}\nready = {{ http = \"/health\", timeout = \"20s\" }}\n\
             [load]\nusers = 1\nduration = \"300ms\"\n[[request]]\nname = \"home\"\npath = \"/\"\n{COST}"
        ),
    )
}

#[test]
fn a_service_that_fails_under_valgrind_is_a_service_failure_with_its_log_tail() {
    let sandbox = Sandbox::new();
    let baseline = sandbox.plant_baseline("refusing");
    let spec = refusing_spec(&sandbox, "refusing");
    let run = sandbox.run(&[spec.to_str().unwrap()]);
    run.expect_code(3);
    assert!(
        run.stdout
            .contains("under Valgrind, the service exited with status 7")
            && run.stdout.contains("refusing to run under valgrind"),
        "{}",
        run.stdout
    );
    let result = &sandbox.summary().specs[0];
    assert_eq!(result.verdict, Verdict::ServiceFailed);
    assert!(result.summary.is_some(), "the load's figures are kept");
    sandbox.assert_baseline_untouched("refusing", &baseline);
    sandbox.assert_no_leftover_processes();
}

#[test]
fn sigint_while_counting_stops_valgrind_and_the_service() {
    let sandbox = Sandbox::new();
    let spec = cost_spec(&sandbox, "counting");
    // So many requests that the counting outlasts the test.
    sandbox.edit_spec(&spec, "requests = 200", "requests = 100000");
    let mut gate = sandbox
        .loadtest()
        .arg(&spec)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = wait_for_stderr(&mut gate, "under Valgrind (Callgrind) for [cost]");
    // Until Valgrind runs the service.
    let valgrind = |sandbox: &Sandbox| {
        sandbox
            .leftover_processes()
            .into_iter()
            .any(|(_, cmdline)| cmdline.contains("--tool=callgrind"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !valgrind(&sandbox) {
        assert!(
            std::time::Instant::now() < deadline,
            "Valgrind never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    interrupt_and_wait(&mut gate, stderr);
    assert!(!valgrind(&sandbox), "Valgrind outlived the run");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn against_a_revision_counts_both_sides_and_names_the_function_that_changed() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path();
    // The service is started by the revision's own script: the base runs the plain service,
    // this revision a costlier `/`.
    let command = sandbox.serve_script("");
    let spec = sandbox.spec(
        "ab-cost",
        &format!(
            "name = \"ab-cost\"\n[service]\ncommand = {command}\nready = {{ http = \"/health\", timeout = \"20s\" }}\n\
             [load]\nusers = 1\nwarmup = \"0s\"\nduration = \"200ms\"\n\
             [[request]]\nname = \"home\"\npath = \"/\"\n{COST}"
        ),
    );
    sandbox.commit_base_then_costlier(COSTLIER);

    let run = sandbox.run_command(sandbox.loadtest().args([
        "--root",
        dir.to_str().unwrap(),
        "--against",
        "HEAD~1",
        spec.to_str().unwrap(),
    ]));
    run.expect_code(1);
    // Both sides were counted, the base first.
    let counted: Vec<&str> = run.stderr.lines().filter(|l| l.contains("costs")).collect();
    assert_eq!(counted.len(), 2, "{}", run.stderr);
    assert!(counted[0].contains("HEAD~1: home costs"), "{counted:?}");
    let result = &sandbox.summary().specs[0];
    let home = &result.cost[0];
    let base = home.baseline.expect("the base revision's count");
    assert!(home.current > base * 1.05, "{home:#?}");
    assert_eq!(
        home.functions[0].function, "demo_service::extra_work",
        "{home:#?}"
    );
    assert!(
        run.stdout.contains("✗ home instructions regression"),
        "{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn a_service_that_forks_workers_is_counted_over_its_process_tree() {
    let sandbox = Sandbox::new();
    // The supervisor forks two workers that answer; it answers nothing itself.
    let spec = sandbox.demo_spec(
        "workers",
        &["--workers", "2"],
        "users = 1\nwarmup = \"0s\"\nduration = \"300ms\"",
        COST,
    );
    sandbox.run(&[spec.to_str().unwrap()]).expect_code(0);
    let cost = sandbox.spec_summary().cost.expect("instructions counted");
    let home = &cost.by_request["home"];
    // What a worker executes to answer `/`, not an idle supervisor's few hundred.
    assert!(home.instructions > 5_000.0, "{cost:#?}");
    assert!(
        home.functions
            .iter()
            .any(|f| f.function.starts_with("demo_service::") || f.function.contains("axum")),
        "{cost:#?}"
    );
    sandbox.assert_no_leftover_processes();
}
