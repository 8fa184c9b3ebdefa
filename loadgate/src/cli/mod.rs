//! The `loadtest` command line, for any front end: clap arguments another CLI flattens or nests
//! as a subcommand, and [`LoadtestArgs::run`], which builds the workspace's binaries, runs the
//! gate with its events on stderr and its report on stdout, and answers the exit code.

pub mod app;
mod calibrate;
pub mod init;
pub mod root;
pub mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use url::Url;

use crate::judge::history;
use crate::pipeline::bisect::BisectOptions;
use crate::pipeline::blocking::{bisect_blocking, run_blocking, run_shard_blocking};
use crate::pipeline::merge::{MergeOptions, merge};
use crate::pipeline::shard::{DistributedPlan, plan_distributed};
use crate::pipeline::{GateError, GateOptions, GitHub, ShardRun, accept};
use crate::plan::Overrides;
use crate::plan::shard::ShardOf;
use crate::report;
use crate::support::clock::WallClock;
use crate::support::cpu_latency::{CPU_LATENCY_FILE, CpusAwake};
use crate::support::exit::Exit;
use crate::support::paths::Paths;
use root::RootArgs;
use terminal::Terminal;

/// `loadtest`: run load specs against the service and gate on its baselines.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoadtestArgs {
    #[command(subcommand)]
    action: Option<LoadtestAction>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum LoadtestAction {
    /// Promote the last run's summary.json to baselines, without running anything.
    Accept(AcceptArgs),
    /// Chart every committed version of the baselines from git: history.html and history.md.
    History(HistoryArgs),
    /// Check the specs for a distributed run of N shards before N runners are spent, and print
    /// the shared start, the run id, the matrix and the timeline's length.
    Plan(PlanArgs),
    /// Merge the shard files of a distributed run (`--shard I/N`) exactly and judge the whole
    /// run once, as a single run is judged.
    Merge(MergeArgs),
    /// Find the first commit between GOOD and BAD (first-parent history) that made a spec's
    /// service worse: each commit is built beside the work tree and measured, exactly by its
    /// instructions with `[cost]`, else in paired rounds against GOOD.
    Bisect(BisectArgs),
    /// Run each spec K times unchanged on this machine and print, for each judged metric, the
    /// median, the spread and `[gate]` thresholds none of the runs would have tripped (with a
    /// margin). Nothing is written to baselines/: run it on the CI runner that will gate.
    Calibrate(CalibrateArgs),
}

