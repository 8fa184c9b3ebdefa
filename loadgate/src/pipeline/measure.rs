//! One spec's measurement: its services launched, then one loop of runs (once, in rounds, over
//! sweep steps or in A/B pairs, as [`Repeat`] decides), each run watched for the service's death
//! and for an interrupt, and the runs combined into the summaries the judge reads.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use url::Url;

use crate::cost::{self, CostFailure, CostRun, CostSummary};
use crate::judge::checks::round_values;
use crate::judge::pairs::{PairBudget, can_tell};
use crate::judge::profiling::ProfileGap;
use crate::judge::spec::Combined;
use crate::pipeline::events::{Event, Interrupt, Observer, interrupted_by};
use crate::plan::cost::CostPlan;
use crate::plan::{Plan, ServicePlan, defaults};
use crate::profile::Stacks;
use crate::profile::perf::Recording;
use crate::run::resources::{Sample, Sampler, descendants};
use crate::run::{self, Counters};
use crate::service::against::BaseCheckout;
use crate::service::binary::BinDir;
use crate::service::{self, Service, ServiceFailure};
use crate::summary::{SpecSummary, merge_rounds, summarize, summarize_sweep};
use crate::support::clock::monotonic_seconds;
use crate::support::paths::Paths;

/// How a spec's load repeats against its service(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Repeat {
    Once,
    /// Back to back against the same service: a restart per round would add its start-up to
    /// every round and measure a cold service each time.
    Rounds(u32),
    /// The spec's load at each of these users or rates, one after the other.
    Sweep(Vec<f64>),
    /// `--against`: base and candidate alternate ABBA… for as many pairs as the judge's
    /// budget asks.
    Pairs(PairBudget),
}

/// Which service a run loads: the one under test, or the base revision's (A/B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Candidate,
    Base,
}

impl Side {
    fn index(self) -> usize {
        usize::from(self == Side::Base)
    }
}

/// One run of the load: on which side, at which sweep step, and its place in the sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub side: Side,
    pub at: Option<f64>,
    /// The round or pair it belongs to, from 1.
    pub number: u32,
}

impl Repeat {
    /// A sweep measures a capacity, not rounds: it keeps its stored baseline even in A/B.
    pub fn of(plan: &Plan, paired: bool) -> Repeat {
        match &plan.sweep {
            Some(sweep) => Repeat::Sweep(sweep.steps.clone()),
            None if paired => Repeat::Pairs(PairBudget::of(plan.rounds)),
            None if plan.rounds > 1 => Repeat::Rounds(plan.rounds),
            None => Repeat::Once,
        }
    }

    /// The run after `done` runs, or `None` when the measurement is complete. `can_tell` is
    /// asked, between pairs, whether every check can already tell.
    pub fn next(&self, done: usize, can_tell: impl FnOnce() -> bool) -> Option<Step> {
        let done = u32::try_from(done).ok()?;
        let candidate = |number, at| Step {
            side: Side::Candidate,
            at,
            number,
        };
        match self {
            Repeat::Once => (done == 0).then(|| candidate(1, None)),
            Repeat::Rounds(rounds) => (done < *rounds).then(|| candidate(done + 1, None)),
            Repeat::Sweep(steps) => steps
                .get(done as usize)
                .map(|&at| candidate(done + 1, Some(at))),
            Repeat::Pairs(budget) => {
                let pair = done / 2;
                let starts_pair = done % 2 == 0;
                if starts_pair && !budget.another(pair, can_tell) {
                    return None;
                }
                // A B, then B A: a drift of the machine over time weighs on both sides alike.
                let base_first = pair % 2 == 0;
                let side = if starts_pair == base_first {
                    Side::Base
                } else {
                    Side::Candidate
                };
                Some(Step {
                    side,
                    at: None,
                    number: pair + 1,
                })
            }
        }
    }
}

/// What a spec's runs gave, before judging.
#[derive(Debug)]
pub struct Measured {
    pub runs: Vec<(Step, SpecSummary)>,
    /// The service's death (or failure to start), which ends the measurement.
    pub failure: Option<ServiceFailure>,
    /// `[cost]`: the instructions counted after the load, of this revision and (A/B) the base.
    pub cost: Option<CostSummary>,
    pub base_cost: Option<CostSummary>,
    /// `--profile`: each side's samples over its runs' judged windows.
    pub profile: ProfileRuns,
}

