//! `loadtest bisect GOOD BAD [SPEC]`: the commit of the first-parent history between GOOD and
//! BAD that made the spec's service worse. Everything wrong with the input (a revision that
//! does not resolve, GOOD not an ancestor of BAD, the spec) is found before anything builds;
//! GOOD and BAD are measured next, and BAD must be worse (else bad input) before any commit
//! between them is. Each commit is checked out and built beside the user's work tree
//! ([`Revision`]), then measured: with `[cost]` its instructions are counted and compared
//! with the line halfway from GOOD's count to BAD's; without, its service runs in paired ABBA
//! rounds against GOOD's and the spec's regression checks decide (more rounds while they
//! cannot tell, up to a cap). The search itself is pure ([`Search`]).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail};

use crate::cost::{CostFailure, CostSummary};
use crate::judge::bisect::{
    BisectReport, BisectStep, CostLine, Decision, Found, Search, decide_checks, judged_checks,
};
use crate::judge::checks::{Check, CheckKind, compare};
use crate::metric::Metric;
use crate::pipeline::events::{Event, Observer};
use crate::pipeline::events::{Interrupt, interrupted_by};
use crate::pipeline::measure::{self, Context, Profiling, Repeat, Services};
use crate::pipeline::{GateError, GitHub, lock_out_dir};
use crate::plan::{self, Overrides, Plan};
use crate::report;
use crate::service::revision::{PrepareError, Revision, git};
use crate::support::exit::Exit;
use crate::support::paths::Paths;

/// What a bisection does.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BisectOptions {
    pub paths: Paths,
    pub good: String,
    pub bad: String,
    /// One spec (a name or a file); empty: the only spec of the loadspec directory.
    pub specs: Vec<String>,
    pub overrides: Overrides,
    pub github: Option<GitHub>,
}

impl BisectOptions {
    pub fn new(paths: Paths, good: String, bad: String) -> BisectOptions {
        BisectOptions {
            paths,
            good,
            bad,
            specs: Vec::new(),
            overrides: Overrides::default(),
            github: None,
        }
    }
}

/// A bisection's exit code (its report is in `bisect.json` and `bisect.md`).
#[derive(Debug)]
pub struct Bisected {
    pub exit: Exit,
}

/// One commit of the range.
struct Commit {
    sha: String,
    subject: String,
}

/// How commits are judged: by their instructions, or paired against GOOD on these checks.
enum Judge {
    Cost(CostLine),
    Pairs(Vec<(String, Metric)>),
}

/// What measuring one commit gave.
struct Measurement {
    value: Option<f64>,
    detail: String,
    cost: Option<CostSummary>,
    checks: Vec<Check>,
}

