//! `loadtest bisect GOOD BAD` end to end, on a generated repository: a Cargo package with
//! nothing to build (a commit builds in a second) whose commits start the demo service through
//! their own `serve.sh`. Twelve commits follow GOOD; one of them makes `/` costlier. With
//! `[cost]` the culprit is named exactly, with its function; bad input (GOOD not an ancestor,
//! BAD not worse) exits 2 before any commit between them is built; a commit that does not build
//! is skipped and named; and the user's work tree, index, HEAD and stash are as they were, also
//! after SIGINT mid-bisection.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use loadgate::result::{BisectDecision, BisectReport, Found};
use loadgate_tests::{Sandbox, bins, git, interrupt_and_wait, wait_for_stderr};

/// Far beyond the noise of a count (~0.3 %): about +10 % of `/` in the debug service the tests run.
const COSTLIER: &str = "/=400";
/// The commit (1-based after GOOD) that makes `/` costlier.
const CULPRIT: usize = 8;
/// A commit whose Cargo.toml does not parse: it cannot build, the next one repairs it.
const BROKEN: usize = 6;
const COMMITS: usize = 12;

/// How the culprit is worse, and how the spec judges it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Judged {
    /// `/` does more work, counted under Callgrind.
    Cost,
    /// `/` waits ten times longer, judged on p50 in paired rounds.
    Latency,
}

/// The sandbox as a git repository: GOOD, then [`COMMITS`] commits, HEAD at the last (BAD).
/// `broken`: commit [`BROKEN`] does not build.
fn repository(sandbox: &Sandbox, broken: bool) {
    repository_judged(sandbox, broken, Judged::Cost);
}

fn repository_judged(sandbox: &Sandbox, broken: bool, judged: Judged) {
    let dir = sandbox.path();
    let command = sandbox.serve_script("");
    let (gate, base, worse) = match judged {
        Judged::Cost => (
            "[cost]\nrequests = 100\nwarmup_requests = 10\n\n\
             [gate]\ninstructions = { regression = \"1%\" }\n",
            String::new(),
            format!("--work {COSTLIER}"),
        ),
        Judged::Latency => (
            "[gate]\np50 = { regression = \"100%\" }\n",
            "--delay 2ms".to_owned(),
            "--delay 20ms".to_owned(),
        ),
    };
    sandbox.spec(
        "bisected",
        &format!(
            "name = \"bisected\"\n[service]\ncommand = {command}\n\
             ready = {{ http = \"/health\", timeout = \"30s\" }}\n\
             [load]\nusers = 2\nwarmup = \"0s\"\nduration = \"300ms\"\n\
             [[request]]\nname = \"home\"\npath = \"/\"\n{gate}"
        ),
    );
    let cargo_toml =
        "[package]\nname = \"bisected\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n";
    std::fs::write(dir.join("Cargo.toml"), cargo_toml).unwrap();
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        dir.join(".gitignore"),
        "target/\nout/\nbaselines/\n*.sqlite*\n",
    )
    .unwrap();
    let serve = |args: &str| sandbox.serve_script(args);
    serve(&base);
    std::fs::write(dir.join("notes.txt"), "GOOD\n").unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "good: the service as it was"]);
    for n in 1..=COMMITS {
        let mut subject = format!("commit {n}: notes");
        if n == CULPRIT {
            serve(&worse);
            subject = format!("commit {n}: a costlier home");
        }
        if broken && n == BROKEN {
            std::fs::write(dir.join("Cargo.toml"), "[package\nbroken").unwrap();
            subject = format!("commit {n}: a Cargo.toml that does not parse");
        }
        if broken && n == BROKEN + 1 {
            std::fs::write(dir.join("Cargo.toml"), cargo_toml).unwrap();
        }
        let notes = std::fs::read_to_string(dir.join("notes.txt")).unwrap();
        std::fs::write(dir.join("notes.txt"), format!("{notes}{n}\n")).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", &subject]);
    }
}

/// What the user has in the repository that a bisection must leave alone: HEAD, the index, the
/// work tree's changes, the stash and the worktrees.
#[derive(Debug, PartialEq)]
struct UserState {
    head: String,
    status: String,
    staged: String,
    unstaged: String,
    stash: String,
    worktrees: String,
}