/// The stacks `perf` sampled on each side, summed over the runs, and why a run has none.
#[derive(Debug, Default)]
pub struct ProfileRuns {
    pub candidate: Stacks,
    pub base: Stacks,
    /// The first reason a run could not be profiled (perf refused, or stopped badly).
    pub failure: Option<String>,
}

/// Whether the service is sampled during the judged windows.
#[derive(Debug, Clone, PartialEq)]
pub enum Profiling {
    Off,
    On,
    /// `--profile` was asked, but cannot be: why.
    Unavailable(ProfileGap),
}

impl Measured {
    fn side(&self, side: Side) -> Vec<SpecSummary> {
        self.runs
            .iter()
            .filter(|(step, _)| step.side == side)
            .map(|(_, summary)| summary.clone())
            .collect()
    }

    pub fn combine(&self, plan: &Plan, repeat: &Repeat) -> Combined {
        let mut combined = Combined {
            summary: None,
            base: None,
            pairs: 0,
        };
        match repeat {
            _ if self.runs.is_empty() => {}
            Repeat::Once => combined.summary = Some(self.runs[0].1.clone()),
            Repeat::Rounds(_) => {
                combined.summary = Some(merged(&self.side(Side::Candidate), plan));
            }
            Repeat::Sweep(_) => {
                let steps: Vec<(f64, SpecSummary)> = self
                    .runs
                    .iter()
                    .map(|(step, summary)| (step.at.unwrap_or_default(), summary.clone()))
                    .collect();
                let (sweep, chosen) = summarize_sweep(plan, &steps);
                combined.summary = Some(SpecSummary {
                    sweep: Some(sweep),
                    ..steps[chosen].1.clone()
                });
            }
            Repeat::Pairs(_) => {
                let (base, candidate) = (self.side(Side::Base), self.side(Side::Candidate));
                // Only complete pairs are compared.
                combined.pairs = base.len().min(candidate.len());
                if combined.pairs == 0 {
                    combined.summary = candidate.first().or(base.first()).cloned();
                } else {
                    combined.summary = Some(merged(&candidate[..combined.pairs], plan));
                    combined.base = Some(merged(&base[..combined.pairs], plan));
                }
            }
        }
        if let Some(summary) = combined.summary.as_mut() {
            summary.cost = self.cost.clone();
        }
        if let Some(base) = combined.base.as_mut() {
            base.cost = self.base_cost.clone();
        }
        combined
    }

    /// A/B: whether every check can already tell with the pairs so far.
    fn can_tell(&self, plan: &Plan) -> bool {
        let (base, candidate) = (self.side(Side::Base), self.side(Side::Candidate));
        can_tell(
            &plan.thresholds,
            &merged(&candidate, plan),
            &merged(&base, plan),
        )
    }
}

/// Several rounds as one summary, each round's judged values kept for the round checks.
fn merged(rounds: &[SpecSummary], plan: &Plan) -> SpecSummary {
    let mut summary = merge_rounds(rounds);
    summary.rounds = rounds
        .iter()
        .map(|r| round_values(r, &plan.thresholds))
        .collect();
    summary
}

/// What a measurement needs from the gate around it.
pub struct Context<'a> {
    pub paths: &'a Paths,
    pub observer: &'a Arc<dyn Observer>,
    pub interrupt: &'a Interrupt,
    pub profiling: Profiling,
}

/// The services a spec's runs go to: the one under test (or `--target`), and for A/B the base
/// revision's.
pub struct Services {
    target: Option<Url>,
    candidate: Option<Service>,
    base: Option<(Service, String)>,
}

