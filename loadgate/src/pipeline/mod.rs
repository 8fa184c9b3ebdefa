//! The gate, top to bottom, for every spec: plan → launch → measure → judge → report, and the
//! baselines written on request. Everything that can be wrong with the input is found before the
//! first service is launched; what happens meanwhile reaches the front end as [`Event`]s.

pub mod bisect;
pub mod blocking;
pub mod events;
pub mod measure;
pub mod merge;
pub mod profiled;
pub mod shard;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, anyhow, bail};
use url::Url;

use crate::judge::baseline::{self, Baseline};
use crate::judge::profiling::{ProfileGap, profile_notes};
use crate::judge::spec::{
    Against, SpecFacts, compared_with, cost_skipped, judge_spec, with_baseline,
};
use crate::judge::trust::from_result;
use crate::judge::verdict::{GateResult, SpecResult};
use crate::plan::guard;
use crate::plan::secret::Secrets;
use crate::plan::shard::ShardOf;
use crate::plan::{self, Overrides, Plan};
use crate::report;
use crate::service::against::BaseCheckout;
use crate::support::clock::WallClock;
use crate::support::exit::Exit;
use crate::support::files::write_atomic;
use crate::support::meta::{Build, Provenance};
use crate::support::open_files;
use crate::support::paths::Paths;
pub use events::Interrupt;
use events::{Event, Observer, interrupted_by};
use measure::{Context, Profiling, Repeat, Services};

/// What a gate run does. [`GateOptions::new`] gives the defaults of `cargo xtask loadtest`
/// without flags; set the fields that differ.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Where GitHub Actions wants the summary and annotations; `None` outside it.
    pub github: Option<GitHub>,
    /// `--shard I/N`: run one shard of a distributed run, write its file, judge nothing.
    pub shard: Option<ShardRun>,
    /// `--no-cost`: skip the `[cost]` phase (instructions under Valgrind), for quick runs.
    pub no_cost: bool,
    /// `--profile`: sample the service with `perf` during the judged window, and report where
    /// its CPU time went beside the verdict.
    pub profile: bool,
}

/// One shard of a distributed run: which, from when, and under which run id.
#[derive(Debug, Clone)]
pub struct ShardRun {
    pub shard: ShardOf,
    /// `--start-at`: the instant every shard starts from; now when a 1/1 shard has none.
    pub start_at: Option<SystemTime>,
    /// `--run-id`; by default a hash of the specs, the number of shards and the start.
    pub run_id: Option<String>,
    /// `--shard-label`, e.g. a region.
    pub label: Option<String>,
    /// The wall clock the start is read from (a test may skew it).
    pub clock: WallClock,
}

impl GateOptions {
    pub fn new(paths: Paths) -> GateOptions {
        GateOptions {
            paths,
            specs: Vec::new(),
            target: None,
            overrides: Overrides::default(),
            update_baselines: false,
            require_baselines: false,
            allow_remote: false,
            strict_host: false,
            against: None,
            github: None,
            shard: None,
            no_cost: false,
            profile: false,
        }
    }
}

/// The GitHub Actions outputs: the job summary file and `::error` annotations.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GitHub {
    /// `$GITHUB_STEP_SUMMARY`: the Markdown summary is appended to it.
    pub step_summary: Option<PathBuf>,
    /// Print each failed check as an annotation on its spec file.
    pub annotations: bool,
}

/// Why a gate gave no verdict of its own; each kind has its exit code.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The spec, a baseline or the command line is wrong: nothing was run.
    #[error("{0:#}")]
    BadInput(anyhow::Error),
    /// The load ran, but a report or a baseline could not be written.
    #[error("{0:#}")]
    Output(anyhow::Error),
    /// A second signal stopped the gate at once: nothing was judged or written.
    #[error("interrupted again by {0}: the service was stopped")]
    StoppedNow(&'static str),
    /// The service (a shard's `--target`) cannot be reached: no load was sent.
    #[error("{0:#}")]
    Unreachable(anyhow::Error),
}

impl GateError {
    pub fn exit(&self) -> Exit {
        match self {
            GateError::BadInput(_) => Exit::BadInput,
            GateError::Output(_) => Exit::OutputFailed,
            GateError::StoppedNow(_) => Exit::Interrupted,
            GateError::Unreachable(_) => Exit::ServiceFailed,
        }
    }
}

