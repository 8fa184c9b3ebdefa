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
    BisectReport, BisectStep, CostLine, Decision, Found, Search, decide_checks, details,
    first_judged, judged_checks,
};
use crate::judge::checks::{Check, compare};
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

impl Measurement {
    /// `[cost]`: the instructions per request of what the line follows.
    fn counted(line: &CostLine, cost: CostSummary) -> Measurement {
        let value = cost.instructions(line.request.as_deref());
        Measurement {
            value,
            detail: format!("{} per request", fmt(value)),
            cost: Some(cost),
            checks: Vec::new(),
        }
    }

    /// Paired against GOOD: the judged checks.
    fn paired(judged: &[(String, Metric)], checks: Vec<Check>) -> Measurement {
        Measurement {
            value: first_judged(judged, &checks).map(|c| c.current),
            detail: details(judged, &checks),
            cost: None,
            checks,
        }
    }
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
        started,
    };
    bisection.say(format!(
        "bisecting {}: {} commits after {} up to {} ({} steps at most)",
        plan.name,
        commits.len(),
        short(&good.sha),
        short(&bad.sha),
        steps_at_most(commits.len())
    ));
    let mut findings = Findings::new(&plan, &good, &bad, &commits);
    let mut searched = None;
    if let Some((judge, good_rev)) = bisection.measure_ends(&good, &bad, &mut findings).await? {
        let good_rev = good_rev.as_ref();
        searched = (bisection.search(&commits, &judge, good_rev, &mut findings)).await;
    }
    if let Some(search) = &searched {
        findings.conclude(search.found(), &good, &commits, &plan);
    }
    let mut report = findings.report;
    report.seconds = started.elapsed().as_secs_f64();
    if searched.is_some() {
        return finish(&report, report.exit(), console, paths, options);
    }
    // Cut short by a signal: what was found so far is written, and the exit is 130.
    let signal = interrupted_by(&interrupt).unwrap_or("a signal");
    report.interrupted = Some(signal.to_owned());
    let sink = &mut std::io::sink();
    finish(&report, Exit::Interrupted, sink, paths, options)
}

/// What a bisection has found so far: its report, and each measured commit's value and counts.
struct Findings {
    report: BisectReport,
    values: BTreeMap<String, Option<f64>>,
    costs: BTreeMap<String, CostSummary>,
}

impl Findings {
    fn new(plan: &Plan, good: &Commit, bad: &Commit, commits: &[Commit]) -> Findings {
        let report = BisectReport {
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
        Findings {
            report,
            values: BTreeMap::new(),
            costs: BTreeMap::new(),
        }
    }

    /// A commit's step in the report, and its value and counts kept for the conclusion.
    fn record(&mut self, step: BisectStep, cost: Option<CostSummary>) {
        if let Some(cost) = cost {
            self.costs.insert(step.commit.clone(), cost);
        }
        self.values.insert(step.commit.clone(), step.value);
        self.report.steps.push(step);
    }

    /// Where the search ended; with a first bad commit, its value and the one's before it,
    /// and with `[cost]` the request names and functions that changed between them.
    fn conclude(&mut self, found: Found, good: &Commit, commits: &[Commit], plan: &Plan) {
        let report = &mut self.report;
        report.found = found;
        let Found::FirstBad(index) = report.found else {
            return;
        };
        let before = match index {
            0 => &good.sha,
            _ => &commits[index - 1].sha,
        };
        let after = &commits[index].sha;
        report.before = self.values.get(before).copied().flatten().or(report.before);
        report.after = self.values.get(after).copied().flatten();
        if let (Some(now), Some(then)) = (self.costs.get(after), self.costs.get(before)) {
            report.cost = crate::judge::cost::changes(now, Some(then), &plan.thresholds, &[]);
        }
    }
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
    /// When the bisection started: GOOD's and BAD's steps take the time up to theirs.
    started: Instant,
}

impl Bisection<'_> {
    fn say(&self, message: String) {
        self.ctx.observer.event(&Event::Bisect { message });
    }

