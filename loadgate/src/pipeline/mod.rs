//! The pipeline, top to bottom: spec → plan → (launch) → run → record → summarize → compare →
//! report, and baselines written on request. Everything that can be wrong with the input is
//! found before the first service is launched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use tokio::sync::watch;
use url::Url;

use crate::judge::baseline::{self, Baseline};
use crate::judge::checks::{Check, CheckOutcome, compare, round_values};
use crate::judge::verdict::{GateResult, SpecResult, Verdict};
use crate::plan::guard;
use crate::plan::secret::Secrets;
use crate::plan::{self, Overrides, Plan, ServicePlan, Threshold};
use crate::report;
use crate::report::progress;
use crate::run::resources::Sampler;
use crate::run::{self, Counters};
use crate::service::against::BaseCheckout;
use crate::service::{self, Service, ServiceFailure};
use crate::summary::{
    Metrics, ScheduleSummary, SpecSummary, merge_rounds, summarize, summarize_sweep,
};
use crate::support::meta::{Host, Provenance};
use crate::support::paths::Paths;

#[derive(Debug, Clone)]
pub struct GateOptions {
    pub paths: Paths,
    /// Spec names or files; empty runs every spec in the loadspec directory.
    pub specs: Vec<String>,
    /// Test this running service instead of launching the spec's `[service]`.
    pub target: Option<Url>,
    pub overrides: Overrides,
    pub update_baselines: bool,
    pub require_baselines: bool,
    /// `--allow-remote`: `--target` may be an address that is not loopback.
    pub allow_remote: bool,
    /// `--strict-host`: a baseline recorded on another host makes the run inconclusive.
    pub strict_host: bool,
    /// `--against REV`: compare with that revision's service on this machine, in paired
    /// rounds, instead of with the stored baselines.
    pub against: Option<String>,
}

/// Tells a running gate to stop: the name of the signal that asked for it.
pub type Interrupt = watch::Receiver<Option<&'static str>>;

/// Runs the gate. `console` receives the human-readable report as each spec completes; the
/// files go to the output directory. Errors are bad input (exit 2); everything the gate judged,
/// including a failed service, is in the returned result. When `interrupt` fires, the spec
/// running stops, what it measured is reported unjudged, and no later spec runs.
pub async fn loadtest(
    options: &GateOptions,
    console: &mut dyn Write,
    interrupt: Interrupt,
) -> anyhow::Result<GateResult> {
    let paths = &options.paths;
    let provenance = Provenance::collect(&paths.root);

    let mut planned: Vec<(Plan, Option<Baseline>)> = Vec::new();
    for file in paths.spec_files(&options.specs)? {
        let plan = plan::load(&file, &paths.root, &options.overrides)?;
        if let Some((other, _)) = planned.iter().find(|(p, _)| p.name == plan.name) {
            bail!(
                "two specs are named `{}`: {} and {} (their baselines and logs would collide)",
                plan.name,
                other.file.display(),
                file.display()
            );
        }
        if let Some(target) = &options.target
            && !(options.allow_remote || plan.allow_remote)
        {
            guard::check(target).with_context(|| format!("{}", file.display()))?;
        }
        if plan.service.is_none() && options.target.is_none() {
            bail!(
                "{}: the spec has no [service] to launch; add one or pass --target URL",
                file.display()
            );
        }
        let baseline_file = paths.baseline_file(&plan.name);
        let baseline = baseline::read(&baseline_file)?;
        if baseline.is_none() && options.require_baselines && !options.update_baselines {
            bail!(
                "no baseline for `{}` ({} is missing) and --require-baselines is set",
                plan.name,
                baseline_file.display()
            );
        }
        planned.push((plan, baseline));
    }

    // One gate at a time per output directory; waiting happens off the async threads.
    let out_dir = paths.out_dir.clone();
    let shown_out = paths.shown(&paths.out_dir);
    let _lock = tokio::task::spawn_blocking(move || {
        crate::support::files::lock_dir(&out_dir, || {
            eprintln!(
                "loadgate: another gate is writing {}: waiting for it to finish",
                shown_out.display()
            );
        })
    })
    .await??;

    // Everything written from here on passes through the redaction of every spec's secrets.
    let mut secrets = Secrets::default();
    for (plan, _) in &planned {
        secrets.merge(&plan.secrets);
    }
    let checkout = match &options.against {
        Some(rev) => {
            if options.target.is_some() {
                bail!(
                    "--against launches the services of both revisions: it cannot be combined with --target"
                );
            }
            let (root, rev) = (paths.root.clone(), rev.clone());
            Some(tokio::task::spawn_blocking(move || BaseCheckout::prepare(&root, &rev)).await??)
        }
        None => None,
    };
    let mut results = Vec::new();
    for (plan, baseline) in &planned {
        if interrupt.borrow().is_some() {
            break;
        }
        let result = match &checkout {
            // A sweep measures a capacity, not rounds: it keeps its stored baseline.
            Some(checkout) if plan.sweep.is_none() => {
                run_ab(plan, checkout, options, interrupt.clone()).await?
            }
            _ => run_spec(plan, baseline.as_ref(), options, interrupt.clone()).await?,
        };
        let mut text = Vec::new();
        report::console::write_spec(&mut text, &result)?;
        console.write_all(&secrets.redact_bytes(&text))?;
        results.push(result);
    }

    let interrupted = *interrupt.borrow();
    let mut baselines_updated = Vec::new();
    // A baseline that cannot be written (each is written whole or not at all) stops the
    // recording, but what was measured still reaches the reports before the error.
    let mut baseline_error = None;
    // An interrupted run recorded less than the spec asks: it is no baseline.
    if options.update_baselines && interrupted.is_none() {
        for result in &results {
            if let Some(baseline) = baseline::from_result(result, &provenance) {
                let file = paths.baseline_file(&result.name);
                if let Err(err) = baseline::write(&file, &baseline) {
                    baseline_error = Some(err);
                    break;
                }
                baselines_updated.push(paths.shown(&file));
            }
        }
    }

    let result = GateResult::new(
        provenance,
        results,
        baselines_updated,
        interrupted.map(str::to_owned),
    );
    let step_summary = std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from);
    report::write_files(&result, &paths.out_dir, step_summary.as_deref(), &secrets)?;
    let mut text = Vec::new();
    report::console::write_footer(&mut text, &result, &paths.shown(&paths.out_dir))?;
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true") {
        report::annotations::write(&mut text, &result)?;
    }
    console.write_all(&secrets.redact_bytes(&text))?;
    match baseline_error {
        Some(err) => Err(err),
        None => Ok(result),
    }
}

