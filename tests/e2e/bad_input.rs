//! Bad input is exit 2 with a message that names the file, line and key, before any service is
//! started; a corrupt baseline is reported and left exactly as it was.

use loadgate_tests::Sandbox;

/// A valid spec whose `[service]` would fail loudly if it were ever started.
fn spec_with(load: &str, rest: &str) -> String {
    format!(
        r#"name = "broken"

[service]
command = ["/bin/sh", "-c", "echo started > started.txt; exit 9"]

[load]
model = "closed"
{load}

[[request]]
name = "home"
path = "/"
{rest}"#
    )
}

/// Spec `broken` with `text` is exit 2 before any service starts, and stderr holds `expected`.
#[track_caller]
pub(crate) fn assert_bad_input(sandbox: &Sandbox, text: &str, expected: &[&str]) {
    let file = sandbox.spec("broken", text);
    let run = sandbox.run(&[file.to_str().unwrap()]);
    run.expect_code(2);
    for needle in expected {
        assert!(
            run.stderr.contains(needle),
            "`{needle}` missing from:\n{}",
            run.stderr
        );
    }
    assert!(
        !sandbox.out().join("broken.service.log").exists(),
        "no service is started for a bad spec"
    );
    assert!(
        !sandbox.out().join("summary.json").exists(),
        "no report is written for a bad spec"
    );
}

#[test]
fn an_unknown_key_names_file_line_and_key() {
    let sandbox = Sandbox::new();
    assert_bad_input(
        &sandbox,
        &spec_with("users = 2\nthinktime = \"10ms\"\nduration = \"1s\"", ""),
        &[
            "broken.toml:9:1",
            "key `load.thinktime`",
            "unknown field `thinktime`",
            "think_time",
            "thinktime = \"10ms\"",
        ],
    );
}

#[test]
fn a_bad_duration_names_file_line_and_key() {
    let sandbox = Sandbox::new();
    assert_bad_input(
        &sandbox,
        &spec_with("users = 2\nduration = \"2 parsecs\"", ""),
        &[
            "broken.toml:9:",
            "key `load.duration`",
            "invalid duration `2 parsecs`",
        ],
    );
}

#[test]
fn a_bad_threshold_value_names_file_line_and_key() {
    let sandbox = Sandbox::new();
    assert_bad_input(
        &sandbox,
        &spec_with(
            "users = 2\nduration = \"1s\"",
            "\n[gate]\np90 = { regression = \"ten\" }\n",
        ),
        &[
            "broken.toml:16:",
            "key `gate.p90.regression`",
            "invalid percentage `ten`",
        ],
    );
}

#[test]
fn a_missing_spec_file_is_named() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("loadspec/absent.toml");
    let run = sandbox.run(&[missing.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("spec file not found") && run.stderr.contains("absent.toml"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_unknown_flag_is_bad_input() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["--no-such-flag"]);
    run.expect_code(2);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
}

#[test]
fn a_corrupt_baseline_is_named_and_left_byte_for_byte_unchanged() {
    let sandbox = Sandbox::new();
    let spec = sandbox.quick_spec("reads", &[], "");
    let corrupt_cases: [&[u8]; 3] = [
        b"{\"schema_version\": 1, \"spec\": \"rea",
        b"{\"schema_version\": 1, \"spec\": \"reads\", \"spec_hash\": \"x\"}",
        &[0xff, 0xfe, 0x00, 0x01],
    ];
    for corrupt in corrupt_cases {
        let baseline_file = sandbox.baselines().join("reads.json");
        std::fs::write(&baseline_file, corrupt).unwrap();
        for flags in [&[][..], &["--update-baselines"][..]] {
            let mut args = flags.to_vec();
            args.push(spec.to_str().unwrap());
            let run = sandbox.run(&args);
            run.expect_code(2);
            assert!(
                run.stderr.contains("reads.json"),
                "the message names the baseline file:\n{}",
                run.stderr
            );
            assert_eq!(
                std::fs::read(&baseline_file).unwrap(),
                corrupt,
                "the corrupt baseline was modified"
            );
            assert!(
                !sandbox.out().join("reads.service.log").exists(),
                "no service is started"
            );
        }
    }
    sandbox.assert_no_leftover_processes();
}