    /// GOOD, then BAD, measured (both must build and run, and BAD must be worse), their steps
    /// recorded: how the commits between are judged, and GOOD's build when they are paired
    /// against it. `Ok(None)` when interrupted meanwhile.
    async fn measure_ends(
        &self,
        good: &Commit,
        bad: &Commit,
        findings: &mut Findings,
    ) -> Result<Option<(Judge, Option<Revision>)>, GateError> {
        let good_rev = match self.prepare(good, "GOOD").await {
            Ok(Some(rev)) => rev,
            Ok(None) => return Ok(None),
            Err(why) => {
                return Err(GateError::Unreachable(anyhow!(
                    "GOOD ({}) cannot be measured: {why}",
                    short(&good.sha)
                )));
            }
        };
        match &self.plan.cost {
            Some(_) => self.count_ends(good, bad, good_rev, findings).await,
            None => self.pair_ends(good, bad, good_rev, findings).await,
        }
    }

    /// `[cost]`: GOOD's and BAD's instructions, and the line between them.
    async fn count_ends(
        &self,
        good: &Commit,
        bad: &Commit,
        good_rev: Revision,
        findings: &mut Findings,
    ) -> Result<Option<(Judge, Option<Revision>)>, GateError> {
        let good_cost = self
            .count(&good_rev)
            .await
            .map_err(|why| stage_error(good, "GOOD", why))?;
        let Some(good_cost) = good_cost else {
            return Ok(None);
        };
        drop(good_rev);
        let good_seconds = self.started.elapsed().as_secs_f64();
        let bad_cost = match self.prepare(bad, "BAD").await {
            Ok(Some(rev)) => self
                .count(&rev)
                .await
                .map_err(|why| stage_error(bad, "BAD", why))?,
            Ok(None) => None,
            Err(why) => return Err(stage_error(bad, "BAD", why)),
        };
        let Some(bad_cost) = bad_cost else {
            return Ok(None);
        };
        let line = CostLine::between(&good_cost, &bad_cost, &self.plan.thresholds)
            .map_err(|why| GateError::BadInput(anyhow!(why)))?;
        findings.report.metric = line.label();
        let good_value = good_cost.instructions(line.request.as_deref());
        let bad_value = bad_cost.instructions(line.request.as_deref());
        self.say(format!(
            "{}: GOOD {} per request, BAD {}: a commit at {} or more is bad",
            line.label(),
            fmt(good_value),
            fmt(bad_value),
            fmt(Some(line.line))
        ));
        let good_step = step(good, good_value, "GOOD", Decision::Good);
        let bad_step = step(bad, bad_value, "BAD", Decision::Bad);
        self.record_ends(
            findings,
            (good_step, good_cost),
            (bad_step, bad_cost),
            good_seconds,
        );
        Ok(Some((Judge::Cost(line), None)))
    }

    /// Without `[cost]`: BAD paired against GOOD, and the regression checks that failed.
    async fn pair_ends(
        &self,
        good: &Commit,
        bad: &Commit,
        good_rev: Revision,
        findings: &mut Findings,
    ) -> Result<Option<(Judge, Option<Revision>)>, GateError> {
        let good_seconds = self.started.elapsed().as_secs_f64();
        let measured = match self.prepare(bad, "BAD").await {
            Ok(Some(rev)) => self
                .pair(&good_rev, &rev)
                .await
                .map_err(|why| stage_error(bad, "BAD", why))?,
            Ok(None) => None,
            Err(why) => return Err(stage_error(bad, "BAD", why)),
        };
        let Some(checks) = measured else {
            return Ok(None);
        };
        let judged = judged_checks(&checks).map_err(|why| GateError::BadInput(anyhow!(why)))?;
        let report = &mut findings.report;
        report.metric = judged
            .iter()
            .map(|(scope, metric)| format!("{scope} {metric}"))
            .collect::<Vec<_>>()
            .join(", ");
        let first = first_judged(&judged, &checks);
        report.before = first.and_then(|c| c.baseline);
        let good_step = step(good, report.before, "GOOD", Decision::Good);
        let mut bad_step = step(bad, first.map(|c| c.current), "BAD", Decision::Bad);
        bad_step.detail = details(&judged, &checks);
        self.say(format!("BAD against GOOD: {}", bad_step.detail));
        findings.record(with_seconds(good_step, good_seconds), None);
        let bad_seconds = self.started.elapsed().as_secs_f64() - good_seconds;
        findings.record(with_seconds(bad_step, bad_seconds), None);
        Ok(Some((Judge::Pairs(judged), Some(good_rev))))
    }