impl Services {
    /// Launches what the spec needs; a service that fails to start is the spec's result.
    pub async fn launch(
        plan: &Plan,
        target: Option<&Url>,
        checkout: Option<&BaseCheckout>,
        ctx: &Context<'_>,
    ) -> Result<Services, ServiceFailure> {
        let paths = ctx.paths;
        if let Some(target) = target {
            let (ready_path, timeout) = plan
                .service
                .as_ref()
                .map_or((None, defaults::TARGET_READY_TIMEOUT), |s| {
                    (s.ready_path.as_deref(), s.ready_timeout)
                });
            service::probe_target(target, &plan.transport, ready_path, timeout).await?;
            return Ok(Services {
                target: Some(target.clone()),
                candidate: None,
                base: None,
            });
        }
        let service_plan = plan.service.as_ref().expect("checked while planning");
        let Some(checkout) = checkout else {
            let log = paths.service_log(&plan.name);
            let bins = BinDir::OfWorkspace(paths.root.clone());
            let candidate = start(plan, service_plan, (&paths.root, &bins), &log, ctx).await?;
            return Ok(Services {
                target: None,
                candidate: Some(candidate),
                base: None,
            });
        };
        let bins = BinDir::OfWorkspace(paths.root.clone());
        Services::launch_pair(
            plan,
            (
                checkout.dir.as_path(),
                &checkout.bins(),
                checkout.rev.clone(),
            ),
            (&paths.root, &bins),
            ctx,
        )
        .await
    }

    /// Two revisions' services side by side, each from its own worktree and build, for paired
    /// rounds (`--against`, `loadtest bisect`); `base` is named by `base_name` in the events.
    pub async fn launch_pair(
        plan: &Plan,
        base: (&Path, &BinDir, String),
        candidate: (&Path, &BinDir),
        ctx: &Context<'_>,
    ) -> Result<Services, ServiceFailure> {
        let paths = ctx.paths;
        let service_plan = plan.service.as_ref().expect("checked while planning");
        // Each service knows its side (for its logs, or a benchmark's injected slowdown).
        let side = |name: &str| {
            let mut side_plan = service_plan.clone();
            side_plan
                .env
                .push(("LOADGATE_AB_SIDE".to_owned(), name.to_owned()));
            side_plan
        };
        let (base_root, base_bins, base_name) = base;
        let base_log = paths
            .out_dir
            .join(format!("{}.base.service.log", plan.name));
        let base_service = start(plan, &side("base"), (base_root, base_bins), &base_log, ctx)
            .await
            .map_err(of_base)?;
        let mut services = Services {
            target: None,
            candidate: None,
            base: Some((base_service, base_name)),
        };
        let log = paths.service_log(&plan.name);
        match start(plan, &side("candidate"), candidate, &log, ctx).await {
            Ok(service) => services.candidate = Some(service),
            Err(failure) => {
                services.stop().await;
                return Err(failure);
            }
        }
        Ok(services)
    }

    pub async fn stop(&mut self) {
        if let Some((base, _)) = self.base.as_mut() {
            base.stop().await;
        }
        if let Some(candidate) = self.candidate.as_mut() {
            candidate.stop().await;
        }
    }

    /// The URL and (unless `--target`) the process a run on `side` loads.
    fn side(&mut self, side: Side) -> (Url, Option<&mut Service>) {
        let service = match side {
            Side::Candidate => self.candidate.as_mut(),
            Side::Base => self.base.as_mut().map(|(service, _)| service),
        };
        match (&self.target, service) {
            (Some(target), _) => (target.clone(), None),
            (None, Some(service)) => (service.base_url.clone(), Some(service)),
            (None, None) => unreachable!("a run goes to a launched service or to --target"),
        }
    }

    fn side_name(&self, side: Side) -> String {
        match (side, &self.base) {
            (Side::Base, Some((_, rev))) => rev.clone(),
            _ => "this revision".to_owned(),
        }
    }
}

fn of_base(failure: ServiceFailure) -> ServiceFailure {
    ServiceFailure {
        message: format!("the base revision's service: {}", failure.message),
        ..failure
    }
}

/// Runs the spec's load as `repeat` says until it is complete, the service dies or the gate is
/// interrupted, then stops the services.
pub async fn measure(
    plan: &Plan,
    repeat: &Repeat,
    services: &mut Services,
    ctx: &Context<'_>,
) -> anyhow::Result<Measured> {
    // `${seq}` and sequential data rows go on across rounds and steps against one service.
    let counters = [(); 2].map(|()| Arc::new(Counters::new(plan.shard)));
    let mut measured = Measured {
        runs: Vec::new(),
        failure: None,
        cost: None,
        base_cost: None,
        profile: ProfileRuns::default(),
    };
    let mut recordings: Recordings = [None, None];
    while let Some(step) = repeat.next(measured.runs.len(), || measured.can_tell(plan)) {
        announce(plan, repeat, &step, services, ctx);
        let at_step = step.at.map(|at| plan.at_step(at));
        let (url, service) = services.side(step.side);
        let counters = &counters[usize::from(step.side == Side::Base)];
        let profiled = ProfiledRun {
            side: step.side,
            recordings: &mut recordings,
            failure: &mut measured.profile.failure,
        };
        let (summary, died) = run_load(
            at_step.as_ref().unwrap_or(plan),
            &url,
            service,
            counters,
            ctx,
            profiled,
        )
        .await?;
        let side = step.side;
        measured.runs.push((step, summary));
        if died.is_some() || interrupted_by(ctx.interrupt).is_some() {
            measured.failure = died.map(|f| if side == Side::Base { of_base(f) } else { f });
            break;
        }
    }
    // perf stops before the services it samples.
    stop_recordings(recordings, &mut measured.profile).await;
    services.stop().await;
    Ok(measured)
}

