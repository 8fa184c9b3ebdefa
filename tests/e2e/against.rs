//! `--against REV` end to end, at its smallest: the sandbox is a git repository holding a Cargo
//! package with nothing to build, so the base revision checks out and builds in a second, and
//! both sides run the same demo service in short ABBA pairs. What is checked is what a reviewer
//! sees: each pair's ratio in summary.json, summary.md and report.html (in a browser).

use loadgate_tests::{Sandbox, git};

#[test]
fn an_against_run_shows_every_pair_and_the_interval() {
    let sandbox = Sandbox::new();
    // A check no timing can fail: this test is about the pictures, not the verdict.
    let spec = sandbox.demo_spec(
        "ab",
        &[],
        "model = \"closed\"\nusers = 2\nwarmup = \"0s\"\nduration = \"300ms\"",
        "[gate]\np90 = { regression = \"50%\", noise_floor = \"10s\" }\n",
    );
    let dir = sandbox.path();
    sandbox.git_package();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "base"]);

    let run = sandbox.run_command(sandbox.loadtest().args([
        "--root",
        dir.to_str().unwrap(),
        "--against",
        "HEAD",
        spec.to_str().unwrap(),
    ]));
    run.expect_code(0);
    let result = sandbox.summary();
    let pairs = &result.specs[0].pairs;
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    let p90 = &pairs[0];
    assert_eq!(p90.metric, "total p90");
    let n = p90.ratios.len();
    assert!(n >= 5, "at least five pairs: {p90:?}");
    assert!(p90.low <= p90.median && p90.median <= p90.high, "{p90:?}");

    let markdown = sandbox.read_out("summary.md");
    assert!(
        markdown.contains("- A/B pairs, total p90 candidate / base: median ")
            && markdown.contains("(90% interval "),
        "{markdown}"
    );
    let (charts, _) = crate::report_html::charts_in_browser(&sandbox.out().join("report.html"));
    assert_eq!(
        crate::report_html::points_of(&charts, "A/B pairs: total p90, candidate / base"),
        n,
        "a point per pair: {charts:?}"
    );
    sandbox.assert_no_leftover_processes();
}
