//! `--profile` end to end, under the real `perf`: a revision whose `/` does extra work in a
//! function of its own (`demo_service::extra_work`, `#[inline(never)]`) fails against its base,
//! and that function is named first where a reviewer looks (summary.md's table, the
//! differential flame graph inside report.html, drawn in a browser); the same against a profile
//! stored beside the baseline; and without `perf` the verdict is the same, with a note.

use std::path::{Path, PathBuf};
use std::process::Command;

use loadgate_tests::SUMMARY_SCHEMA_FILE;
use loadgate_tests::{Sandbox, assert_valid};

/// Rounds of `extra_work` per request to `/`: milliseconds of CPU, far beyond the rest of a
/// request, so the function's share of the samples is most of them.
const COSTLIER: &str = "/=300000";

const FUNCTION: &str = "demo_service::extra_work";

/// A spec of `/` alone from 2 users, judged on p90 (the costlier revision is many times slower).
fn spec_text(name: &str, command: &str) -> String {
    format!(
        "name = \"{name}\"\n[service]\ncommand = {command}\nready = {{ http = \"/health\", timeout = \"20s\" }}\n\
         [load]\nusers = 2\nwarmup = \"200ms\"\nduration = \"1s\"\n\
         [[request]]\nname = \"home\"\npath = \"/\"\n\
         [gate]\np90 = {{ regression = \"25%\" }}\n"
    )
}

/// The rows of summary.md's profile table, as written.
fn profile_table(markdown: &str) -> Vec<&str> {
    markdown
        .split("The service's CPU by function")
        .nth(1)
        .unwrap_or_else(|| panic!("no profile table:\n{markdown}"))
        .lines()
        .skip(4)
        .take_while(|line| line.starts_with('|'))
        .collect()
}

/// The function's row among the first rows of the table: first in a release build; in the
/// tests' debug build `core::hint::black_box` is a call of its own inside it and may take a
/// share as large.
const TOP: usize = 3;

#[track_caller]
fn among_the_top(profile: &loadgate::result::ProfileReport) -> &loadgate::result::ShareChange {
    profile
        .functions
        .iter()
        .take(TOP)
        .find(|row| row.function == FUNCTION)
        .unwrap_or_else(|| panic!("{FUNCTION} not in the top {TOP} rows: {profile:#?}"))
}

#[track_caller]
fn assert_in_top_rows(markdown: &str) {
    let rows = profile_table(markdown);
    assert!(
        rows.iter()
            .take(TOP)
            .any(|row| row.starts_with(&format!("| `{FUNCTION}` | "))),
        "{markdown}"
    );
}

#[test]
fn against_a_revision_both_sides_are_profiled_and_the_costly_function_is_named() {
    let sandbox = Sandbox::new();
    let dir = sandbox.path();
    // Each revision starts the service with its own script: the base the plain service, the
    // candidate a costlier `/`.
    let command = sandbox.serve_script("");
    let spec = sandbox.spec("ab-profile", &spec_text("ab-profile", &command));
    sandbox.commit_base_then_costlier(COSTLIER);

    let run = sandbox.run_command(sandbox.loadtest().args([
        "--root",
        dir.to_str().unwrap(),
        "--against",
        "HEAD~1",
        "--profile",
        spec.to_str().unwrap(),
    ]));
    run.expect_code(1);
    let result = &sandbox.summary().specs[0];
    let profile = result
        .profile
        .as_ref()
        .unwrap_or_else(|| panic!("no profile: {:?}", result.notes));
    assert!(
        profile
            .compared_with
            .as_deref()
            .unwrap()
            .starts_with("HEAD~1 ("),
        "{profile:?}"
    );
    assert!(profile.samples > 50, "{profile:?}");
    // summary.json with its profile still reads as the documented schema.
    assert_valid(SUMMARY_SCHEMA_FILE, &sandbox.summary_json());
    let top = among_the_top(profile);
    assert!(top.change > 20.0 && top.before < 1.0, "{top:?}");

    // Both sides' folded stacks are kept, in the format every flame-graph tool reads.
    let folded = sandbox.read_out("ab-profile.profile.folded");
    assert!(
        folded.lines().all(|l| l
            .rsplit_once(' ')
            .is_some_and(|(_, n)| n.parse::<u64>().is_ok())),
        "{folded}"
    );
    assert!(folded.contains(FUNCTION), "{folded}");
    let base = sandbox.read_out("ab-profile.base.profile.folded");
    assert!(!base.contains(FUNCTION), "{base}");

    // Where a reviewer looks: the console, summary.md's top row, the differential SVG.
    let stdout = &run.stdout;
    assert!(
        stdout.contains("the service's CPU by function (perf: self share of"),
        "{stdout}"
    );
    let markdown = sandbox.read_out("summary.md");
    assert_in_top_rows(&markdown);
    let diff = sandbox.read_out("ab-profile.profile.diff.svg");
    assert!(diff.contains(FUNCTION) && diff.contains("<svg"), "{diff}");
    let page = sandbox.out().join("report.html");
    assert!(std::fs::read_to_string(&page).unwrap().contains(FUNCTION));

    // In a browser: both pictures drawn in their frames, the function in the differential one.
    let (_, dom) = crate::report_html::charts_in_browser(&page);
    for kind in ["diff", "flame"] {
        let frame = iframe(&dom, kind);
        let drawn: usize = attribute(frame, "data-frames").parse().unwrap();
        assert!(drawn > 10, "{kind}: {drawn} frames drawn");
    }
    assert!(iframe(&dom, "diff").contains(FUNCTION));
    screenshot(&sandbox, &page);
    sandbox.assert_no_leftover_processes();
}