/// `[cost]`, after the load: each side's service launched again under Callgrind and its
/// requests counted (the base revision's first, in A/B). A service that fails there is the
/// spec's failure, as during the load; an interrupt leaves the costs uncounted.
pub async fn count_cost(
    plan: &Plan,
    checkout: Option<&BaseCheckout>,
    measured: &mut Measured,
    ctx: &Context<'_>,
) {
    let Some(cost_plan) = &plan.cost else {
        return;
    };
    let paths = ctx.paths;
    let candidate = (paths.root.clone(), BinDir::OfWorkspace(paths.root.clone()));
    let base = checkout.map(|c| (c.dir.clone(), c.bins(), c.rev.clone()));
    let sides = base
        .into_iter()
        .map(|(root, bins, rev)| (root, bins, Some(rev)))
        .chain([(candidate.0, candidate.1, None)]);
    for (root, bins, rev) in sides {
        if measured.failure.is_some() || interrupted_by(ctx.interrupt).is_some() {
            return;
        }
        let stem = match rev {
            Some(_) => format!("{}.base", plan.name),
            None => plan.name.clone(),
        };
        ctx.observer.event(&Event::Starting {
            spec: plan.name.clone(),
            command: "the service under Valgrind (Callgrind) for [cost]".to_owned(),
            place: (root != paths.root).then(|| paths.shown(&root)),
        });
        match count_side(plan, cost_plan, (&root, &bins), &stem, rev.clone(), ctx).await {
            Ok(summary) if rev.is_some() => measured.base_cost = Some(summary),
            Ok(summary) => measured.cost = Some(summary),
            Err(CostFailure::Service(failure)) => {
                measured.failure = Some(if rev.is_some() {
                    of_base(failure)
                } else {
                    failure
                });
            }
            Err(CostFailure::Interrupted) => {}
        }
    }
}

/// `[cost]` for the service built at `root` into `bins`: its Valgrind files are
/// `OUT/STEM.cost/` and `OUT/STEM.cost.service.log`, and each request name's count is announced
/// as `side`'s (`None`: the candidate's). Stops, uncounted, at an interrupt.
pub async fn count_side(
    plan: &Plan,
    cost_plan: &CostPlan,
    (root, bins): (&Path, &BinDir),
    stem: &str,
    side: Option<String>,
    ctx: &Context<'_>,
) -> Result<CostSummary, CostFailure> {
    let paths = ctx.paths;
    let (work_dir, log) = (
        paths.out_dir.join(format!("{stem}.cost")),
        paths.out_dir.join(format!("{stem}.cost.service.log")),
    );
    let spec = plan.name.clone();
    let observer = ctx.observer.clone();
    let counted = move |request: &str, instructions: f64, took| {
        observer.event(&Event::Counted {
            spec: spec.clone(),
            side: side.clone(),
            request: request.to_owned(),
            instructions,
            took,
        });
    };
    let run = CostRun {
        root,
        bins,
        work_dir: &work_dir,
        log: &log,
        counted: &counted,
    };
    let mut interrupt = ctx.interrupt.clone();
    let interrupted = async move {
        let _ = interrupt.wait_for(Option::is_some).await;
    };
    cost::count(plan, cost_plan, &run, interrupted).await
}

fn announce(plan: &Plan, repeat: &Repeat, step: &Step, services: &Services, ctx: &Context<'_>) {
    let spec = plan.name.clone();
    let event = match repeat {
        Repeat::Rounds(rounds) => Event::Round {
            spec,
            round: step.number,
            rounds: *rounds,
        },
        Repeat::Pairs(budget) => Event::Pair {
            spec,
            pair: step.number,
            rounds: budget.rounds,
            most: budget.most,
            side: services.side_name(step.side),
        },
        Repeat::Once | Repeat::Sweep(_) => return,
    };
    ctx.observer.event(&event);
}