async fn run_spec(
    plan: &Plan,
    baseline: Option<&Baseline>,
    options: &GateOptions,
    interrupt: Interrupt,
) -> anyhow::Result<SpecResult> {
    let paths = &options.paths;
    let mut notes = Vec::new();
    let unjudged = |failure: Option<ServiceFailure>, notes: Vec<String>| {
        let baseline_total = baseline.map(|b| b.summary.total.clone());
        spec_result(
            plan,
            paths,
            failure,
            notes,
            None,
            baseline_total,
            Vec::new(),
        )
    };

    let mut service = match (&options.target, &plan.service) {
        (Some(_), _) => None,
        (None, Some(service_plan)) => {
            let log = paths.service_log(&plan.name);
            match start_service(plan, service_plan, &paths.root, &log, paths).await {
                Ok(service) => Some(service),
                Err(failure) => return Ok(unjudged(Some(failure), notes).judged(None)),
            }
        }
        (None, None) => unreachable!("checked while planning"),
    };
    let base_url = match (&options.target, &service) {
        (Some(target), _) => target.clone(),
        (None, Some(service)) => service.base_url.clone(),
        (None, None) => unreachable!("checked while planning"),
    };

    // `${seq}` and sequential data rows go on across rounds and steps against this service.
    let counters = Arc::new(Counters::default());
    let (summary, service_failure) = match &plan.sweep {
        None if plan.rounds == 1 => {
            run_load(
                plan,
                &base_url,
                service.as_mut(),
                &counters,
                interrupt.clone(),
            )
            .await?
        }
        None => {
            // Rounds run back to back against the same service: a restart per round would
            // add its start-up to every round and measure a cold service each time.
            let mut rounds = Vec::new();
            let mut failure = None;
            for round in 1..=plan.rounds {
                eprintln!("loadgate: {}: round {round} of {}", plan.name, plan.rounds);
                let (summary, died) = run_load(
                    plan,
                    &base_url,
                    service.as_mut(),
                    &counters,
                    interrupt.clone(),
                )
                .await?;
                rounds.push(summary);
                if died.is_some() || interrupt.borrow().is_some() {
                    failure = died;
                    break;
                }
            }
            (merged(&rounds, &plan.thresholds), failure)
        }
        Some(sweep) => {
            // Each step is the spec's load at that many users or that rate, one after the
            // other against the same service; a death ends the sweep.
            let mut steps = Vec::new();
            let mut failure = None;
            for &step in &sweep.steps {
                let (summary, died) = run_load(
                    &plan.at_step(step),
                    &base_url,
                    service.as_mut(),
                    &counters,
                    interrupt.clone(),
                )
                .await?;
                steps.push((step, summary));
                if died.is_some() || interrupt.borrow().is_some() {
                    failure = died;
                    break;
                }
            }
            let (sweep, chosen) = summarize_sweep(plan, &steps);
            let summary = SpecSummary {
                sweep: Some(sweep),
                ..steps.swap_remove(chosen).1
            };
            (summary, failure)
        }
    };
    if let Some(service) = service.as_mut() {
        service.stop().await;
    }
    if let Some(failure) = service_failure {
        // What was measured up to the crash is kept, but not judged.
        let mut result = unjudged(Some(failure), notes);
        result.summary = Some(summary);
        return Ok(result.judged(None));
    }
    if let Some(signal) = *interrupt.borrow() {
        let mut result = unjudged(None, notes);
        result.summary = Some(summary);
        return Ok(result.judged(Some(interrupted(signal))));
    }

    let checks = compare(
        &plan.thresholds,
        &summary,
        baseline.map(|b| &b.summary),
        false,
    );
    let stale_baseline = match baseline {
        None => {
            notes.push(format!(
                "no baseline ({}): regression checks were not judged; record one with --update-baselines",
                paths.shown(&paths.baseline_file(&plan.name)).display()
            ));
            None
        }
        Some(baseline) if baseline.spec_hash != plan.spec_hash => Some(format!(
            "the baseline was recorded for another version of the spec (workload hash {} there, {} now): \
             record a new one with --update-baselines",
            baseline.spec_hash, plan.spec_hash
        )),
        Some(_) => None,
    };
    let shortfall = summary
        .schedule
        .as_ref()
        .and_then(ScheduleSummary::shortfall);
    // Figures from another machine are not comparable: said always, decisive with --strict-host.
    let host = Host::collect();
    let other_host = baseline.filter(|b| b.provenance.host != host).map(|b| {
        let describe = |h: &Host| {
            format!(
                "{} × {}, {} {}",
                h.cpus,
                h.cpu_model.as_deref().unwrap_or("unknown CPU"),
                h.os,
                h.arch
            )
        };
        format!(
            "the baseline was recorded on another host ({} there, {} here)",
            describe(&b.provenance.host),
            describe(&host)
        )
    });
    let other_host = match other_host {
        Some(text) if options.strict_host => Some(format!("{text} and --strict-host is set")),
        Some(text) => {
            notes.push(format!("{text}: its figures may not compare"));
            None
        }
        None => None,
    };
    let reasons: Vec<String> = [stale_baseline, shortfall, other_host]
        .into_iter()
        .flatten()
        .collect();
    let inconclusive = (!reasons.is_empty()).then(|| reasons.join("; "));
    if summary.service.is_none() && plan.thresholds.iter().any(|t| t.metric.is_service()) {
        notes.push("the service_* checks were not judged: there is no service process to measure (--target)".to_owned());
    }
    if options.overrides.users.is_some()
        || options.overrides.duration.is_some()
        || options.overrides.warmup.is_some()
    {
        notes.push(
            "run with --users/--duration/--warmup overrides: the load differs from the spec's"
                .to_owned(),
        );
    }
    Ok(SpecResult {
        summary: Some(summary),
        checks,
        ..unjudged(None, notes)
    }
    .judged(inconclusive))
}

