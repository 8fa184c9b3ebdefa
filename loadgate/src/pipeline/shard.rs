//! `--shard I/N`: one shard of a distributed run. It plans every spec whole, keeps what its
//! shard owns, checks the target answers, sleeps until the shared start and runs each part
//! (a round or a sweep step) at its offset on the shared timeline. It never judges: it writes
//! `OUT/shards/shard-I-of-N.json` atomically, prints an unjudged table and exits 0, or 4 when
//! it missed its start or fell behind, or 130 when interrupted (the partial file is written).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;
use url::Url;

use crate::judge::shards::{fell_behind, shard_exit};
use crate::pipeline::events::Observer;
use crate::pipeline::events::{Interrupt, interrupted_by};
use crate::pipeline::measure::{Context, Profiling, record_load};
use crate::pipeline::{GateError, GateOptions, ShardRun, plan_all};
use crate::plan::Plan;
use crate::plan::secret::Secrets;
use crate::plan::shard::ShardOf;
use crate::plan::timeline::{self, Part, timeline};
use crate::run::Counters;
use crate::run::record::Recorder;
use crate::run::resources::{self, Who};
use crate::shard_file::{
    HistogramConfig, KIND, OverridesFile, PartFile, SCHEMA_VERSION, ShardFile, ShardIdentity,
    ShardStatus, SpecParts,
};
use crate::support::clock::boot_id;
use crate::support::exit::Exit;
use crate::support::meta::Host;

/// How long the target has to accept a TCP connection before the start.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one shard to its end and answers its exit code; the shard file says what happened.
pub async fn run_shard(
    options: &GateOptions,
    shard: &ShardRun,
    console: &mut dyn Write,
    observer: Arc<dyn Observer>,
    interrupt: Interrupt,
) -> Result<Exit, GateError> {
    let target = check_options(options, shard).map_err(GateError::BadInput)?;
    let plans = plan_shard(options, shard).map_err(GateError::BadInput)?;
    let mut secrets = Secrets::default();
    plans.iter().for_each(|plan| secrets.merge(&plan.secrets));
    check_reachable(target)
        .await
        .map_err(GateError::Unreachable)?;
    let parts = timeline(&plans);
    let start_at = shard.start_at.unwrap_or_else(|| shard.clock.now());
    let mut file = new_file(options, shard, &plans, start_at);
    // The one conversion from the wall clock to the monotonic one: NTP slewing during the run
    // moves nothing.
    let wall_now = shard.clock.now();
    let start = match start_at.duration_since(wall_now) {
        Ok(ahead) => Instant::now() + ahead,
        Err(_) if shard.start_at.is_none() => Instant::now(),
        // Ready after the start: catching up would send the past's requests in a burst.
        Err(late) => {
            file.status = ShardStatus::MissedStart;
            let late = late.duration();
            let message = format!(
                "shard {} was ready {:.3} s after --start-at: it sends nothing",
                shard.shard,
                late.as_secs_f64()
            );
            return finish(options, shard, file, &secrets, console, Some(message));
        }
    };
    writeln!(
        console,
        "loadgate: shard {} of run {}: starting at {} (in {:.1} s); {} parts, {:.0} s in all",
        shard.shard,
        file.run.run_id,
        humantime::format_rfc3339_millis(start_at),
        start
            .saturating_duration_since(Instant::now())
            .as_secs_f64(),
        parts.len(),
        timeline::total(&parts).as_secs_f64()
    )
    .map_err(console_error)?;
    let ctx = Context {
        paths: &options.paths,
        observer: &observer,
        interrupt: &interrupt,
        profiling: Profiling::Off,
    };
    run_parts(&plans, &parts, start, target, &mut file, &ctx).await?;
    finish(options, shard, file, &secrets, console, None)
}

/// `--shard` needs `--target` (N launched services would be N services) and cannot record
/// baselines or compare revisions (only `merge` judges); N > 1 needs a shared `--start-at`.
fn check_options<'a>(options: &'a GateOptions, shard: &ShardRun) -> anyhow::Result<&'a Url> {
    let Some(target) = options.target.as_ref() else {
        bail!(
            "--shard needs --target URL: each shard would launch a service of its own, and N services are not the one under test"
        );
    };
    if options.update_baselines {
        bail!("--shard cannot --update-baselines: shards never judge; pass it to `loadtest merge`");
    }
    if options.against.is_some() {
        bail!("--shard cannot be combined with --against: shards never judge");
    }
    if shard.shard.count() > 1 && shard.start_at.is_none() {
        bail!(
            "--shard {} needs --start-at TIME: the shards start together from one instant",
            shard.shard
        );
    }
    Ok(target)
}