impl UserState {
    /// Makes the repository look in use: a stash entry, a staged change and an unstaged one.
    fn dirty(dir: &Path) -> UserState {
        std::fs::write(dir.join("notes.txt"), "stashed work\n").unwrap();
        git(dir, &["stash", "-q"]);
        std::fs::write(dir.join("src/lib.rs"), "// staged work\n").unwrap();
        git(dir, &["add", "src/lib.rs"]);
        std::fs::write(dir.join("notes.txt"), "unstaged work\n").unwrap();
        UserState::of(dir)
    }

    fn of(dir: &Path) -> UserState {
        UserState {
            head: git(dir, &["rev-parse", "HEAD"]) + &git(dir, &["symbolic-ref", "HEAD"]),
            status: git(dir, &["status", "--porcelain", "--untracked-files=no"]),
            staged: git(dir, &["diff", "--cached"]),
            unstaged: git(dir, &["diff"]),
            stash: git(dir, &["stash", "list", "-p"]),
            worktrees: git(dir, &["worktree", "list", "--porcelain"]),
        }
    }
}

fn bisect(sandbox: &Sandbox, args: &[&str]) -> Command {
    let mut command = Command::new(&bins().xtask);
    command
        .arg("--root")
        .arg(sandbox.path())
        .args(["loadtest", "bisect"])
        .args(args)
        .arg("--out")
        .arg(sandbox.out())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_ACTIONS");
    command
}

fn report(sandbox: &Sandbox) -> BisectReport {
    serde_json::from_str(&sandbox.read_out("bisect.json")).expect("bisect.json is a BisectReport")
}

fn subject(sandbox: &Sandbox, n: usize) -> String {
    git(
        sandbox.path(),
        &[
            "log",
            "-1",
            "--format=%H %s",
            &format!("HEAD~{}", COMMITS - n),
        ],
    )
}