/// Runs the bisection; `console` receives the verdict, `observer` the progress.
pub async fn bisect(
    options: &BisectOptions,
    console: &mut dyn Write,
    observer: Arc<dyn Observer>,
    interrupt: Interrupt,
) -> Result<Bisected, GateError> {
    let started = Instant::now();
    let paths = &options.paths;
    let (good, bad, commits) = resolve_range(options).map_err(GateError::BadInput)?;
    let plan = plan_spec(options).map_err(GateError::BadInput)?;
    let _lock = lock_out_dir(paths, &observer)
        .await
        .map_err(GateError::BadInput)?;
    let ctx = Context {
        paths,
        observer: &observer,
        interrupt: &interrupt,
        // A bisection compares revisions' figures; it draws no profile.
        profiling: Profiling::Off,
    };
    let bisection = Bisection {
        plan: &plan,
        ctx: &ctx,
    };
    let say = |message: String| observer.event(&Event::Bisect { message });
    say(format!(
        "bisecting {}: {} commits after {} up to {} ({} steps at most)",
        plan.name,
        commits.len(),
        short(&good.sha),
        short(&bad.sha),
        steps_at_most(commits.len())
    ));

    let mut report = BisectReport {
        spec: plan.name.clone(),
        good: good.sha.clone(),
        bad: bad.sha.clone(),
        metric: String::new(),
        commits: commits.iter().map(|c| c.sha.clone()).collect(),
        steps: Vec::new(),
        found: Found::Range {
            from: 0,
            to: commits.len() - 1,
        },
        before: None,
        after: None,
        cost: Vec::new(),
        seconds: 0.0,
        interrupted: None,
    };
    let mut costs: BTreeMap<String, CostSummary> = BTreeMap::new();
    let mut values: BTreeMap<String, Option<f64>> = BTreeMap::new();

    // GOOD, then BAD: both must build and run, and BAD must be worse.
    let good_rev = match bisection.prepare(&good, "GOOD").await {
        Ok(Some(rev)) => rev,
        Ok(None) => return interrupted(report, started, &interrupt, paths, options),
        Err(why) => {
            return Err(GateError::Unreachable(anyhow!(
                "GOOD ({}) cannot be measured: {why}",
                short(&good.sha)
            )));
        }
    };
    // GOOD's build and measurement, then BAD's.
    let good_seconds;
    let (judge, bad_step) = match &plan.cost {
        Some(_) => {
            let good_cost = bisection
                .count(&good_rev)
                .await
                .map_err(|why| stage_error(&good, "GOOD", why))?;
            let Some(good_cost) = good_cost else {
                return interrupted(report, started, &interrupt, paths, options);
            };
            drop(good_rev);
            good_seconds = started.elapsed().as_secs_f64();
            let bad_cost = match bisection.prepare(&bad, "BAD").await {
                Ok(Some(rev)) => bisection
                    .count(&rev)
                    .await
                    .map_err(|why| stage_error(&bad, "BAD", why))?,
                Ok(None) => None,
                Err(why) => return Err(stage_error(&bad, "BAD", why)),
            };
            let Some(bad_cost) = bad_cost else {
                return interrupted(report, started, &interrupt, paths, options);
            };
            let line = CostLine::between(&good_cost, &bad_cost, &plan.thresholds)
                .map_err(|why| GateError::BadInput(anyhow!(why)))?;
            report.metric = line.label();
            let good_value = good_cost.instructions(line.request.as_deref());
            let bad_value = bad_cost.instructions(line.request.as_deref());
            report
                .steps
                .push(step(&good, good_value, "GOOD", Decision::Good));
            values.insert(good.sha.clone(), good_value);
            costs.insert(good.sha.clone(), good_cost);
            costs.insert(bad.sha.clone(), bad_cost);
            values.insert(bad.sha.clone(), bad_value);
            say(format!(
                "{}: GOOD {} per request, BAD {}: a commit at {} or more is bad",
                line.label(),
                fmt(good_value),
                fmt(bad_value),
                fmt(Some(line.line))
            ));
            let bad_step = step(&bad, bad_value, "BAD", Decision::Bad);
            (Judge::Cost(line), (bad_step, None))
        }
        None => {
            good_seconds = started.elapsed().as_secs_f64();
            let measured = match bisection.prepare(&bad, "BAD").await {
                Ok(Some(rev)) => bisection
                    .pair(&good_rev, &rev)
                    .await
                    .map_err(|why| stage_error(&bad, "BAD", why))?,
                Ok(None) => None,
                Err(why) => return Err(stage_error(&bad, "BAD", why)),
            };
            let Some(checks) = measured else {
                return interrupted(report, started, &interrupt, paths, options);
            };
            let judged = judged_checks(&checks).map_err(|why| GateError::BadInput(anyhow!(why)))?;
            report.metric = judged
                .iter()
                .map(|(scope, metric)| format!("{scope} {metric}"))
                .collect::<Vec<_>>()
                .join(", ");
            let first = first_judged(&judged, &checks);
            report.before = first.and_then(|c| c.baseline);
            values.insert(good.sha.clone(), report.before);
            values.insert(bad.sha.clone(), first.map(|c| c.current));
            report
                .steps
                .push(step(&good, report.before, "GOOD", Decision::Good));
            let mut bad_step = step(&bad, first.map(|c| c.current), "BAD", Decision::Bad);
            bad_step.detail = details(&judged, &checks);
            say(format!("BAD against GOOD: {}", bad_step.detail));
            (Judge::Pairs(judged), (bad_step, Some(good_rev)))
        }
    };
    let (mut bad_step, good_rev) = bad_step;
    report.steps[0].seconds = good_seconds;
    bad_step.seconds = started.elapsed().as_secs_f64() - good_seconds;
    report.steps.push(bad_step);

    // The commits between, halving the range each step.
    let mut search = Search::new(commits.len());
    while let Some(index) = search.next() {
        if interrupted_by(&interrupt).is_some() {
            return interrupted(report, started, &interrupt, paths, options);
        }
        let commit = &commits[index];
        let took = Instant::now();
        let (decision, measurement) = match bisection.prepare(commit, "").await {
            Ok(None) => return interrupted(report, started, &interrupt, paths, options),
            Err(why) => (Decision::Skipped(why), None),
            Ok(Some(rev)) => {
                let measured = match &judge {
                    Judge::Cost(line) => bisection.count(&rev).await.map(|cost| {
                        cost.map(|cost| {
                            let value = cost.instructions(line.request.as_deref());
                            Measurement {
                                value,
                                detail: format!("{} per request", fmt(value)),
                                cost: Some(cost),
                                checks: Vec::new(),
                            }
                        })
                    }),
                    Judge::Pairs(judged) => {
                        let good_rev = good_rev.as_ref().expect("kept for the pairs");
                        bisection.pair(good_rev, &rev).await.map(|checks| {
                            checks.map(|checks| Measurement {
                                value: first_judged(judged, &checks).map(|c| c.current),
                                detail: details(judged, &checks),
                                cost: None,
                                checks,
                            })
                        })
                    }
                };
                match measured {
                    Ok(None) => return interrupted(report, started, &interrupt, paths, options),
                    Err(why) => (Decision::Skipped(why), None),
                    Ok(Some(measurement)) => {
                        let decision = match &judge {
                            Judge::Cost(line) => {
                                line.decide(measurement.cost.as_ref().expect("counted"))
                            }
                            Judge::Pairs(judged) => decide_checks(judged, &measurement.checks),
                        };
                        (decision, Some(measurement))
                    }
                }
            }
        };
        let value = measurement.as_ref().and_then(|m| m.value);
        let detail = match (&decision, &measurement) {
            (Decision::Skipped(why), _) => why.clone(),
            (_, Some(m)) => m.detail.clone(),
            (_, None) => String::new(),
        };
        say(format!(
            "{} {}: {} ({detail})",
            short(&commit.sha),
            commit.subject,
            describe(&decision)
        ));
        if let Some(cost) = measurement.and_then(|m| m.cost) {
            costs.insert(commit.sha.clone(), cost);
        }
        values.insert(commit.sha.clone(), value);
        report.steps.push(BisectStep {
            commit: commit.sha.clone(),
            subject: commit.subject.clone(),
            value,
            detail,
            decision: decision.clone(),
            seconds: took.elapsed().as_secs_f64(),
        });
        search.record(index, decision);
    }
    drop(good_rev);

    report.found = search.found();
    if let Found::FirstBad(index) = report.found {
        let before = match index {
            0 => &good.sha,
            _ => &commits[index - 1].sha,
        };
        let after = &commits[index].sha;
        report.before = values.get(before).copied().flatten().or(report.before);
        report.after = values.get(after).copied().flatten();
        if let (Some(now), Some(then)) = (costs.get(after), costs.get(before)) {
            report.cost = crate::judge::cost::changes(now, Some(then), &plan.thresholds, &[]);
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    let exit = exit_of(&report);
    finish(&report, exit, console, paths, options)
}

/// A report cut short by a signal: what was found so far is written, and the exit is 130.
fn interrupted(
    mut report: BisectReport,
    started: Instant,
    interrupt: &Interrupt,
    paths: &Paths,
    options: &BisectOptions,
) -> Result<Bisected, GateError> {
    report.seconds = started.elapsed().as_secs_f64();
    let signal = interrupted_by(interrupt).unwrap_or("a signal");
    report.interrupted = Some(signal.to_owned());
    finish(
        &report,
        Exit::Interrupted,
        &mut std::io::sink(),
        paths,
        options,
    )
}

/// Writes bisect.json, bisect.md (and the step summary) and the console verdict.
fn finish(
    report: &BisectReport,
    exit: Exit,
    console: &mut dyn Write,
    paths: &Paths,
    options: &BisectOptions,
) -> Result<Bisected, GateError> {
    let step_summary = options
        .github
        .as_ref()
        .and_then(|g| g.step_summary.as_deref());
    report::bisect::write_files(report, &paths.out_dir, step_summary).map_err(GateError::Output)?;
    let mut text = Vec::new();
    report::bisect::write_console(&mut text, report)
        .and_then(|()| {
            writeln!(
                text,
                "loadgate: bisect.json and bisect.md written in {}",
                paths.shown(&paths.out_dir).display()
            )
        })
        .map_err(|err| GateError::Output(anyhow!(err)))?;
    console
        .write_all(&text)
        .map_err(|err| GateError::Output(anyhow!(err)))?;
    Ok(Bisected { exit })
}

/// 0 with a first bad commit; with a range left, 3 when a commit in it could not be measured,
/// else 4 (the noise left it undecided).
fn exit_of(report: &BisectReport) -> Exit {
    match report.found {
        Found::FirstBad(_) => Exit::Passed,
        Found::Range { from, to } => {
            let in_range = &report.commits[from..=to];
            let skipped = report.steps.iter().any(|s| {
                matches!(s.decision, Decision::Skipped(_)) && in_range.contains(&s.commit)
            });
            if skipped {
                Exit::ServiceFailed
            } else {
                Exit::Inconclusive
            }
        }
    }
}

/// GOOD and BAD resolved, GOOD an ancestor of BAD, and the first-parent commits after GOOD up
/// to BAD, oldest first, with their subjects.
fn resolve_range(options: &BisectOptions) -> anyhow::Result<(Commit, Commit, Vec<Commit>)> {
    let root = &options.paths.root;
    let resolve = |what: &str, rev: &str| -> anyhow::Result<Commit> {
        let sha = git(
            root,
            &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
        )
        .map_err(|_| anyhow!("{what} `{rev}` is not a commit of {}", root.display()))?;
        let subject = git(root, &["log", "-1", "--format=%s", &sha])?;
        Ok(Commit { sha, subject })
    };
    let good = resolve("GOOD", &options.good)?;
    let bad = resolve("BAD", &options.bad)?;
    if good.sha == bad.sha {
        bail!("GOOD and BAD are the same commit ({})", short(&good.sha));
    }
    if git(root, &["merge-base", "--is-ancestor", &good.sha, &bad.sha]).is_err() {
        bail!(
            "GOOD ({} `{}`) is not an ancestor of BAD ({} `{}`): a bisection needs GOOD in \
             BAD's history",
            short(&good.sha),
            options.good,
            short(&bad.sha),
            options.bad
        );
    }
    let range = format!("{}..{}", good.sha, bad.sha);
    let log = git(
        root,
        &[
            "log",
            "--first-parent",
            "--reverse",
            "--format=%H %s",
            &range,
        ],
    )?;
    let commits: Vec<Commit> = log
        .lines()
        .filter_map(|line| {
            let (sha, subject) = line.split_once(' ').unwrap_or((line, ""));
            (!sha.is_empty()).then(|| Commit {
                sha: sha.to_owned(),
                subject: subject.to_owned(),
            })
        })
        .collect();
    if commits.last().map(|c| c.sha.as_str()) != Some(bad.sha.as_str()) {
        bail!("no first-parent history leads from GOOD to BAD");
    }
    Ok((good, bad, commits))
}

/// The one spec a bisection judges, planned from the user's work tree.
fn plan_spec(options: &BisectOptions) -> anyhow::Result<Plan> {
    let paths = &options.paths;
    let files = paths.spec_files(&options.specs)?;
    let [file] = files.as_slice() else {
        bail!(
            "a bisection judges one spec: name it (found {}: {})",
            files.len(),
            files
                .iter()
                .map(|f| paths.shown(f).display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let plan = plan::load(file, &paths.root, &options.overrides)?;
    if plan.service.is_none() {
        bail!(
            "{}: a bisection launches each commit's service: the spec needs a [service]",
            file.display()
        );
    }
    if plan.sweep.is_some() {
        bail!(
            "{}: a [sweep] spec measures a capacity, which a bisection does not judge",
            file.display()
        );
    }
    if plan.cost.is_some() {
        crate::cost::valgrind::check_installed()
            .map_err(|err| anyhow!("{}: {err}", file.display()))?;
    }
    Ok(plan)
}

/// What measures commits for one spec.
struct Bisection<'a> {
    plan: &'a Plan,
    ctx: &'a Context<'a>,
}

impl Bisection<'_> {
    /// `commit` checked out and built; `Ok(None)` when interrupted meanwhile, `Err` (why)
    /// when it does not build.
    async fn prepare(&self, commit: &Commit, role: &str) -> Result<Option<Revision>, String> {
        let ctx = self.ctx;
        let role = if role.is_empty() {
            String::new()
        } else {
            format!("{role} ")
        };
        ctx.observer.event(&Event::Bisect {
            message: format!("building {role}{} {}", short(&commit.sha), commit.subject),
        });
        let log = ctx.paths.out_dir.join("bisect.build.log");
        let mut interrupt = ctx.interrupt.clone();
        tokio::select! {
            prepared = Revision::prepare(&ctx.paths.root, &commit.sha, &log) => match prepared {
                Ok(rev) => Ok(Some(rev)),
                Err(PrepareError::Build(why)) => Err(why),
                Err(PrepareError::Other(err)) => Err(format!("{err:#}")),
            },
            Ok(_) = interrupt.wait_for(Option::is_some) => Ok(None),
        }
    }

    /// `[cost]`: the commit's instructions; `Ok(None)` when interrupted.
    async fn count(&self, rev: &Revision) -> Result<Option<CostSummary>, String> {
        let (plan, ctx) = (self.plan, self.ctx);
        let cost_plan = plan.cost.as_ref().expect("a [cost] spec");
        let paths = ctx.paths;
        let bins = rev.bin_dir();
        let side = Some(short(&rev.commit).to_owned());
        match measure::count_side(plan, cost_plan, (&rev.dir, &bins), &plan.name, side, ctx).await {
            Ok(summary) => Ok(Some(summary)),
            Err(CostFailure::Interrupted) => Ok(None),
            Err(CostFailure::Service(failure)) => Err(format!(
                "its service failed under Valgrind: {} (log: {})",
                failure.message,
                paths.shown(&failure.log_file).display()
            )),
        }
    }

    /// Without `[cost]`: `rev`'s service paired against GOOD's in ABBA rounds, judged on the
    /// spec's thresholds; `Ok(None)` when interrupted.
    async fn pair(&self, good: &Revision, rev: &Revision) -> Result<Option<Vec<Check>>, String> {
        let (plan, ctx) = (self.plan, self.ctx);
        let repeat = Repeat::of(plan, true);
        let (good_bins, bins) = (good.bin_dir(), rev.bin_dir());
        let mut services = Services::launch_pair(
            plan,
            (&good.dir, &good_bins, "GOOD".to_owned()),
            (&rev.dir, &bins),
            ctx,
        )
        .await
        .map_err(|failure| format!("its service failed: {}", failure.message))?;
        let measured = measure::measure(plan, &repeat, &mut services, ctx)
            .await
            .map_err(|err| format!("{err:#}"))?;
        if interrupted_by(ctx.interrupt).is_some() {
            return Ok(None);
        }
        if let Some(failure) = &measured.failure {
            return Err(format!("its service failed: {}", failure.message));
        }
        let combined = measured.combine(plan, &repeat);
        let (Some(summary), Some(base)) = (combined.summary, combined.base) else {
            return Err("no pair of rounds completed".to_owned());
        };
        Ok(Some(compare(&plan.thresholds, &summary, Some(&base), true)))
    }
}

/// A failure to measure GOOD or BAD: exit 3, naming which.
fn stage_error(commit: &Commit, role: &str, why: String) -> GateError {
    GateError::Unreachable(anyhow!(
        "{role} ({} {}) cannot be measured: {why}",
        short(&commit.sha),
        commit.subject
    ))
}

fn step(commit: &Commit, value: Option<f64>, role: &str, decision: Decision) -> BisectStep {
    BisectStep {
        commit: commit.sha.clone(),
        subject: commit.subject.clone(),
        value,
        detail: role.to_owned(),
        decision,
        seconds: 0.0,
    }
}

/// The first of the judged regression checks, as measured.
fn first_judged<'c>(judged: &[(String, Metric)], checks: &'c [Check]) -> Option<&'c Check> {
    let (scope, metric) = judged.first()?;
    checks
        .iter()
        .find(|c| c.kind == CheckKind::Regression && &c.scope == scope && c.metric == *metric)
}

/// The judged checks' messages, as the gate words them.
fn details(judged: &[(String, Metric)], checks: &[Check]) -> String {
    checks
        .iter()
        .filter(|c| {
            c.kind == CheckKind::Regression
                && judged.iter().any(|(s, m)| s == &c.scope && *m == c.metric)
        })
        .map(|c| c.message.clone())
        .collect::<Vec<_>>()
        .join("; ")
}

fn describe(decision: &Decision) -> &'static str {
    match decision {
        Decision::Good => "good",
        Decision::Bad => "bad",
        Decision::Unknown => "undecided",
        Decision::Skipped(_) => "skipped",
    }
}