/// Launches the service from `root` (the project, or the base revision's worktree), with its
/// `{bin:NAME}` in `bins`, and says so.
async fn start(
    plan: &Plan,
    service_plan: &ServicePlan,
    (root, bins): (&Path, &BinDir),
    log: &Path,
    ctx: &Context<'_>,
) -> Result<Service, ServiceFailure> {
    let paths = ctx.paths;
    ctx.observer.event(&Event::Starting {
        spec: plan.name.clone(),
        command: service_plan.command.join(" "),
        place: (root != paths.root).then(|| paths.shown(root)),
    });
    let launched = Instant::now();
    let service = service::launch(service_plan, &plan.transport, root, bins, log).await?;
    ctx.observer.event(&Event::Ready {
        spec: plan.name.clone(),
        after: launched.elapsed(),
        log: paths.shown(&service.log_file),
    });
    Ok(service)
}

/// `--profile`: each side's `perf record`, running from its first run to the end of the
/// measurement, with the judged windows of its runs.
type Recordings = [Option<(Recording, Vec<(f64, f64)>)>; 2];

/// A run's side and the recordings its profile goes to.
struct ProfiledRun<'a> {
    side: Side,
    recordings: &'a mut Recordings,
    failure: &'a mut Option<String>,
}

impl ProfiledRun<'_> {
    /// Starts sampling the side's service (and its descendants) unless it already is.
    async fn start(&mut self, plan: &Plan, pid: i32, ctx: &Context<'_>) {
        let slot = &mut self.recordings[self.side.index()];
        if slot.is_some() || self.failure.is_some() {
            return;
        }
        let stem = match self.side {
            Side::Candidate => plan.name.clone(),
            Side::Base => format!("{}.base", plan.name),
        };
        let data = ctx.paths.out_dir.join(format!("{stem}.perf.data"));
        let log = ctx.paths.out_dir.join(format!("{stem}.perf.log"));
        // A service that forks workers is sampled with them.
        let pids: Vec<i32> = std::iter::once(pid).chain(descendants(pid)).collect();
        match Recording::start(&pids, &data, &log).await {
            Ok(recording) => *slot = Some((recording, Vec::new())),
            Err(why) => *self.failure = Some(why),
        }
    }
}

/// Stops each side's recording and keeps the stacks of its judged windows.
async fn stop_recordings(recordings: Recordings, runs: &mut ProfileRuns) {
    for (side, recording) in [Side::Candidate, Side::Base].into_iter().zip(recordings) {
        let Some((recording, windows)) = recording else {
            continue;
        };
        match recording.stop(windows).await {
            Ok(stacks) if side == Side::Candidate => runs.candidate.add(stacks),
            Ok(stacks) => runs.base.add(stacks),
            Err(why) => {
                runs.failure.get_or_insert(why);
            }
        }
    }
}

/// Runs `plan`'s load once against `base_url`, watching the service's resources and its death
/// (and, with `--profile`, sampling it during the judged window); the summary covers what was
/// measured, up to the death if it died.
async fn run_load(
    plan: &Plan,
    base_url: &Url,
    service: Option<&mut Service>,
    counters: &Arc<Counters>,
    ctx: &Context<'_>,
    mut profiled: ProfiledRun<'_>,
) -> anyhow::Result<(SpecSummary, Option<ServiceFailure>)> {
    if let (Profiling::On, Some(service)) = (&ctx.profiling, service.as_deref()) {
        profiled.start(plan, service.pid(), ctx).await;
    }
    let started = monotonic_seconds();
    let recorded = record_load(plan, base_url, service, counters, ctx).await?;
    // The judged window: from the end of the warmup to the end of the load.
    let (from, to) = (
        started + plan.load.warmup.as_secs_f64(),
        monotonic_seconds(),
    );
    if let Some(recording) = profiled.recordings[profiled.side.index()].as_mut()
        && to > from
    {
        recording.1.push((from, to));
    }
    let summary = summarize(plan, &recorded.recording, &recorded.samples);
    Ok((summary, recorded.service_failure))
}