    /// `[cost]`: GOOD's and BAD's steps and counts, GOOD's taking the time up to `good_seconds`.
    fn record_ends(
        &self,
        findings: &mut Findings,
        (good_step, good_cost): (BisectStep, CostSummary),
        (bad_step, bad_cost): (BisectStep, CostSummary),
        good_seconds: f64,
    ) {
        findings.record(with_seconds(good_step, good_seconds), Some(good_cost));
        let bad_seconds = self.started.elapsed().as_secs_f64() - good_seconds;
        findings.record(with_seconds(bad_step, bad_seconds), Some(bad_cost));
    }

    /// The commits between GOOD and BAD, halving the range each step, each recorded as it is
    /// decided: the search, or `None` when interrupted.
    async fn search(
        &self,
        commits: &[Commit],
        judge: &Judge,
        good_rev: Option<&Revision>,
        findings: &mut Findings,
    ) -> Option<Search> {
        let mut search = Search::new(commits.len());
        while let Some(index) = search.next() {
            if interrupted_by(self.ctx.interrupt).is_some() {
                return None;
            }
            let commit = &commits[index];
            let took = Instant::now();
            let (decision, measurement) = self.decide(commit, judge, good_rev).await?;
            let detail = match (&decision, &measurement) {
                (Decision::Skipped(why), _) => why.clone(),
                (_, Some(m)) => m.detail.clone(),
                (_, None) => String::new(),
            };
            self.say(format!(
                "{} {}: {} ({detail})",
                short(&commit.sha),
                commit.subject,
                decision.describe()
            ));
            let (value, cost) = measurement.map_or((None, None), |m| (m.value, m.cost));
            let step = BisectStep {
                detail,
                seconds: took.elapsed().as_secs_f64(),
                ..step(commit, value, "", decision.clone())
            };
            findings.record(step, cost);
            search.record(index, decision);
        }
        Some(search)
    }

    /// One commit built, measured and decided (skipped, with why, when it cannot be);
    /// `None` when interrupted.
    async fn decide(
        &self,
        commit: &Commit,
        judge: &Judge,
        good_rev: Option<&Revision>,
    ) -> Option<(Decision, Option<Measurement>)> {
        let rev = match self.prepare(commit, "").await {
            Ok(None) => return None,
            Err(why) => return Some((Decision::Skipped(why), None)),
            Ok(Some(rev)) => rev,
        };
        let measured = match judge {
            Judge::Cost(line) => (self.count(&rev).await)
                .map(|cost| cost.map(|cost| Measurement::counted(line, cost))),
            Judge::Pairs(judged) => {
                let good_rev = good_rev.expect("kept for the pairs");
                (self.pair(good_rev, &rev).await)
                    .map(|checks| checks.map(|checks| Measurement::paired(judged, checks)))
            }
        };
        match measured {
            Ok(None) => None,
            Err(why) => Some((Decision::Skipped(why), None)),
            Ok(Some(measurement)) => {
                let decision = match judge {
                    Judge::Cost(line) => line.decide(measurement.cost.as_ref().expect("counted")),
                    Judge::Pairs(judged) => decide_checks(judged, &measurement.checks),
                };
                Some((decision, Some(measurement)))
            }
        }
    }

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

fn with_seconds(step: BisectStep, seconds: f64) -> BisectStep {
    BisectStep { seconds, ..step }
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

    #[test]
    fn steps_are_the_halvings_of_the_range() {
        assert_eq!(steps_at_most(1), 0);
        assert_eq!(steps_at_most(2), 1);
        assert_eq!(steps_at_most(12), 4);
        assert_eq!(steps_at_most(16), 4);
        assert_eq!(steps_at_most(17), 5);
    }
}