fn fmt(value: Option<f64>) -> String {
    value.map_or("—".to_owned(), crate::metric::format_count)
}

pub fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

/// ⌈log2(n)⌉ commits measured between GOOD and BAD, without skips.
fn steps_at_most(n: usize) -> u32 {
    usize::BITS - n.saturating_sub(1).leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(found: Found, skipped: Option<&str>) -> BisectReport {
        let commits: Vec<String> = ["a", "b", "c", "d"].map(str::to_owned).into();
        let steps = skipped
            .into_iter()
            .map(|commit| BisectStep {
                commit: commit.to_owned(),
                subject: String::new(),
                value: None,
                detail: String::new(),
                decision: Decision::Skipped("does not build".to_owned()),
                seconds: 1.0,
            })
            .collect();
        BisectReport {
            spec: "s".to_owned(),
            good: "g".to_owned(),
            bad: "d".to_owned(),
            metric: String::new(),
            commits,
            steps,
            found,
            before: None,
            after: None,
            cost: Vec::new(),
            seconds: 1.0,
            interrupted: None,
        }
    }

    #[test]
    fn a_named_commit_exits_0_and_a_range_3_when_skipped_commits_hide_it_else_4() {
        let range = Found::Range { from: 1, to: 2 };
        assert_eq!(
            exit_of(&report(Found::FirstBad(2), Some("a"))),
            Exit::Passed
        );
        assert_eq!(
            exit_of(&report(range.clone(), Some("b"))),
            Exit::ServiceFailed
        );
        // Skipped, but outside the range that is left: the noise left it.
        assert_eq!(
            exit_of(&report(range.clone(), Some("a"))),
            Exit::Inconclusive
        );
        assert_eq!(exit_of(&report(range, None)), Exit::Inconclusive);
    }

    #[test]
    fn steps_are_the_halvings_of_the_range() {
        assert_eq!(steps_at_most(1), 0);
        assert_eq!(steps_at_most(2), 1);
        assert_eq!(steps_at_most(12), 4);
        assert_eq!(steps_at_most(16), 4);
        assert_eq!(steps_at_most(17), 5);
    }
}