/// What one run of the load left, before it is summarized.
#[derive(Debug)]
pub struct Recorded {
    pub recording: run::Recording,
    /// The resource readings since the load started.
    pub samples: Vec<Sample>,
    pub service_failure: Option<ServiceFailure>,
}

/// Runs `plan`'s load once against `base_url` until it ends, the service dies or the gate is
/// interrupted, and hands over what was recorded: a single run summarizes it, a shard writes it.
pub async fn record_load(
    plan: &Plan,
    base_url: &Url,
    service: Option<&mut Service>,
    counters: &Arc<Counters>,
    ctx: &Context<'_>,
) -> anyhow::Result<Recorded> {
    let load = &plan.load;
    ctx.observer.event(&Event::LoadStarted {
        spec: plan.name.clone(),
        load: load.describe(),
        duration: load.duration,
        warmup: load.warmup,
        target: base_url.as_str().trim_end_matches('/').to_owned(),
    });
    let started = Instant::now();
    let sampler = Sampler::start(service.as_deref().map(Service::pid));
    let mut running = run::start(plan, base_url, counters.clone())?;
    let progress = forward_progress(plan, running.progress(), ctx.observer.clone());
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
    let mut interrupt = ctx.interrupt.clone();
    let overdue = running.overdue();
    tokio::select! {
        () = running.wait() => {}
        () = overdue => ctx.observer.event(&Event::Overdue { spec: plan.name.clone() }),
        died = service_exited => service_failure = died,
        // A dropped sender is no interrupt: only a signal's name stops the run.
        Ok(_) = interrupt.wait_for(Option::is_some) => running.stop(),
    }
    let recording = running.finish().await;
    // The display ends when the run closes its progress.
    let _ = progress.await;
    Ok(Recorded {
        recording,
        samples: sampler.finish(),
        service_failure,
    })
}

/// Passes the run's progress on as events until the run closes it.
fn forward_progress(
    plan: &Plan,
    mut progress: tokio::sync::watch::Receiver<run::Progress>,
    observer: Arc<dyn Observer>,
) -> tokio::task::JoinHandle<()> {
    let spec = plan.name.clone();
    tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let now = *progress.borrow_and_update();
            observer.event(&Event::Progress {
                spec: spec.clone(),
                progress: now,
            });
        }
        observer.event(&Event::LoadEnded { spec });
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(repeat: &Repeat, decided_after_pairs: u32) -> Vec<(Side, Option<f64>, u32)> {
        let mut steps = Vec::new();
        while let Some(step) = repeat.next(steps.len(), || {
            steps.len() as u32 / 2 >= decided_after_pairs
        }) {
            steps.push(step);
        }
        steps
            .into_iter()
            .map(|s| (s.side, s.at, s.number))
            .collect()
    }

    #[test]
    fn once_rounds_and_sweeps_run_on_the_candidate() {
        use Side::Candidate as C;
        assert_eq!(sequence(&Repeat::Once, 0), [(C, None, 1)]);
        assert_eq!(
            sequence(&Repeat::Rounds(3), 0),
            [(C, None, 1), (C, None, 2), (C, None, 3)]
        );
        assert_eq!(
            sequence(&Repeat::Sweep(vec![2.0, 4.0]), 0),
            [(C, Some(2.0), 1), (C, Some(4.0), 2)]
        );
    }

    #[test]
    fn pairs_alternate_abba_and_add_pairs_until_decided_or_the_bound() {
        use Side::{Base as B, Candidate as C};
        let pairs = Repeat::Pairs(PairBudget { rounds: 2, most: 4 });
        let sides = |steps: Vec<(Side, Option<f64>, u32)>| -> Vec<Side> {
            steps.into_iter().map(|s| s.0).collect()
        };
        // Decided at the minimum: exactly the minimum of pairs.
        assert_eq!(sides(sequence(&pairs, 0)), [B, C, C, B]);
        // Undecided until 3 pairs: one more pair.
        assert_eq!(sides(sequence(&pairs, 3)), [B, C, C, B, B, C]);
        // Never decided: up to the bound.
        assert_eq!(sides(sequence(&pairs, 99)), [B, C, C, B, B, C, C, B]);
        let numbers: Vec<u32> = sequence(&pairs, 99).iter().map(|s| s.2).collect();
        assert_eq!(numbers, [1, 1, 2, 2, 3, 3, 4, 4]);
    }
}