/// A spec's result before it is judged. The service failure's log is named relative to the
/// project, like every other path, and its tail has the secrets redacted: it may echo what the
/// service was sent.
fn spec_result(
    plan: &Plan,
    paths: &Paths,
    failure: Option<ServiceFailure>,
    notes: Vec<String>,
    summary: Option<SpecSummary>,
    baseline_total: Option<Metrics>,
    checks: Vec<Check>,
) -> SpecResult {
    SpecResult {
        name: plan.name.clone(),
        file: paths.shown(&plan.file),
        spec_hash: plan.spec_hash.clone(),
        verdict: Verdict::Pass,
        reason: None,
        service_failure: failure.map(|f| ServiceFailure {
            log_file: paths.shown(&f.log_file),
            log_tail: plan.secrets.redact(&f.log_tail).into_owned(),
            ..f
        }),
        notes,
        summary,
        baseline_total,
        checks,
    }
}

/// Why an interrupted spec is not judged.
fn interrupted(signal: &str) -> String {
    format!("interrupted by {signal}: the partial results are kept but not judged")
}

/// Launches the service from `root` (the project, or the base revision's worktree) and says so.
async fn start_service(
    plan: &Plan,
    service_plan: &ServicePlan,
    root: &Path,
    log: &Path,
    paths: &Paths,
) -> Result<Service, ServiceFailure> {
    let place = if root == paths.root {
        String::new()
    } else {
        format!(" in {}", paths.shown(root).display())
    };
    eprintln!(
        "loadgate: {}: starting `{}`{place}",
        plan.name,
        service_plan.command.join(" "),
    );
    let launched = Instant::now();
    let service = service::launch(service_plan, root, log).await?;
    eprintln!(
        "loadgate: {}: ready after {:.1?} (log: {})",
        plan.name,
        launched.elapsed(),
        paths.shown(&service.log_file).display()
    );
    Ok(service)
}