#[test]
fn with_cost_the_costlier_commit_is_named_with_its_function_and_the_user_state_is_kept() {
    let sandbox = Sandbox::new();
    repository(&sandbox, false);
    let user = UserState::dirty(sandbox.path());
    let summary = sandbox.path().join("step-summary.md");
    let run = sandbox.run_command(
        bisect(&sandbox, &["HEAD~12", "HEAD", "bisected"]).env("GITHUB_STEP_SUMMARY", &summary),
    );
    run.expect_code(0);
    let culprit = subject(&sandbox, CULPRIT);
    let (sha, title) = culprit.split_once(' ').unwrap();
    assert!(
        run.stdout
            .starts_with(&format!("{sha} is the first bad commit\n    {title}\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("instructions of home: ")
            && run.stdout.contains("demo_service::extra_work"),
        "{}",
        run.stdout
    );
    let report = report(&sandbox);
    assert_eq!(report.found, Found::FirstBad(CULPRIT - 1), "{report:#?}");
    // GOOD, BAD, and ⌈log2 12⌉ = 4 commits between.
    assert!(report.steps.len() <= 6, "{report:#?}");
    let (before, after) = (report.before.unwrap(), report.after.unwrap());
    assert!(after > before * 1.05, "{before} → {after}");
    assert_eq!(
        report.cost[0].functions[0].function, "demo_service::extra_work",
        "{report:#?}"
    );
    let markdown = sandbox.read_out("bisect.md");
    assert!(
        markdown.contains(&format!("**`{sha}` is the first bad commit**")),
        "{markdown}"
    );
    assert_eq!(
        markdown.matches("\n| `").count() - report.cost[0].functions.len(),
        report.steps.len(),
        "a row per step:\n{markdown}"
    );
    assert_eq!(std::fs::read_to_string(&summary).unwrap(), markdown);
    assert_eq!(UserState::of(sandbox.path()), user);
    sandbox.assert_no_leftover_processes();
}

#[test]
fn good_not_an_ancestor_of_bad_is_bad_input_before_anything_builds() {
    let sandbox = Sandbox::new();
    repository(&sandbox, false);
    let run = sandbox.run_command(&mut bisect(&sandbox, &["HEAD", "HEAD~3", "bisected"]));
    run.expect_code(2);
    assert!(
        run.stderr.contains("is not an ancestor of BAD"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("building"), "{}", run.stderr);
    assert!(
        !sandbox.path().join("target").exists(),
        "something was built"
    );
    let run = sandbox.run_command(&mut bisect(
        &sandbox,
        &["HEAD~2", "no-such-rev", "bisected"],
    ));
    run.expect_code(2);
    assert!(
        run.stderr.contains("BAD `no-such-rev` is not a commit"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_not_worse_than_good_is_bad_input_before_any_commit_between_builds() {
    let sandbox = Sandbox::new();
    repository(&sandbox, false);
    // Both before the costlier commit.
    let bad = format!("HEAD~{}", COMMITS - CULPRIT + 1);
    let run = sandbox.run_command(&mut bisect(&sandbox, &["HEAD~12", &bad, "bisected"]));
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("BAD is not worse than GOOD in instructions"),
        "{}",
        run.stderr
    );
    // GOOD and BAD were built and counted; nothing between them.
    assert_eq!(
        run.stderr.matches("bisect: building").count(),
        2,
        "{}",
        run.stderr
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn a_commit_that_does_not_build_is_skipped_and_named() {
    let sandbox = Sandbox::new();
    repository(&sandbox, true);
    let run = sandbox.run_command(&mut bisect(&sandbox, &["HEAD~12", "HEAD", "bisected"]));
    let report = report(&sandbox);
    let broken = subject(&sandbox, BROKEN);
    let (broken_sha, _) = broken.split_once(' ').unwrap();
    let skipped = report
        .steps
        .iter()
        .find(|s| s.commit == broken_sha)
        .unwrap_or_else(|| panic!("the broken commit was never tried: {report:#?}"));
    assert!(
        matches!(&skipped.decision, BisectDecision::Skipped(why) if why.contains("does not build")),
        "{skipped:#?}"
    );
    // Not next to the culprit: stepped around, and the culprit still named.
    run.expect_code(0);
    assert_eq!(report.found, Found::FirstBad(CULPRIT - 1), "{report:#?}");
    assert!(
        run.stdout
            .contains(&format!("skipped: {}", &broken_sha[..12])),
        "{}",
        run.stdout
    );
    sandbox.assert_no_leftover_processes();
}

#[test]
fn sigint_mid_bisection_leaves_the_user_state_and_no_worktree_or_process() {
    let sandbox = Sandbox::new();
    repository(&sandbox, false);
    let user = UserState::dirty(sandbox.path());
    let mut gate = bisect(&sandbox, &["HEAD~12", "HEAD", "bisected"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // GOOD and BAD counted: the bisection proper has begun.
    let stderr = wait_for_stderr(&mut gate, "a commit at");
    // Into the next commit's build or count.
    std::thread::sleep(Duration::from_millis(1500));
    let stderr = interrupt_and_wait(&mut gate, stderr);
    assert_eq!(UserState::of(sandbox.path()), user, "{stderr}");
    // Where the commits' worktrees are (outside the project), per commit.
    let worktrees = loadgate::testing::worktree_dir(sandbox.path(), "bisect", "0");
    let worktrees = worktrees.parent().unwrap();
    let left: Vec<_> = std::fs::read_dir(worktrees)
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "worktrees left: {left:?}");
    assert_eq!(report(&sandbox).interrupted.as_deref(), Some("SIGINT"));
    sandbox.assert_no_leftover_processes();
}

#[test]
fn without_cost_paired_rounds_against_good_name_the_slower_commit() {
    let sandbox = Sandbox::new();
    repository_judged(&sandbox, false, Judged::Latency);
    let run = sandbox.run_command(&mut bisect(&sandbox, &["HEAD~12", "HEAD", "bisected"]));
    run.expect_code(0);
    let culprit = subject(&sandbox, CULPRIT);
    let (sha, _) = culprit.split_once(' ').unwrap();
    assert!(
        run.stdout
            .starts_with(&format!("{sha} is the first bad commit\n")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("paired against GOOD: "),
        "{}",
        run.stdout
    );
    let report = report(&sandbox);
    assert_eq!(report.metric, "total p50", "{report:#?}");
    assert!(
        report.after.unwrap() > report.before.unwrap() * 2.0,
        "{report:#?}"
    );
    sandbox.assert_no_leftover_processes();
}