/// Runs the gate. `console` receives the human-readable report as each spec completes; the
/// files go to the output directory; `observer` hears what happens meanwhile. Everything the
/// gate judged, including a failed service, is in the returned result. When `interrupt` fires,
/// the spec running stops, what it measured is reported unjudged, and no later spec runs.
pub async fn loadtest(
    options: &GateOptions,
    console: &mut dyn Write,
    observer: Arc<dyn Observer>,
    interrupt: Interrupt,
) -> Result<GateResult, GateError> {
    let paths = &options.paths;
    let mut provenance = Provenance::collect(&paths.root);
    // The services `{bin:NAME}` names are the workspace's release build; --target has none.
    provenance.build = options.target.is_none().then(Build::collect);
    let planned = plan_all(options).map_err(GateError::BadInput)?;
    // Before any service starts: they inherit it.
    open_files::raise();
    let _lock = lock_out_dir(paths, &observer)
        .await
        .map_err(GateError::BadInput)?;
    // Everything written from here on passes through the redaction of every spec's secrets.
    let mut secrets = Secrets::default();
    for (plan, _) in &planned {
        secrets.merge(&plan.secrets);
    }
    let checkout = check_out_base(options, &observer)
        .await
        .map_err(GateError::BadInput)?;
    let ctx = Context {
        paths,
        observer: &observer,
        interrupt: &interrupt,
        profiling: profiling(options),
    };
    let mut results = Vec::new();
    for (plan, baseline) in &planned {
        if interrupted_by(&interrupt).is_some() {
            break;
        }
        let paired = checkout.as_ref().filter(|_| plan.sweep.is_none());
        let result = run_spec(plan, baseline.as_ref(), paired, &provenance, options, &ctx)
            .await
            .map_err(GateError::BadInput)?;
        let mut text = Vec::new();
        report::console::write_spec(&mut text, &result).map_err(output)?;
        console
            .write_all(&secrets.redact_bytes(&text))
            .map_err(output)?;
        results.push(result);
    }

    let interrupted = interrupted_by(&interrupt);
    // An interrupted run recorded less than the spec asks: it is no baseline.
    let record = options.update_baselines && interrupted.is_none();
    let (baselines_updated, baseline_error) =
        record_baselines(record, paths, &results, &provenance);
    let result = GateResult::new(
        provenance,
        results,
        baselines_updated,
        interrupted.map(str::to_owned),
    );
    conclude(result, baseline_error, options, console, &secrets)
}

fn output(err: std::io::Error) -> GateError {
    GateError::Output(anyhow!(err).context("cannot write the console report"))
}