/// Every spec planned whole, then the shard's part of it; a spec no shard count can split is
/// refused here, before any load.
fn plan_shard(options: &GateOptions, shard: &ShardRun) -> anyhow::Result<Vec<Plan>> {
    let whole: Vec<Plan> = plan_all(options)?
        .into_iter()
        .map(|(plan, _)| plan)
        .collect();
    shard_of(&whole, shard.shard)
}

/// The shard's part of every whole plan, or why a plan cannot be split that way.
fn shard_of(whole: &[Plan], shard: ShardOf) -> anyhow::Result<Vec<Plan>> {
    whole
        .iter()
        .map(|plan| {
            plan.sharded(shard)
                .with_context(|| format!("{}: --shard {shard}", plan.file.display()))
        })
        .collect()
}

/// What `loadtest plan` hands a CI engine before it starts N runners.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributedPlan {
    /// Spec names, in the timeline's order.
    pub specs: Vec<String>,
    pub shards: u32,
    pub start_at: SystemTime,
    /// The given `--run-id`, else the one every shard computes by default.
    pub run_id: String,
    /// Rounds and sweep steps on the shared timeline.
    pub parts: usize,
    /// When the last part has surely ended, from the start.
    pub length: Duration,
}

/// Plans every spec for each of the N shards of `options.shard` (shard 1/N, with the shared
/// start) as each shard will, so a spec that cannot be split is refused (exit 2) before any
/// runner is spent.
pub fn plan_distributed(options: &GateOptions) -> anyhow::Result<DistributedPlan> {
    let shard = (options.shard.as_ref()).context("a distributed plan needs its shards")?;
    let whole: Vec<Plan> = plan_all(options)?
        .into_iter()
        .map(|(plan, _)| plan)
        .collect();
    let shards = shard.shard.count();
    // Every shard's refusals, as each shard would meet them.
    for each in ShardOf::all(shards) {
        shard_of(&whole, each)?;
    }
    // Every shard computes the same timeline; the first's stands for all.
    let plans = shard_of(&whole, shard.shard)?;
    let start_at = shard.start_at.unwrap_or_else(|| shard.clock.now());
    let parts = timeline(&plans);
    Ok(DistributedPlan {
        specs: plans.iter().map(|plan| plan.name.clone()).collect(),
        shards,
        start_at,
        run_id: (shard.run_id.clone()).unwrap_or_else(|| default_run_id(&plans, shards, start_at)),
        parts: parts.len(),
        length: timeline::total(&parts),
    })
}

/// The target accepts a TCP connection: a shard that cannot reach it sends nothing (exit 3).
async fn check_reachable(target: &Url) -> anyhow::Result<()> {
    let host = target.host_str().unwrap_or_default().to_owned();
    let port = target.port_or_known_default().unwrap_or(80);
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(anyhow!(err).context(format!("cannot connect to {target}"))),
        Err(_) => Err(anyhow!(
            "cannot connect to {target}: no answer within {CONNECT_TIMEOUT:?}"
        )),
    }
}

/// The file as it stands before any part ran: identity, host, clock and no data.
fn new_file(
    options: &GateOptions,
    shard: &ShardRun,
    plans: &[Plan],
    start_at: SystemTime,
) -> ShardFile {
    let paths = &options.paths;
    let run_id = (shard.run_id.clone())
        .unwrap_or_else(|| default_run_id(plans, shard.shard.count(), start_at));
    ShardFile {
        kind: KIND.to_owned(),
        schema_version: SCHEMA_VERSION,
        loadgate_version: env!("CARGO_PKG_VERSION").to_owned(),
        run: ShardIdentity {
            run_id,
            index: shard.shard.number(),
            shards: shard.shard.count(),
            start_at,
        },
        label: shard.label.clone(),
        host: Host::collect(),
        boot_id: boot_id(),
        target: options
            .target
            .as_ref()
            .map(Url::to_string)
            .unwrap_or_default(),
        clock: shard.clock.status(),
        status: ShardStatus::Complete,
        started_late_us: None,
        histogram: HistogramConfig::of(&Recorder::new(0).uncorrected_us),
        overrides: OverridesFile::of(&options.overrides),
        specs: plans
            .iter()
            .map(|plan| SpecParts {
                name: plan.name.clone(),
                file: paths.shown(&plan.file),
                spec_hash: plan.spec_hash.clone(),
                parts: Vec::new(),
            })
            .collect(),
    }
}