/// The opening tag of the flame graph frame `kind` in the rendered DOM.
fn iframe<'a>(dom: &'a str, kind: &str) -> &'a str {
    let at = dom
        .find(&format!("data-profile=\"{kind}\""))
        .unwrap_or_else(|| panic!("no {kind} flame graph in the page"));
    let start = dom[..at].rfind("<iframe").unwrap();
    &dom[start..start + dom[start..].find("></iframe>").unwrap()]
}

fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let from = tag
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {}", &tag[..tag.len().min(300)]));
    let value = &tag[from + name.len() + 3..];
    &value[..value.find('"').unwrap()]
}

/// A picture of the page down to its flame graphs, next to the report, for a human.
fn screenshot(sandbox: &Sandbox, page: &Path) {
    let screenshot = sandbox.out().join("report-profile.png");
    crate::report_html::headless(
        page,
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1200,3200",
        ],
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000);
    if let Some(dir) = std::env::var_os("LOADGATE_SCREENSHOTS") {
        std::fs::copy(&screenshot, PathBuf::from(dir).join("report-profile.png")).unwrap();
    }
}

#[test]
fn a_baseline_recorded_with_profile_keeps_it_and_the_next_run_is_drawn_against_it() {
    let sandbox = Sandbox::new();
    let command = sandbox.demo_command(&[]);
    let spec = sandbox.spec("stored", &spec_text("stored", &command));
    let spec = spec.to_str().unwrap();
    sandbox
        .run(&["--update-baselines", "--profile", spec])
        .expect_code(0);
    let stored = sandbox.baselines().join("stored.profile.folded.gz");
    let size = std::fs::metadata(&stored)
        .unwrap_or_else(|_| panic!("no profile beside the baseline"))
        .len();
    assert!((20..512 * 1024).contains(&size), "{size} bytes");

    let costlier = sandbox.run_command(
        sandbox
            .loadtest()
            .args(["--profile", spec])
            .env("DEMO_SERVICE_WORK", COSTLIER),
    );
    costlier.expect_code(1);
    let result = &sandbox.summary().specs[0];
    let profile = result.profile.as_ref().unwrap();
    assert_eq!(
        profile.compared_with.as_deref(),
        Some("the baseline's profile")
    );
    among_the_top(profile);
    assert_in_top_rows(&sandbox.read_out("summary.md"));
    assert!(
        sandbox
            .read_out("stored.profile.diff.svg")
            .contains(FUNCTION)
    );

    // A baseline recorded again without --profile drops the profile that no longer fits it.
    sandbox.run(&["--update-baselines", spec]).expect_code(0);
    assert!(!stored.exists(), "a stale profile beside the new baseline");
    sandbox.assert_no_leftover_processes();
}

#[test]
fn without_perf_the_verdict_is_unchanged_and_a_note_says_why() {
    let sandbox = Sandbox::new();
    let command = sandbox.demo_command(&[]);
    let spec = sandbox.spec("noperf", &spec_text("noperf", &command));
    let spec = spec.to_str().unwrap();
    sandbox.run(&["--update-baselines", spec]).expect_code(0);
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
    let slower = |profile: bool| {
        let mut command = sandbox.loadtest();
        if profile {
            command.arg("--profile");
        }
        sandbox.run_command(
            command
                .arg(spec)
                .env("PATH", &tools)
                .env("DEMO_SERVICE_WORK", COSTLIER),
        )
    };
    // The same failure with and without --profile.
    slower(false).expect_code(1);
    let run = slower(true);
    run.expect_code(1);
    let result = &sandbox.summary().specs[0];
    assert!(result.profile.is_none());
    assert!(
        result.notes.iter().any(
            |n| n.contains("`perf` is not on PATH") && n.contains("apt-get install linux-perf")
        ),
        "{:?}",
        result.notes
    );
    assert!(
        run.stdout.contains("`perf` is not on PATH"),
        "{}",
        run.stdout
    );
    assert!(!sandbox.out().join("noperf.profile.folded").exists());
}