/// Plans every spec and reads its baseline, before anything runs.
fn plan_all(options: &GateOptions) -> anyhow::Result<Vec<(Plan, Option<Baseline>)>> {
    let paths = &options.paths;
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
        // A shard without --target is refused before planning; `loadtest plan` has none.
        if plan.service.is_none() && options.target.is_none() && options.shard.is_none() {
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
    let counts_cost = !options.no_cost && options.shard.is_none();
    if counts_cost && let Some((plan, _)) = planned.iter().find(|(p, _)| p.cost.is_some()) {
        if options.target.is_some() {
            bail!(
                "{}: [cost] launches the service under Valgrind, and --target names one already \
                 running: drop --target, or pass --no-cost",
                plan.file.display()
            );
        }
        crate::cost::valgrind::check_installed()
            .map_err(|err| anyhow!("{}: {err}", plan.file.display()))?;
    }
    if options.against.is_some() && options.target.is_some() {
        bail!(
            "--against launches the services of both revisions: it cannot be combined with --target"
        );
    }
    Ok(planned)
}

/// One gate at a time per output directory; waiting happens off the async threads.
async fn lock_out_dir(
    paths: &Paths,
    observer: &Arc<dyn Observer>,
) -> anyhow::Result<std::fs::File> {
    let out_dir = paths.out_dir.clone();
    let event = Event::WaitingForOutDir {
        out_dir: paths.shown(&paths.out_dir),
    };
    let observer = observer.clone();
    tokio::task::spawn_blocking(move || {
        crate::support::files::lock_dir(&out_dir, || observer.event(&event))
    })
    .await?
}

/// `--against REV`: the base revision checked out and built, told before its build.
async fn check_out_base(
    options: &GateOptions,
    observer: &Arc<dyn Observer>,
) -> anyhow::Result<Option<BaseCheckout>> {
    let Some(rev) = options.against.clone() else {
        return Ok(None);
    };
    let (root, observer) = (options.paths.root.clone(), observer.clone());
    let checkout = tokio::task::spawn_blocking(move || {
        BaseCheckout::prepare(&root, &rev, |checkout, built| {
            observer.event(&Event::BaseBuild {
                rev: checkout.rev.clone(),
                commit: checkout.commit.clone(),
                dir: (!built).then(|| checkout.dir.clone()),
            });
        })
    })
    .await??;
    Ok(Some(checkout))
}

/// One spec: its services launched, its load measured, the result judged.
async fn run_spec(
    plan: &Plan,
    baseline: Option<&Baseline>,
    checkout: Option<&BaseCheckout>,
    provenance: &Provenance,
    options: &GateOptions,
    ctx: &Context<'_>,
) -> anyhow::Result<SpecResult> {
    let repeat = Repeat::of(plan, checkout.is_some());
    let mut result = SpecResult::unjudged(plan, ctx.paths);
    if let (Some(checkout), Repeat::Pairs(budget)) = (checkout, &repeat) {
        (result.notes).push(compared_with(
            &checkout.rev,
            &checkout.commit,
            budget.rounds,
        ));
    } else {
        result = with_baseline(result, baseline);
    }
    let mut services = match Services::launch(plan, options.target.as_ref(), checkout, ctx).await {
        Ok(services) => services,
        Err(failure) => return Ok(result.with_failure(failure, plan, ctx.paths).judged(None)),
    };
    let mut measured = measure::measure(plan, &repeat, &mut services, ctx).await?;
    if options.no_cost {
        result.notes.extend(cost_skipped(plan));
    } else {
        measure::count_cost(plan, checkout, &mut measured, ctx).await;
    }
    let profile_runs = std::mem::take(&mut measured.profile);
    let interrupted = interrupted_by(ctx.interrupt);
    let facts = SpecFacts {
        plan,
        against: against(&repeat, baseline),
        host: &provenance.host,
        build: provenance.build.as_ref(),
        paths: &options.paths,
        overrides: &options.overrides,
        strict_host: options.strict_host,
        interrupted,
        distrusted: None,
    };
    let combined = measured.combine(plan, &repeat);
    let mut result = judge_spec(&facts, result, combined, measured.failure);
    let (profile, gaps) = match &ctx.profiling {
        Profiling::Off => (None, Vec::new()),
        Profiling::Unavailable(gap) => (None, vec![gap.clone()]),
        Profiling::On => profiled::conclude(ctx.paths, &plan.name, checkout, profile_runs),
    };
    result.profile = profile;
    result.notes.extend(profile_notes(&gaps));
    Ok(result)
}

/// What a spec repeated so is judged against.
fn against<'a>(repeat: &Repeat, baseline: Option<&'a Baseline>) -> Against<'a> {
    match repeat {
        Repeat::Pairs(budget) => Against::Pairs {
            rounds: budget.rounds as usize,
        },
        _ => Against::Baseline(baseline),
    }
}

/// Whether `--profile` samples the services, and if it cannot, why.
fn profiling(options: &GateOptions) -> Profiling {
    if !options.profile || options.shard.is_some() {
        return Profiling::Off;
    }
    if options.target.is_some() {
        return Profiling::Unavailable(ProfileGap::NoProcess);
    }
    match crate::profile::perf::unavailable() {
        Some(why) => Profiling::Unavailable(ProfileGap::Unavailable(why)),
        None => Profiling::On,
    }
}

/// Writes the baselines of the completed results when `record`: the files written, and the
/// error that stopped the writing (each file is written whole or not at all). The caller
/// answers that error after the reports, so what was measured still reaches them.
fn record_baselines(
    record: bool,
    paths: &Paths,
    results: &[SpecResult],
    provenance: &Provenance,
) -> (Vec<PathBuf>, Option<anyhow::Error>) {
    let mut written = Vec::new();
    if !record {
        return (written, None);
    }
    for result in results {
        if let Some(baseline) = from_result(result, provenance) {
            let file = paths.baseline_file(&result.name);
            if let Err(err) = baseline::write(&file, &baseline) {
                return (written, Some(err));
            }
            written.push(paths.shown(&file));
            let stacks = result.profile.as_ref().map(|p| &p.stacks);
            match store_profile(paths, &result.name, stacks) {
                Ok(stored) => written.extend(stored),
                Err(err) => return (written, Some(err)),
            }
        }
    }
    (written, None)
}