/// A hash of what every shard of one run shares: the specs, the number of shards, the start.
fn default_run_id(plans: &[Plan], shards: u32, start_at: SystemTime) -> String {
    let mut hasher = Sha256::new();
    for plan in plans {
        hasher.update(plan.spec_hash.as_bytes());
        hasher.update([0]);
    }
    hasher.update(shards.to_le_bytes());
    let since_epoch = start_at.duration_since(SystemTime::UNIX_EPOCH);
    hasher.update(since_epoch.unwrap_or_default().as_nanos().to_le_bytes());
    let digest = hasher.finalize();
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Runs every part at its offset from `start`, recording each into the file; stops at an
/// interrupt. A part that could not start on time, or that fell behind, marks the shard behind.
async fn run_parts(
    plans: &[Plan],
    parts: &[Part],
    start: Instant,
    target: &Url,
    file: &mut ShardFile,
    ctx: &Context<'_>,
) -> Result<(), GateError> {
    // `${seq}` and sequential rows go on across a spec's parts, as in a single run.
    let counters: Vec<Arc<Counters>> = plans
        .iter()
        .map(|plan| Arc::new(Counters::new(plan.shard)))
        .collect();
    for part in parts {
        let at = start + part.offset;
        let mut interrupt = ctx.interrupt.clone();
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            Ok(_) = interrupt.wait_for(Option::is_some) => {}
        }
        if interrupted_by(ctx.interrupt).is_some() {
            file.status = ShardStatus::Interrupted;
            return Ok(());
        }
        let late = Instant::now().saturating_duration_since(at);
        if part.offset.is_zero() {
            file.started_late_us = Some(u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
        }
        let plan = &plans[part.spec];
        let at_step = part.at.map(|at| plan.at_step(at));
        let plan = at_step.as_ref().unwrap_or(plan);
        let recorded = record_load(plan, target, None, &counters[part.spec], ctx)
            .await
            .map_err(GateError::BadInput)?;
        let recording = &recorded.recording;
        let generator = resources::figures(
            &recorded.samples,
            Who::Generator,
            plan.load.warmup,
            plan.load.warmup + recording.window,
            recording.measured.total().n_requests,
        );
        let part_file = PartFile::encode(plan, part, recording, generator);
        if fell_behind(late, part_file.schedule.as_ref()) {
            file.status = ShardStatus::Behind;
        }
        file.specs[part.spec].parts.push(part_file);
        if interrupted_by(ctx.interrupt).is_some() {
            file.status = ShardStatus::Interrupted;
            return Ok(());
        }
    }
    Ok(())
}

/// Writes the file (every secret redacted), prints the unjudged table, answers the exit code.
fn finish(
    options: &GateOptions,
    shard: &ShardRun,
    file: ShardFile,
    secrets: &Secrets,
    console: &mut dyn Write,
    message: Option<String>,
) -> Result<Exit, GateError> {
    let paths = &options.paths;
    let path = shard_file_path(&paths.out_dir, shard);
    let text = serde_json::to_string_pretty(&file).expect("a shard file encodes as JSON");
    let text = secrets.redact(&text);
    crate::support::files::write_atomic(&path, text.as_bytes()).map_err(GateError::Output)?;
    let mut table = Vec::new();
    write_table(&mut table, &file, message.as_deref(), &paths.shown(&path))
        .map_err(console_error)?;
    console
        .write_all(&secrets.redact_bytes(&table))
        .map_err(console_error)?;
    Ok(shard_exit(file.status))
}

/// `OUT/shards/shard-I-of-N.json`.
pub fn shard_file_path(out_dir: &std::path::Path, shard: &ShardRun) -> PathBuf {
    out_dir.join("shards").join(format!(
        "shard-{}-of-{}.json",
        shard.shard.number(),
        shard.shard.count()
    ))
}

/// Per spec and part: requests, failures and, in the open model, sends and late sends. No
/// percentile and no verdict: only the merge has the whole run.
fn write_table(
    out: &mut dyn Write,
    file: &ShardFile,
    message: Option<&str>,
    path: &std::path::Path,
) -> std::io::Result<()> {
    let run = &file.run;
    writeln!(
        out,
        "\nshard {}/{} of run {} (unjudged)",
        run.index, run.shards, run.run_id
    )?;
    writeln!(
        out,
        "  {:<24} {:<10} {:>10} {:>9} {:>16}",
        "spec", "part", "requests", "failures", "sent (late)"
    )?;
    for spec in &file.specs {
        for part in &spec.parts {
            let (requests, failures) = part.measured.requests.iter().fold((0, 0), |(n, f), r| {
                (n + r.requests, f + r.errors.values().sum::<u64>())
            });
            let sent = part
                .schedule
                .map_or_else(|| "-".to_owned(), |s| format!("{} ({})", s.sent, s.late));
            writeln!(
                out,
                "  {:<24} {:<10} {requests:>10} {failures:>9} {sent:>16}",
                spec.name, part.label
            )?;
        }
    }
    if let Some(message) = message {
        writeln!(out, "  {message}")?;
    }
    writeln!(
        out,
        "  status: {} · written: {}",
        file.status.describe(),
        path.display()
    )
}

fn console_error(err: std::io::Error) -> GateError {
    GateError::Output(anyhow!(err).context("cannot write the console report"))
}