/// `--against`: the spec's load on the base revision's service and on this one's, in paired
/// rounds alternating ABBA… on this machine, judged on the paired ratios. No stored baseline.
async fn run_ab(
    plan: &Plan,
    checkout: &BaseCheckout,
    options: &GateOptions,
    interrupt: Interrupt,
) -> anyhow::Result<SpecResult> {
    let paths = &options.paths;
    let service_plan = plan.service.as_ref().expect("checked while planning");
    let rounds = plan.rounds.max(AB_MIN_ROUNDS);
    let notes = vec![format!(
        "compared with {} ({}) on this machine, not with a stored baseline: paired rounds in ABBA order, at least {rounds}",
        checkout.rev,
        &checkout.commit[..12]
    )];
    let result = |summary, failure, checks, base: Option<&SpecSummary>| {
        let base_total = base.map(|b| b.total.clone());
        spec_result(
            plan,
            paths,
            failure,
            notes.clone(),
            summary,
            base_total,
            checks,
        )
    };
    let of_base = |f: ServiceFailure| ServiceFailure {
        message: format!("the base revision's service: {}", f.message),
        ..f
    };
    // Each service knows its side (for its logs, or a benchmark's injected slowdown).
    let side = |name: &str| {
        let mut side_plan = service_plan.clone();
        side_plan
            .env
            .push(("LOADGATE_AB_SIDE".to_owned(), name.to_owned()));
        side_plan
    };
    let base_log = paths
        .out_dir
        .join(format!("{}.base.service.log", plan.name));
    let mut base = match start_service(plan, &side("base"), &checkout.dir, &base_log, paths).await {
        Ok(service) => service,
        Err(failure) => return Ok(result(None, Some(of_base(failure)), vec![], None).judged(None)),
    };
    let log = paths.service_log(&plan.name);
    let mut candidate =
        match start_service(plan, &side("candidate"), &paths.root, &log, paths).await {
            Ok(service) => service,
            Err(failure) => return Ok(result(None, Some(failure), vec![], None).judged(None)),
        };

    let (mut base_rounds, mut candidate_rounds) = (Vec::new(), Vec::new());
    let (base_counters, candidate_counters) = (Arc::default(), Arc::default());
    let mut failure = None;
    // Past the minimum, pairs are added while a check cannot tell yet, up to a bound: a quiet
    // machine decides quickly, a noisy one gets the rounds it needs.
    let most = rounds * AB_MORE_ROUNDS;
    'pairs: for pair in 0..most {
        if pair >= rounds {
            let decided = compare(
                &plan.thresholds,
                &merged(&candidate_rounds, &plan.thresholds),
                Some(&merged(&base_rounds, &plan.thresholds)),
                true,
            )
            .iter()
            .all(|c| c.outcome != CheckOutcome::Inconclusive);
            if decided {
                break;
            }
        }
        // A B, then B A: a drift of the machine over time weighs on both sides alike.
        let sides = if pair % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_base in sides {
            let (service, into, counters) = if is_base {
                (&mut base, &mut base_rounds, &base_counters)
            } else {
                (&mut candidate, &mut candidate_rounds, &candidate_counters)
            };
            eprintln!(
                "loadgate: {}: pair {} of {rounds}{}: {}",
                plan.name,
                pair + 1,
                if pair >= rounds {
                    format!(" (more, up to {most}, while a check cannot tell)")
                } else {
                    String::new()
                },
                if is_base {
                    checkout.rev.as_str()
                } else {
                    "this revision"
                }
            );
            let url = service.base_url.clone();
            let (summary, died) =
                run_load(plan, &url, Some(service), counters, interrupt.clone()).await?;
            into.push(summary);
            if died.is_some() || interrupt.borrow().is_some() {
                failure = died.map(|f| if is_base { of_base(f) } else { f });
                break 'pairs;
            }
        }
    }
    base.stop().await;
    candidate.stop().await;

    // Only complete pairs are compared.
    let pairs = base_rounds.len().min(candidate_rounds.len());
    if pairs == 0 {
        let summary = candidate_rounds.first().or(base_rounds.first()).cloned();
        return Ok(result(summary, failure, vec![], None).judged(
            interrupt
                .borrow()
                .map(|s| format!("interrupted by {s} before a pair of rounds completed")),
        ));
    }
    let base_summary = merged(&base_rounds[..pairs], &plan.thresholds);
    let summary = merged(&candidate_rounds[..pairs], &plan.thresholds);
    if failure.is_some() {
        return Ok(result(Some(summary), failure, vec![], Some(&base_summary)).judged(None));
    }
    if let Some(signal) = *interrupt.borrow() {
        return Ok(result(Some(summary), None, vec![], Some(&base_summary))
            .judged(Some(interrupted(signal))));
    }
    let checks = compare(&plan.thresholds, &summary, Some(&base_summary), true);
    let mut spec = result(Some(summary), None, checks, Some(&base_summary));
    if pairs > rounds as usize {
        spec.notes.push(format!(
            "{pairs} pairs were run: {} more while a check could not tell",
            pairs - rounds as usize
        ));
    }
    Ok(spec.judged(None))
}