/// `--profile`: the stacks beside the baseline just written, for later runs' differential flame
/// graphs; a baseline recorded without them drops the old ones, which no longer describe it.
/// The file written, if any.
fn store_profile(
    paths: &Paths,
    name: &str,
    stacks: Option<&crate::profile::Stacks>,
) -> anyhow::Result<Option<PathBuf>> {
    let file = paths.baseline_profile_file(name);
    match stacks.filter(|s| !s.is_empty()) {
        Some(stacks) => {
            write_atomic(&file, &stacks.compressed())?;
            Ok(Some(paths.shown(&file)))
        }
        None => {
            if file.exists() {
                std::fs::remove_file(&file)
                    .with_context(|| format!("cannot remove the stale {}", file.display()))?;
            }
            Ok(None)
        }
    }
}

/// Writes every report of `result`, then answers the error that stopped the baselines, if any.
fn conclude(
    result: GateResult,
    baseline_error: Option<anyhow::Error>,
    options: &GateOptions,
    console: &mut dyn Write,
    secrets: &Secrets,
) -> Result<GateResult, GateError> {
    write_reports(&result, options, console, secrets).map_err(GateError::Output)?;
    match baseline_error {
        Some(err) => Err(GateError::Output(err)),
        None => Ok(result),
    }
}

/// The report files, then the console's footer (and annotations, under GitHub Actions).
fn write_reports(
    result: &GateResult,
    options: &GateOptions,
    console: &mut dyn Write,
    secrets: &Secrets,
) -> anyhow::Result<()> {
    let paths = &options.paths;
    let github = options.github.as_ref();
    let step_summary = github.and_then(|g| g.step_summary.as_deref());
    report::write_files(result, &paths.out_dir, step_summary, secrets)?;
    let mut text = Vec::new();
    report::console::write_footer(&mut text, result, &paths.shown(&paths.out_dir))?;
    if github.is_some_and(|g| g.annotations) {
        report::annotations::write(&mut text, result)?;
    }
    console
        .write_all(&secrets.redact_bytes(&text))
        .context("cannot write the console report")
}

/// What `accept` did: the baselines written, and the specs it left out with why.
#[derive(Debug, Default)]
pub struct Accepted {
    pub written: Vec<PathBuf>,
    pub skipped: Vec<(String, String)>,
}

/// Promotes the specs of the last run's `summary.json` to baselines, without running anything.
pub fn accept(paths: &Paths) -> anyhow::Result<Accepted> {
    let summary_file = paths.summary_json();
    let text = std::fs::read_to_string(&summary_file).with_context(|| {
        format!(
            "cannot read {} (run `cargo xtask loadtest` first)",
            summary_file.display()
        )
    })?;
    let result: GateResult = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a loadgate summary", summary_file.display()))?;
    let mut accepted = Accepted::default();
    for spec in &result.specs {
        match from_result(spec, &result.provenance) {
            Some(baseline) => {
                let file = paths.baseline_file(&spec.name);
                baseline::write(&file, &baseline)?;
                accepted.written.push(file);
                // The run's profile, from the folded stacks it left in the output directory.
                let stacks = spec.profile.as_ref().and_then(|_| {
                    let folded = std::fs::read_to_string(paths.profile_folded(&spec.name)).ok()?;
                    Some(crate::profile::Stacks::parse(&folded))
                });
                if let Some(stored) = store_profile(paths, &spec.name, stacks.as_ref())? {
                    accepted.written.push(paths.root.join(stored));
                }
            }
            None => accepted.skipped.push((
                spec.name.clone(),
                spec.reason
                    .clone()
                    .unwrap_or_else(|| "no summary".to_owned()),
            )),
        }
    }
    if accepted.written.is_empty() {
        bail!(
            "{} holds no completed run to accept",
            summary_file.display()
        );
    }
    Ok(accepted)
}