#[derive(Debug, Args)]
pub struct BisectArgs {
    /// A revision whose service is good (an ancestor of BAD).
    #[arg(value_name = "GOOD")]
    pub good: String,
    /// A revision whose service is worse than GOOD's.
    #[arg(value_name = "BAD")]
    pub bad: String,
    /// The spec judged (a name in loadspec/ or a file); the only one in loadspec/ when none.
    pub specs: Vec<String>,
    /// Where bisect.json, bisect.md and the services' logs are written.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Spec names (looked up in loadspec/) or files; all of loadspec/*.toml when none.
    pub specs: Vec<String>,
    /// How many times each spec runs.
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u32).range(2..))]
    pub runs: u32,
    /// Where the runs' reports and service logs are written (under calibrate/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Do not build the workspace's binaries before running.
    #[arg(long)]
    pub no_build: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard files, or directories holding them (shard-*.json, or a shards/ directory).
    #[arg(required = true, value_name = "FILE_OR_DIR")]
    pub inputs: Vec<PathBuf>,
    /// Where baselines are read and written.
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Where reports are written.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Record the merged results as the new baselines (not when the run is inconclusive).
    #[arg(long)]
    pub update_baselines: bool,
    /// Fail (exit 2) when a spec has no baseline instead of passing with a note.
    #[arg(long)]
    pub require_baselines: bool,
    /// A baseline recorded on another host makes the run inconclusive instead of a note.
    #[arg(long)]
    pub strict_host: bool,
    /// Shards' clocks further apart than this make the run inconclusive.
    #[arg(long, value_name = "DURATION", default_value = "250ms", value_parser = parse_duration)]
    pub clock_tolerance: Duration,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Spec names (looked up in loadspec/) or files; all of loadspec/*.toml when none.
    pub specs: Vec<String>,
    /// Test a service that is already running at this URL instead of launching the spec's.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub target: Option<Url>,
    /// Where baselines are read and written.
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Where reports and service logs are written.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Run, then record the results as the new baselines (review them in the pull request).
    #[arg(long)]
    pub update_baselines: bool,
    /// Fail (exit 2) when a spec has no baseline instead of passing with a note.
    #[arg(long)]
    pub require_baselines: bool,
    /// Do not build the workspace's binaries before running.
    #[arg(long)]
    pub no_build: bool,
    /// Let --target be an address that is not loopback (by default load goes only to
    /// 127.0.0.0/8, ::1 and localhost).
    #[arg(long)]
    pub allow_remote: bool,
    /// Compare with this git revision on this machine instead of with the stored baselines:
    /// its service is built in a separate worktree, and the rounds alternate ABBA.
    #[arg(long, value_name = "REV")]
    pub against: Option<String>,
    /// A baseline recorded on another host (CPU model, cores, OS) makes the run inconclusive
    /// instead of a note.
    #[arg(long)]
    pub strict_host: bool,
    /// Hold the kernel's CPU latency limit at 0 µs for the run (/dev/cpu_dma_latency: root).
    /// Idle CPUs poll instead of halting, so on a virtual machine a timer wakes them in µs, not
    /// in up to a millisecond: the open model's sends keep time to a few µs even at low rates.
    /// The price is the host's: idle CPUs stay busy (they yield at once to any thread that can
    /// run). Meant for rates below 5 000 req/s: above, the generator spins anyway.
    #[arg(long)]
    pub keep_cpus_awake: bool,
    /// Skip the `[cost]` phase (instructions counted under Valgrind) for a quick local run; the
    /// summary says it was skipped, and no `instructions` check runs.
    #[arg(long)]
    pub no_cost: bool,
    /// Sample the service with `perf` (cpu-clock, 99 Hz, DWARF call graphs) during the judged
    /// window: OUT/NAME.profile.folded, flame graphs in report.html (a differential one against
    /// the base revision with --against, or against the profile stored beside the baseline),
    /// and the functions whose share of the samples changed most. Without perf, or where
    /// perf_event_paranoid forbids it, the gate runs as without it and a note says why.
    #[arg(long)]
    pub profile: bool,
    /// Run only shard I of N of a distributed run (1-based): write its file to
    /// OUT/shards/, judge nothing; `loadtest merge` judges the shards' files together.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<ShardOf>,
    /// The instant every shard starts from: RFC 3339 UTC (2026-12-01T10:15:00Z) or
    /// @<unix seconds>. Needed with more than one shard.
    #[arg(long, value_name = "TIME", value_parser = parse_start_at, requires = "shard")]
    pub start_at: Option<SystemTime>,
    /// Ties the shard files of one run together (default: a hash of the specs, N and the start).
    #[arg(long, value_name = "ID", requires = "shard")]
    pub run_id: Option<String>,
    /// A name for this shard in the per-shard breakdown, e.g. a region.
    #[arg(long, value_name = "TEXT", requires = "shard")]
    pub shard_label: Option<String>,
}

/// What a run changes in every spec; a shard and `loadtest plan` must be given the same.
#[derive(Debug, Args)]
pub struct OverrideArgs {
    /// Override every spec's measured duration (a quick local run), e.g. "3s".
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Override every spec's warmup, e.g. "0s".
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Override every spec's number of users.
    #[arg(long)]
    pub users: Option<u32>,
    /// Run every spec this many times and judge each metric over the rounds.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Let a spec exceed the sane bounds of load (5 000 users, 50 000 requests/s, 30 minutes).
    #[arg(long)]
    pub allow_large_load: bool,
}

impl OverrideArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            users: self.users,
            duration: self.duration,
            warmup: self.warmup,
            allow_large_load: self.allow_large_load,
            rounds: self.rounds,
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Spec names (looked up in loadspec/) or files; all of loadspec/*.toml when none.
    pub specs: Vec<String>,
    /// How many shards will run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub shards: u32,
    /// How long from now the shards start: the time for N runners to be up and ready.
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = parse_duration)]
    pub lead: Duration,
    /// Ties the shard files together (default: the one each shard computes from the specs, N
    /// and the start).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// The URL the shards will load, checked as they will check it (loopback unless
    /// --allow-remote).
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub target: Option<Url>,
    /// Let --target be an address that is not loopback.
    #[arg(long)]
    pub allow_remote: bool,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// Also append start_at, run_id, matrix and timeline_seconds to the file $GITHUB_OUTPUT
    /// names, as a GitHub Actions step's outputs.
    #[arg(long)]
    pub github_output: bool,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// Where baselines are written.
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Where the last run's summary.json is.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Spec names; every baseline ever committed when none.
    pub specs: Vec<String>,
    /// How many of the latest commits that changed a spec's baseline to read.
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Where the committed baselines are.
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Where history.html and history.md are written (and the last run's summary.json is read).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl LoadtestArgs {
    /// Runs for the project `root` names: `--root`, else the one found from the current
    /// directory (exit 2 when there is none).
    pub fn run_in(self, root: &RootArgs) -> ExitCode {
        match root.resolve() {
            Ok(root) => self.run(&root),
            Err(err) => {
                eprintln!("error: {err:#}");
                Exit::BadInput.into()
            }
        }
    }

    /// Runs `loadtest` (or `loadtest accept`) for the project at `root`; an error is printed
    /// with its causes and answered with its exit code.
    pub fn run(self, root: &Path) -> ExitCode {
        let outcome = match self.action {
            Some(LoadtestAction::Accept(args)) => args.run(root),
            Some(LoadtestAction::History(args)) => args.run(root),
            Some(LoadtestAction::Merge(args)) => args.run(root),
            Some(LoadtestAction::Plan(args)) => args.run(root),
            Some(LoadtestAction::Bisect(args)) => args.run(root),
            Some(LoadtestAction::Calibrate(args)) => args.run(root),
            None => self.run.run(root),
        };
        match outcome {
            Ok(exit) => exit.into(),
            Err(err) => {
                eprintln!("error: {err:#}");
                err.exit().into()
            }
        }
    }
}

impl RunArgs {
    /// The gate's options these flags ask for, for the project at `root`.
    pub fn options(&self, root: &Path) -> GateOptions {
        let mut options = GateOptions::new(paths(root, &self.baselines, &self.out));
        options.specs = self.specs.clone();
        options.target = self.target.clone();
        options.overrides = self.overrides.overrides();
        options.update_baselines = self.update_baselines;
        options.require_baselines = self.require_baselines;
        options.allow_remote = self.allow_remote;
        options.strict_host = self.strict_host;
        options.against = self.against.clone();
        options.no_cost = self.no_cost;
        options.profile = self.profile;
        options.github = GitHub::from_env();
        options.shard = self.shard.map(|shard| ShardRun {
            shard,
            start_at: self.start_at,
            run_id: self.run_id.clone(),
            label: self.shard_label.clone(),
            clock: WallClock {
                skew_ms: test_clock_skew_ms(),
            },
        });
        options
    }

    fn run(self, root: &Path) -> Result<Exit, GateError> {
        if !self.no_build && self.target.is_none() && self.shard.is_none() {
            build_binaries(root).map_err(GateError::BadInput)?;
        }
        let _awake = (self.keep_cpus_awake.then(CpusAwake::hold).transpose()).map_err(|error| {
            GateError::BadInput(anyhow!(
                "--keep-cpus-awake: cannot hold {CPU_LATENCY_FILE} at 0 µs: {error} (it takes \
                 root, or write access to that file)"
            ))
        })?;
        let observer = Arc::new(Terminal::stderr());
        let options = self.options(root);
        if let Some(shard) = &options.shard {
            return run_shard_blocking(&options, shard, &mut std::io::stdout(), observer);
        }
        let result = run_blocking(&options, &mut std::io::stdout(), observer)?;
        Ok(result.exit())
    }
}

impl AcceptArgs {
    fn run(self, root: &Path) -> Result<Exit, GateError> {
        let accepted =
            accept(&paths(root, &self.baselines, &self.out)).map_err(GateError::BadInput)?;
        for (spec, reason) in &accepted.skipped {
            eprintln!("loadgate: {spec}: not accepted: the run did not complete ({reason})");
        }
        for file in &accepted.written {
            println!("loadgate: baseline written: {}", file.display());
        }
        Ok(Exit::Passed)
    }
}

impl BisectArgs {
    fn run(self, root: &Path) -> Result<Exit, GateError> {
        let mut options = BisectOptions::new(paths(root, &None, &self.out), self.good, self.bad);
        options.specs = self.specs;
        options.overrides = self.overrides.overrides();
        options.github = GitHub::from_env();
        let observer = Arc::new(Terminal::stderr());
        Ok(bisect_blocking(&options, &mut std::io::stdout(), observer)?.exit)
    }
}

impl MergeArgs {
    fn run(self, root: &Path) -> Result<Exit, GateError> {
        let mut gate = GateOptions::new(paths(root, &self.baselines, &self.out));
        gate.update_baselines = self.update_baselines;
        gate.require_baselines = self.require_baselines;
        gate.strict_host = self.strict_host;
        gate.github = GitHub::from_env();
        let options = MergeOptions {
            gate,
            inputs: self.inputs,
            clock_tolerance: self.clock_tolerance,
        };
        Ok(merge(&options, &mut std::io::stdout())?.exit())
    }
}

impl PlanArgs {
    fn run(self, root: &Path) -> Result<Exit, GateError> {
        let mut options = GateOptions::new(Paths::under(root));
        options.specs = self.specs;
        options.target = self.target;
        options.allow_remote = self.allow_remote;
        options.overrides = self.overrides.overrides();
        options.shard = Some(ShardRun {
            shard: ShardOf::new(0, self.shards).expect("--shards is at least 1"),
            start_at: Some(start_after(self.lead)),
            run_id: self.run_id,
            label: None,
            clock: WallClock::default(),
        });
        // Before planning: a missing output file is a wrong command line, like a wrong spec.
        let github_output = (self.github_output)
            .then(|| std::env::var_os("GITHUB_OUTPUT").map(PathBuf::from))
            .map(|file| {
                file.ok_or_else(|| {
                    GateError::BadInput(anyhow::anyhow!(
                        "--github-output: $GITHUB_OUTPUT is not set (GitHub Actions sets it in a step)"
                    ))
                })
            })
            .transpose()?;
        let plan = plan_distributed(&options).map_err(GateError::BadInput)?;
        print_plan(&plan);
        if let Some(file) = github_output {
            append_github_output(&file, &github_outputs(&plan)).map_err(GateError::Output)?;
        }
        Ok(Exit::Passed)
    }
}

/// Now + `lead`, rounded up to a whole second: RFC 3339 prints it exactly, so every shard
/// parses the same instant (and computes the same default run id).
fn start_after(lead: Duration) -> SystemTime {
    let at = SystemTime::now() + lead;
    let since_epoch = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds(since_epoch))
}

/// `name=value` lines of a GitHub Actions step's outputs.
fn github_outputs(plan: &DistributedPlan) -> String {
    format!(
        "start_at={}\nrun_id={}\nmatrix={}\ntimeline_seconds={}\n",
        humantime::format_rfc3339_seconds(plan.start_at),
        plan.run_id,
        matrix(plan.shards),
        seconds(plan.length)
    )
}

/// `[1,2,…,N]`, the JSON a workflow's `matrix` reads with `fromJSON`.
fn matrix(shards: u32) -> String {
    let indices: Vec<String> = (1..=shards).map(|i| i.to_string()).collect();
    format!("[{}]", indices.join(","))
}

/// Whole seconds, rounded up: a CI timeout sized from it is long enough.
fn seconds(length: Duration) -> u64 {
    length.as_secs() + u64::from(length.subsec_nanos() > 0)
}

fn print_plan(plan: &DistributedPlan) {
    let start_at = humantime::format_rfc3339_seconds(plan.start_at);
    let in_s = (plan.start_at.duration_since(SystemTime::now())).unwrap_or_default();
    println!(
        "loadgate: {} shards can run {}",
        plan.shards,
        plan.specs.join(", ")
    );
    println!("  start_at:  {start_at} (in {:.0} s)", in_s.as_secs_f64());
    println!("  run_id:    {}", plan.run_id);
    println!("  matrix:    {}", matrix(plan.shards));
    println!(
        "  timeline:  {} s in {} part(s): each round or sweep step's warmup, duration and drain",
        seconds(plan.length),
        plan.parts
    );
    println!(
        "  each shard: loadtest SPEC… --target URL --shard I/{} --start-at {start_at} --run-id {}",
        plan.shards, plan.run_id
    );
}

/// Appends `outputs` to `file`, the one `$GITHUB_OUTPUT` names.
fn append_github_output(file: &Path, outputs: &str) -> anyhow::Result<()> {
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .with_context(|| format!("cannot open $GITHUB_OUTPUT ({})", file.display()))?;
    std::io::Write::write_all(&mut out, outputs.as_bytes())
        .with_context(|| format!("cannot write $GITHUB_OUTPUT ({})", file.display()))
}

impl HistoryArgs {
    fn run(self, root: &Path) -> Result<Exit, GateError> {
        let paths = paths(root, &self.baselines, &self.out);
        let mut history = history::read(&paths.baselines_dir, &self.specs, self.limit as usize)
            .map_err(|err| GateError::BadInput(err.into()))?;
        history.dir = paths.shown(&paths.baselines_dir).display().to_string();
        // The last run's figures beside the history: in --out, else where runs write by default.
        let current = history::current_run(&[paths.out_dir.clone(), Paths::under(root).out_dir]);
        let written = report::history::write_files(&history, current.as_ref(), &paths.out_dir)
            .map_err(GateError::Output)?;
        for spec in &history.specs {
            for skipped in &spec.skipped {
                eprintln!("loadgate: {}: {skipped}", spec.spec);
            }
            println!("loadgate: {}: {} commits", spec.spec, spec.points.len());
        }
        for file in written {
            println!(
                "loadgate: history written: {}",
                paths.shown(&file).display()
            );
        }
        Ok(Exit::Passed)
    }
}

impl GitHub {
    /// What the environment of a GitHub Actions job asks for; `None` elsewhere. The front
    /// end calls this: the gate itself reads no environment variable.
    pub fn from_env() -> Option<GitHub> {
        let github = GitHub {
            step_summary: std::env::var_os("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            annotations: std::env::var_os("GITHUB_ACTIONS").is_some_and(|v| v == "true"),
        };
        (github != GitHub::default()).then_some(github)
    }
}

fn paths(root: &Path, baselines: &Option<PathBuf>, out: &Option<PathBuf>) -> Paths {
    let defaults = Paths::under(root);
    Paths {
        baselines_dir: baselines.clone().unwrap_or(defaults.baselines_dir.clone()),
        out_dir: out.clone().unwrap_or(defaults.out_dir.clone()),
        ..defaults
    }
}

/// The specs start the workspace's own release binaries (the service), so they are built
/// first; cargo makes this a no-op when nothing changed.
/// Builds the service (and the workspace's other binaries) with cargo's own progress on stderr:
/// a first build takes minutes, which silence makes look like a hang.
fn build_binaries(root: &Path) -> anyhow::Result<()> {
    eprintln!(
        "loadgate: building the workspace's binaries (cargo build --release --workspace --bins)"
    );
    let started = std::time::Instant::now();
    let status = crate::support::cargo::command(root)
        .args(["build", "--release", "--workspace", "--bins"])
        .status()
        .context("cannot run cargo to build the service")?;
    if !status.success() {
        bail!("building the workspace's binaries failed ({status})");
    }
    eprintln!("loadgate: built in {:.1?}", started.elapsed());
    Ok(())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::support::units::parse_duration(text)
}

/// An `http://` or `https://` URL: what the generator speaks.
fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("not a URL: {err}"))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!(
            "loadgate's generator speaks http and https; `{other}` is not supported"
        )),
    }
}

fn parse_shard(text: &str) -> Result<ShardOf, String> {
    text.parse()
        .map_err(|err: crate::plan::shard::ParseShardError| err.to_string())
}

/// `--start-at`: RFC 3339 UTC, or `@` and seconds since the Unix epoch.
fn parse_start_at(text: &str) -> Result<SystemTime, String> {
    if let Some(seconds) = text.strip_prefix('@') {
        let seconds: f64 = seconds
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .ok_or_else(|| {
                format!("`{text}`: write @ and the seconds since 1970, e.g. @1796120100")
            })?;
        return Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(seconds));
    }
    humantime::parse_rfc3339(text).map_err(|err| {
        format!("`{text}` is not an RFC 3339 UTC time like 2026-12-01T10:15:00Z ({err})")
    })
}

/// A test's simulated clock skew of a shard: `LOADGATE_TEST_CLOCK_SKEW_MS`, honoured only
/// under `LOADGATE_TEST_SEAMS=1`, so no production environment can shift a shard by accident.
fn test_clock_skew_ms() -> i64 {
    if std::env::var_os("LOADGATE_TEST_SEAMS").is_none_or(|v| v != "1") {
        return 0;
    }
    std::env::var("LOADGATE_TEST_CLOCK_SKEW_MS")
        .ok()
        .and_then(|ms| ms.trim().trim_start_matches('+').parse().ok())
        .unwrap_or(0)
}
