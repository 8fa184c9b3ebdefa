//! `loadtest history`: every committed version of a baseline, read from a real git repository
//! (three versions of `baselines/reads.json`, one corrupt between them), drawn in a browser and
//! tabled in Markdown; a directory without git history is refused with exit 2.

use std::path::Path;
use std::process::Command;

use loadgate_tests::{Sandbox, bins, git, workspace_root};

/// A project (Cargo.toml and loadspec/) whose `baselines/reads.json` was committed with a p90 of
/// 2, 3 and 4 ms, and once corrupt between the second and the third; answers the corrupt
/// commit's short hash.
fn project_with_history(dir: &Path) -> String {
    std::fs::write(dir.join("Cargo.toml"), "").unwrap();
    std::fs::create_dir_all(dir.join("loadspec")).unwrap();
    git(dir, &["init", "-q"]);
    let shipped = std::fs::read_to_string(workspace_root().join("baselines/reads.json")).unwrap();
    let mut baseline: serde_json::Value = serde_json::from_str(&shipped).unwrap();
    let file = dir.join("baselines/reads.json");
    let mut corrupt = String::new();
    for (p90_ms, step) in [(2, "first"), (3, "second"), (0, "corrupt"), (4, "third")] {
        if p90_ms == 0 {
            std::fs::write(&file, "{ \"schema_version\": 1, ").unwrap();
        } else {
            baseline["summary"]["total"]["latency_us"]["p90"] = (p90_ms * 1000).into();
            let text = serde_json::to_string_pretty(&baseline).unwrap();
            std::fs::write(&file, text).unwrap();
        }
        git(dir, &["add", "-A"]);
        git(
            dir,
            &["commit", "-q", "-m", &format!("{step} | <baseline>")],
        );
        if p90_ms == 0 {
            corrupt = git(dir, &["rev-parse", "--short", "HEAD"]);
        }
    }
    corrupt
}

#[test]
fn history_reads_every_committed_baseline_skips_a_corrupt_one_and_needs_git() {
    let sandbox = Sandbox::new();
    let project = sandbox.path().join("project");
    std::fs::create_dir_all(project.join("baselines")).unwrap();
    let corrupt = project_with_history(&project);
    // The last run's summary, where runs write it: its p90 is shown beside the commits.
    let out = project.join("target/loadtest");
    std::fs::create_dir_all(&out).unwrap();
    let golden = workspace_root().join("loadgate/tests/golden/summary.json");
    let golden = std::fs::read_to_string(golden).unwrap();
    std::fs::write(
        out.join("summary.json"),
        golden.replace("\"badges\"", "\"reads\""),
    )
    .unwrap();

    let run = sandbox.run_command(
        Command::new(&bins().xtask)
            .current_dir(&project)
            .args(["loadtest", "history", "reads"]),
    );
    run.expect_code(0);
    assert!(
        run.stderr.contains(&format!("commit {corrupt} (")) && run.stderr.contains("skipped"),
        "the corrupt commit is named:\n{}",
        run.stderr
    );
    let markdown = std::fs::read_to_string(out.join("history.md")).unwrap();
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| ")).collect();
    // The header, the last run, then the three readable commits, newest first.
    assert_eq!(rows.len(), 5, "{markdown}");
    assert!(
        rows[1].starts_with("| this run |") && rows[1].contains("2.40ms"),
        "{markdown}"
    );
    for (row, p90) in rows[2..].iter().zip(["4.00ms", "3.00ms", "2.00ms"]) {
        assert!(
            row.contains(p90) && row.contains("\\| \\<baseline\\>"),
            "{row}"
        );
    }
    assert!(
        markdown.contains(&format!("commit {corrupt} (")),
        "{markdown}"
    );

    // One point per readable commit on every chart, in a browser.
    let (charts, dom) = crate::report_html::charts_in_browser(&out.join("history.html"));
    assert!(
        charts.len() >= 5,
        "p50, p90, p99, rps, error_rate at least: {charts:?}"
    );
    assert!(charts.iter().all(|(_, points)| *points == 3), "{charts:?}");
    assert_eq!(crate::report_html::points_of(&charts, "reads: p90 (ms)"), 3);
    assert!(
        dom.contains(&format!("commit {corrupt} (")),
        "the page names it too"
    );

    // The last two commits only, written elsewhere: the corrupt one and the third; the last run
    // is still found where runs write by default.
    let limited = sandbox.path().join("limited");
    sandbox
        .run_command(
            Command::new(&bins().xtask)
                .current_dir(&project)
                .args(["loadtest", "history", "--limit", "2", "--out"])
                .arg(&limited),
        )
        .expect_code(0);
    let markdown = std::fs::read_to_string(limited.join("history.md")).unwrap();
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        rows.len(),
        3,
        "header, this run, the third commit:\n{markdown}"
    );
    assert!(rows[2].contains("4.00ms") && markdown.contains(&format!("commit {corrupt} (")));
    assert!(limited.join("history.html").is_file());

    // Without git history, through the `loadgate` binary: exit 2, and why.
    let plain = sandbox.path().join("plain");
    std::fs::create_dir_all(plain.join("loadspec")).unwrap();
    std::fs::create_dir_all(plain.join("baselines")).unwrap();
    std::fs::write(plain.join("Cargo.toml"), "").unwrap();
    let loadgate = bins().xtask.with_file_name("loadgate");
    let run = sandbox.run_command(
        Command::new(loadgate)
            .current_dir(&plain)
            .env("GIT_CEILING_DIRECTORIES", sandbox.path())
            .args(["loadtest", "history", "reads"]),
    );
    run.expect_code(2);
    assert!(
        run.stderr.contains("no git history to read")
            && run.stderr.contains("not in a git repository"),
        "{}",
        run.stderr
    );
}