/// Paired rounds an A/B comparison runs at least: fewer give no interval worth the name.
const AB_MIN_ROUNDS: u32 = 5;
/// While a check is inconclusive, an A/B comparison runs up to this many times its rounds.
const AB_MORE_ROUNDS: u32 = 3;

/// Runs `plan`'s load once against `base_url`, watching the service's resources and its death;
/// the summary covers what was measured, up to the death if it died.
async fn run_load(
    plan: &Plan,
    base_url: &Url,
    service: Option<&mut Service>,
    counters: &Arc<Counters>,
    mut interrupt: Interrupt,
) -> anyhow::Result<(SpecSummary, Option<ServiceFailure>)> {
    let load = &plan.load;
    eprintln!(
        "loadgate: {}: {} for {} (+{} warmup) against {}",
        plan.name,
        load.describe(),
        humantime::format_duration(load.duration),
        humantime::format_duration(load.warmup),
        base_url.as_str().trim_end_matches('/'),
    );
    let started = Instant::now();
    let sampler = Sampler::start(service.as_deref().map(Service::pid));
    let mut running = run::start(plan, base_url, counters.clone())?;
    let progress = progress::show(&plan.name, running.progress());
    let mut service_failure = None;
    let service_exited = async {
        match service {
            Some(service) => {
                let status = service.exited().await;
                Some(service.died(status, started.elapsed()))
            }
            None => std::future::pending().await,
        }
    };
    let overdue = running.overdue();
    tokio::select! {
        () = running.wait() => {}
        () = overdue => eprintln!("loadgate: {}: the run did not end by itself: stopping it", plan.name),
        died = service_exited => service_failure = died,
        // A dropped sender is no interrupt: only a signal's name stops the run.
        Ok(_) = interrupt.wait_for(Option::is_some) => running.stop(),
    }
    let recording = running.finish().await;
    // The display ends when the run closes its progress.
    let _ = progress.await;
    let samples = sampler.finish();
    Ok((summarize(plan, &recording, &samples), service_failure))
}

/// Promotes the specs of the last run's `summary.json` to baselines, without running anything.
pub fn accept(paths: &Paths) -> anyhow::Result<Vec<PathBuf>> {
    let summary_file = paths.summary_json();
    let text = std::fs::read_to_string(&summary_file).with_context(|| {
        format!(
            "cannot read {} (run `cargo xtask loadtest` first)",
            summary_file.display()
        )
    })?;
    let result: GateResult = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a loadgate summary", summary_file.display()))?;
    let mut written = Vec::new();
    for spec in &result.specs {
        match baseline::from_result(spec, &result.provenance) {
            Some(baseline) => {
                let file = paths.baseline_file(&spec.name);
                baseline::write(&file, &baseline)?;
                written.push(file);
            }
            None => eprintln!(
                "loadgate: {}: not accepted: the run did not complete ({})",
                spec.name,
                spec.reason.as_deref().unwrap_or("no summary")
            ),
        }
    }
    if written.is_empty() {
        bail!(
            "{} holds no completed run to accept",
            summary_file.display()
        );
    }
    Ok(written)
}

/// Several rounds as one summary, each round's judged values kept for the round checks.
fn merged(rounds: &[SpecSummary], thresholds: &[Threshold]) -> SpecSummary {
    let mut summary = merge_rounds(rounds);
    summary.rounds = rounds.iter().map(|r| round_values(r, thresholds)).collect();
    summary
}
