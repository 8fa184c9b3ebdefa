//! Spec → Plan: validates a spec as written and resolves it into concrete values (durations,
//! weights, parsed templates, thresholds in internal units). Every default lives in [`defaults`].
//! Errors point at the offending key; nothing here touches the network or starts a process.

pub mod data;
pub mod expect;
pub mod guard;
pub mod secret;
pub mod template;

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use sha2::{Digest as _, Sha256};
use toml::Spanned;

use crate::metric::{Metric, Scope};
use crate::plan::data::DataTable;
use crate::plan::expect::{Capture, Expect, JsonPath, Source};
use crate::plan::secret::Secrets;
use crate::plan::template::{Escape, Names, Template};
use crate::spec::{
    self, GateSpec, LoadSpec, Model, RequestSpec, SpecError, StageSpec, SweepSpec, ThresholdSpec,
};
use crate::support::units::{DurationRange, Quantity};

/// Every default of the spec format, in one place (loadspec/README.md repeats them).
pub mod defaults {
    use std::time::Duration;

    pub const SEED: u64 = 1;
    pub const READY_PATH: Option<&str> = None; // no `ready.http`: ready when the port accepts connections
    pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
    pub const STOP_GRACE: Duration = Duration::from_secs(5);
    pub const RAMP_UP: Duration = Duration::ZERO;
    pub const THINK_TIME: Duration = Duration::ZERO;
    pub const WARMUP: Duration = Duration::ZERO;
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const WEIGHT: u32 = 1;
    pub const METHOD: &str = "GET";
    pub const MAX_IN_FLIGHT: u32 = 1_000;
    pub const ROUNDS: u32 = 1;
}

/// Upper bounds that catch typos (a rate of 1e9 users) before they become an attack.
const MAX_USERS: u32 = 100_000;
const MAX_RATE: f64 = 1_000_000.0;

/// Sane bounds of one spec's load: beyond them, a spec needs `allow_large_load = true` or the
/// command line `--allow-large-load` (and stays within the hard bounds above).
pub mod sane {
    use std::time::Duration;

    pub const USERS: f64 = 5_000.0;
    pub const RATE: f64 = 50_000.0;
    /// Warmup and duration together, every sweep step included.
    pub const LENGTH: Duration = Duration::from_secs(30 * 60);
}
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
const MAX_ROUNDS: u32 = 100;

/// Command-line overrides for quick runs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub users: Option<u32>,
    pub duration: Option<Duration>,
    pub warmup: Option<Duration>,
    /// `--allow-large-load`: lift the [`sane`] bounds for every spec.
    pub allow_large_load: bool,
    /// `--rounds N`: every spec runs N rounds.
    pub rounds: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    /// Hash of what shapes the load (`seed`, `[load]`, `[defaults]`, `[[request]]`) as written;
    /// a baseline recorded under another hash measured another workload.
    pub spec_hash: String,
    pub seed: u64,
    pub service: Option<ServicePlan>,
    pub load: LoadPlan,
    /// The `[[on_start]]` requests first (each user sends them once, in order), then the mix.
    pub requests: Vec<RequestPlan>,
    /// How many of `requests` are `[[on_start]]` requests.
    pub n_on_start: usize,
    /// The names of the values requests capture, by slot.
    pub captures: Vec<String>,
    pub data: Option<DataTable>,
    /// Values taken from the environment: redacted from every output.
    pub secrets: Secrets,
    pub thresholds: Vec<Threshold>,
    pub sweep: Option<SweepPlan>,
    /// `allow_remote = true`: the spec may be pointed at a non-loopback `--target`.
    pub allow_remote: bool,
    /// How many times the load runs; verdicts are taken over the rounds.
    pub rounds: u32,
}

/// A capacity sweep: `[load]` run at each step's users (closed) or rate (open) in turn.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepPlan {
    /// Users or requests/second, increasing.
    pub steps: Vec<f64>,
    /// Each step's judged duration.
    pub step_duration: Duration,
    /// Latency limits in µs and the error rate as a fraction: a step beyond one does not count.
    pub limits: Vec<(Metric, f64)>,
}

impl Plan {
    /// The plan of one sweep step: the same spec at `step` users or requests/second, for the
    /// step's duration.
    pub fn at_step(&self, step: f64) -> Plan {
        let mut plan = self.clone();
        plan.load.hold(step);
        if let Some(sweep) = &self.sweep {
            plan.load.duration = sweep.step_duration;
        }
        plan
    }
}

#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// Program and arguments; `{port}` is replaced by a free port at launch.
    pub command: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `None`: ready once the port accepts a TCP connection.
    pub ready_path: Option<String>,
    pub ready_timeout: Duration,
    pub stop_grace: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub model: Model,
    /// Closed model: concurrent users at the peak (0 for the open model).
    pub users: u32,
    pub think_time: DurationRange,
    /// Open model: requests per second at the peak (0 for the closed model).
    pub rate: f64,
    /// How the level (users or rate) moves from the start of the load, warmup included.
    pub profile: Profile,
    /// Open model: requests in flight at most; reaching it makes the run inconclusive.
    pub max_in_flight: u32,
    /// Measured but not judged.
    pub warmup: Duration,
    /// The judged part of the run, after the warmup.
    pub duration: Duration,
}

impl LoadPlan {
    /// "10 users", "200 req/s", or with stages "up to 50 users".
    pub fn describe(&self) -> String {
        let up_to = if self.profile.stages.is_empty() {
            ""
        } else {
            "up to "
        };
        match self.model {
            Model::Closed => format!("{up_to}{} users", self.users),
            Model::Open => format!("{up_to}{} req/s", self.rate),
        }
    }

    /// A constant level (users or rate) from the start: the plan of one sweep step.
    pub fn hold(&mut self, level: f64) {
        self.profile = Profile {
            start: level,
            stages: Vec::new(),
        };
        match self.model {
            Model::Closed => self.users = level as u32,
            Model::Open => self.rate = level,
        }
    }
}

/// A level (users or requests/second) over time: `start` at the beginning of the load, then
/// each stage ramps linearly to its target over its duration; the last level holds after.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub start: f64,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

impl Profile {
    /// The level `t` after the load started.
    pub fn level_at(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut elapsed = Duration::ZERO;
        for stage in &self.stages {
            if t < elapsed + stage.duration {
                let x = (t - elapsed).as_secs_f64() / stage.duration.as_secs_f64();
                return from + (stage.target - from) * x;
            }
            elapsed += stage.duration;
            from = stage.target;
        }
        from
    }

    /// When the profile, read as a rate, has delivered `n` requests: the intended send time of
    /// request `n` of the open model. `None` when the rate falls to zero before.
    pub fn time_of(&self, n: f64) -> Option<Duration> {
        let mut from = self.start;
        let mut elapsed = 0.0;
        let mut remaining = n;
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let in_stage = (from + stage.target) / 2.0 * d;
            if remaining <= in_stage {
                // Solve from·x + slope/2·x² = remaining for x in [0, d].
                let slope = (stage.target - from) / d;
                let x = if slope.abs() < 1e-12 {
                    remaining / from
                } else {
                    (-from + (from * from + 2.0 * slope * remaining).max(0.0).sqrt()) / slope
                };
                return Some(Duration::from_secs_f64(elapsed + x.clamp(0.0, d)));
            }
            remaining -= in_stage;
            elapsed += d;
            from = stage.target;
        }
        (from > 0.0).then(|| Duration::from_secs_f64(elapsed + remaining / from))
    }

    /// How many requests the profile, read as a rate, delivers in its first `t`.
    pub fn count_until(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let (mut from, mut elapsed, mut count) = (self.start, 0.0, 0.0);
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let x = (t - elapsed).clamp(0.0, d);
            count += from * x + (stage.target - from) / d * x * x / 2.0;
            elapsed += d;
            from = stage.target;
        }
        count + from * (t - elapsed).max(0.0)
    }

    /// The total length of the stages.
    pub fn length(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }
}

#[derive(Debug, Clone)]
pub struct RequestPlan {
    pub name: String,
    /// 0 for `[[on_start]]` requests: they are not part of the mix.
    pub weight: u32,
    pub method: Method,
    pub path: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<Template>,
    pub expect: Expect,
    pub captures: Vec<Capture>,
    /// Whether a template of the request names a column of the data file.
    pub uses_row: bool,
    pub timeout: Duration,
}

impl RequestPlan {
    /// Whether the answer's body is read and kept (up to a limit), not just drained.
    pub fn reads_body(&self) -> bool {
        self.expect.reads_body()
            || self
                .captures
                .iter()
                .any(|c| matches!(c.source, Source::Json(_)))
    }

    fn templates(&self) -> impl Iterator<Item = &Template> {
        std::iter::once(&self.path)
            .chain(self.headers.iter().map(|(_, value)| value))
            .chain(&self.body)
    }
}

/// One metric's limits in one scope, in the metric's internal unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub scope: Scope,
    pub metric: Metric,
    /// Fraction by which the metric may be worse than its baseline.
    pub regression: Option<f64>,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub noise_floor: f64,
}

/// Reads and plans a spec file; environment variables come from the process, data files from
/// `root`.
pub fn load(file: &Path, root: &Path, overrides: &Overrides) -> Result<Plan, SpecError> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        let what = if err.kind() == std::io::ErrorKind::NotFound {
            "spec file not found"
        } else {
            "cannot read spec file"
        };
        SpecError::whole_file(file, format!("{what}: {err}"))
    })?;
    build(file, &text, root, overrides, &|name| {
        std::env::var(name).ok()
    })
}

/// Plans a spec's text. `env` looks up `${env.NAME}`; data files are relative to `root`.
pub fn build(
    file: &Path,
    text: &str,
    root: &Path,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, SpecError> {
    let spec = spec::parse(file, text)?;
    let at =
        |span: std::ops::Range<usize>, message: String| SpecError::at(file, text, span, message);

    let name = match &spec.name {
        Some(name) => {
            let valid = !name.get_ref().is_empty()
                && name
                    .get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(at(
                    name.span(),
                    "a spec name may use letters, digits, `-`, `_` and `.` (it names files)".into(),
                ));
            }
            name.get_ref().clone()
        }
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };

    let mut secrets = Secrets::default();
    let service = spec
        .service
        .as_ref()
        .map(|service| {
            if service.command.get_ref().is_empty() {
                return Err(at(
                    service.command.span(),
                    "the service command is empty".into(),
                ));
            }
            let ready_path = match service.ready.as_ref().and_then(|r| r.http.as_ref()) {
                Some(path) if !path.get_ref().starts_with('/') => {
                    return Err(at(
                        path.span(),
                        format!("`{}` must be a path starting with /", path.get_ref()),
                    ));
                }
                Some(path) => Some(path.get_ref().clone()),
                None => defaults::READY_PATH.map(str::to_owned),
            };
            // `${env.NAME}` here hands the service the same secret the requests send.
            let mut service_env = Vec::new();
            for (key, value) in &service.env {
                let names = Names {
                    env,
                    columns: &[],
                    captures: &[],
                };
                let template = Template::parse(value.get_ref(), Escape::None, &names)
                    .map_err(|e| at(value.span(), e))?;
                let Some(text) = template.as_static() else {
                    return Err(at(
                        value.span(),
                        "a service's environment takes only `${env.NAME}` templates".into(),
                    ));
                };
                service_env.push((key.clone(), text.to_owned()));
                secrets.extend(template.secrets());
            }
            Ok(ServicePlan {
                command: service.command.get_ref().clone(),
                env: service_env,
                ready_path,
                ready_timeout: service
                    .ready
                    .as_ref()
                    .and_then(|r| r.timeout)
                    .map_or(defaults::READY_TIMEOUT, |d| d.0),
                stop_grace: service.stop_grace.map_or(defaults::STOP_GRACE, |d| d.0),
            })
        })
        .transpose()?;

    let load_spec = spec.load.get_ref();
    let load_shape = plan_load_shape(load_spec, spec.load.span(), overrides, &at)?;
    let warmup = overrides
        .warmup
        .or(load_spec.warmup.map(|d| d.0))
        .unwrap_or(defaults::WARMUP);
    // Stages run from the start of the load, warmup included: the judged part is what follows.
    let duration_span = load_spec
        .duration
        .as_ref()
        .map_or(spec.load.span(), |d| d.span());
    let duration = match (&load_spec.duration, &load_spec.stages) {
        (Some(_), Some(stages)) if overrides.duration.is_none() => {
            return Err(at(
                stages.span(),
                "give `duration` or `stages`, not both: the stages make the run's length".into(),
            ));
        }
        (_, Some(_)) => load_shape.profile.length().saturating_sub(warmup),
        (Some(duration), None) => duration.get_ref().0,
        (None, None) => {
            return Err(at(
                spec.load.span(),
                "`[load]` needs a `duration` (or `stages`)".into(),
            ));
        }
    };
    let duration = overrides.duration.unwrap_or(duration);
    if duration.is_zero() {
        return Err(at(
            duration_span,
            "the judged duration must be longer than zero (with stages: longer than the warmup)"
                .into(),
        ));
    }
    let load = LoadPlan {
        warmup,
        duration,
        ..load_shape
    };

    if spec.requests.is_empty() {
        return Err(at(
            spec.load.span(),
            "the spec has no [[request]]: add at least one".into(),
        ));
    }
    let default_timeout = spec
        .defaults
        .timeout
        .map_or(defaults::REQUEST_TIMEOUT, |d| d.0);
    let data = spec
        .data
        .as_ref()
        .map(|data| {
            let written = &data.get_ref().file;
            DataTable::read(&root.join(written.get_ref()), data.get_ref().pick)
                .map_err(|e| at(written.span(), e))
        })
        .transpose()?;
    let user_flow = spec.requests.iter().chain(&spec.on_start);
    let captures: Vec<String> =
        user_flow
            .flat_map(|r| r.get_ref().capture.keys())
            .fold(Vec::new(), |mut names, name| {
                if !names.contains(name) {
                    names.push(name.clone());
                }
                names
            });
    if load.model == Model::Open
        && let Some(request) = spec.on_start.first().or(spec
            .requests
            .iter()
            .find(|r| !r.get_ref().capture.is_empty()))
    {
        return Err(at(
            request.span(),
            "`on_start` and `capture` need the closed model: a user to keep the captured value"
                .into(),
        ));
    }
    if let Some(data) = &spec.data
        && load.model == Model::Open
        && data.get_ref().pick == spec::Pick::PerUser
    {
        return Err(at(
            data.span(),
            "`pick = \"per_user\"` needs the closed model: the open model has no users".into(),
        ));
    }
    let names = Names {
        env,
        columns: data.as_ref().map_or(&[], |d| &d.columns),
        captures: &captures,
    };
    let mut requests: Vec<RequestPlan> =
        Vec::with_capacity(spec.on_start.len() + spec.requests.len());
    let on_start = spec.on_start.iter().map(|r| (r, true));
    for (request, is_on_start) in on_start.chain(spec.requests.iter().map(|r| (r, false))) {
        if is_on_start && let Some(weight) = &request.get_ref().weight {
            return Err(at(
                weight.span(),
                "an `[[on_start]]` request runs once per user: it takes no weight".into(),
            ));
        }
        let mut planned = plan_request(
            request.get_ref(),
            &spec.defaults.headers,
            default_timeout,
            &names,
            &captures,
            &at,
        )?;
        if is_on_start {
            planned.weight = 0;
        }
        if requests.iter().any(|r| r.name == planned.name) {
            let name = &request.get_ref().name;
            return Err(at(
                name.span(),
                format!(
                    "two requests are named `{}`: names group statistics, so they must differ",
                    planned.name
                ),
            ));
        }
        for template in planned.templates() {
            secrets.extend(template.secrets());
        }
        requests.push(planned);
    }

    let thresholds = plan_gate(&spec.gate, &requests, &at)?;
    let sweep = spec
        .sweep
        .as_ref()
        .map(|sweep| plan_sweep(sweep, &load, &at))
        .transpose()?;
    if let (Some(sweep), Some(_)) = (&spec.sweep, &load_spec.stages) {
        return Err(at(
            sweep.span(),
            "a sweep holds each step's level: it cannot run `stages` too".into(),
        ));
    }
    if sweep.is_none()
        && let Some(capacity) = &spec.gate.capacity
    {
        return Err(at(
            capacity.span(),
            "`capacity` is measured by a [sweep]: add one, or remove this threshold".into(),
        ));
    }
    let rounds = match (overrides.rounds, &spec.rounds) {
        (Some(rounds), _) => rounds,
        (None, Some(rounds)) => *rounds.get_ref(),
        (None, None) => defaults::ROUNDS,
    };
    let rounds_span = spec.rounds.as_ref().map_or(spec.load.span(), |r| r.span());
    if !(1..=MAX_ROUNDS).contains(&rounds) {
        return Err(at(
            rounds_span,
            format!("rounds must be between 1 and {MAX_ROUNDS}, not {rounds}"),
        ));
    }
    if rounds > 1 && sweep.is_some() {
        return Err(at(
            rounds_span,
            "a [sweep] runs each step once: it cannot run rounds too".into(),
        ));
    }
    if !(overrides.allow_large_load || spec.allow_large_load.unwrap_or(false)) {
        check_sane(&load, sweep.as_ref(), rounds, spec.load.span(), &at)?;
    }

    Ok(Plan {
        name,
        file: file.to_path_buf(),
        spec_hash: spec_hash(text, data.as_ref()),
        seed: spec.seed.unwrap_or(defaults::SEED),
        service,
        load,
        n_on_start: spec.on_start.len(),
        requests,
        captures,
        data,
        secrets,
        thresholds,
        sweep,
        allow_remote: spec.allow_remote.unwrap_or(false),
        rounds,
    })
}

/// The load stays within the [`sane`] bounds: more is likely a typo, and on someone else's
/// server an attack.
fn check_sane(
    load: &LoadPlan,
    sweep: Option<&SweepPlan>,
    rounds: u32,
    span: std::ops::Range<usize>,
    at: &At<'_>,
) -> Result<(), SpecError> {
    let peak_step = sweep.and_then(|s| s.steps.last().copied()).unwrap_or(0.0);
    let length = match sweep {
        Some(sweep) => (load.warmup + sweep.step_duration) * sweep.steps.len() as u32,
        None => (load.warmup + load.duration) * rounds,
    };
    let (what, value, bound) = match load.model {
        Model::Closed => ("users", f64::from(load.users).max(peak_step), sane::USERS),
        Model::Open => ("requests/second", load.rate.max(peak_step), sane::RATE),
    };
    let beyond = if value > bound {
        format!("{value} {what} is more than the sane bound of {bound}")
    } else if length > sane::LENGTH {
        format!(
            "a run of {} is longer than the sane bound of {}",
            humantime::format_duration(length),
            humantime::format_duration(sane::LENGTH)
        )
    } else {
        return Ok(());
    };
    Err(at(
        span,
        format!(
            "{beyond}: set `allow_large_load = true` in the spec or pass --allow-large-load if you mean it"
        ),
    ))
}

/// `stages = [{ duration = "10s", users = 50 }, …]`: each stage names the level of its model.
fn plan_stages(
    stages: &Spanned<Vec<StageSpec>>,
    model: Model,
    at: &At<'_>,
) -> Result<Vec<Stage>, SpecError> {
    if stages.get_ref().is_empty() {
        return Err(at(
            stages.span(),
            "`stages` lists at least one stage".into(),
        ));
    }
    stages
        .get_ref()
        .iter()
        .map(|stage| {
            let target = match (model, stage.users, stage.rate) {
                (Model::Closed, Some(users), None) => f64::from(users),
                (Model::Open, None, Some(rate)) if rate >= 0.0 => rate,
                (Model::Closed, _, _) => {
                    return Err(at(
                        stages.span(),
                        "each stage of a closed model sets `users` (and no `rate`)".into(),
                    ));
                }
                (Model::Open, _, _) => {
                    return Err(at(
                        stages.span(),
                        "each stage of an open model sets a `rate` of at least 0 (and no `users`)"
                            .into(),
                    ));
                }
            };
            if stage.duration.0.is_zero() {
                return Err(at(
                    stages.span(),
                    "every stage lasts longer than zero".into(),
                ));
            }
            Ok(Stage {
                duration: stage.duration.0,
                target,
            })
        })
        .collect()
}

/// `[sweep]`: steps of the load's model (users for closed, rates for open), increasing.
fn plan_sweep(
    sweep: &Spanned<SweepSpec>,
    load: &LoadPlan,
    at: &At<'_>,
) -> Result<SweepPlan, SpecError> {
    let spec = sweep.get_ref();
    let (steps, span, key): (Vec<f64>, _, _) = match (load.model, &spec.users, &spec.rates) {
        (Model::Closed, Some(users), None) => (
            users.get_ref().iter().map(|&u| f64::from(u)).collect(),
            users.span(),
            "users",
        ),
        (Model::Open, None, Some(rates)) => (rates.get_ref().clone(), rates.span(), "rates"),
        (Model::Closed, _, _) => {
            return Err(at(
                sweep.span(),
                "a sweep of the closed model lists `users = [...]` (and no `rates`)".into(),
            ));
        }
        (Model::Open, _, _) => {
            return Err(at(
                sweep.span(),
                "a sweep of the open model lists `rates = [...]` (and no `users`)".into(),
            ));
        }
    };
    let (low, high) = match key {
        "users" => (1.0, f64::from(MAX_USERS)),
        _ => (f64::MIN_POSITIVE, MAX_RATE),
    };
    if steps.is_empty()
        || steps.windows(2).any(|w| w[0] >= w[1])
        || steps.iter().any(|s| !(low..=high).contains(s))
    {
        return Err(at(
            span,
            format!("sweep {key} must be increasing values between {low} and {high}"),
        ));
    }
    let limit = &spec.limit;
    let mut limits = Vec::new();
    for (metric, value) in [
        (Metric::P50, &limit.p50),
        (Metric::P90, &limit.p90),
        (Metric::P99, &limit.p99),
    ] {
        if let Some(value) = value {
            limits.push((metric, value.get_ref().0.as_secs_f64() * 1e6));
        }
    }
    if let Some(error_rate) = &limit.error_rate {
        limits.push((Metric::ErrorRate, error_rate.get_ref().0));
    }
    Ok(SweepPlan {
        steps,
        step_duration: spec.step.map_or(load.duration, |d| d.0),
        limits,
    })
}

type At<'a> = dyn Fn(std::ops::Range<usize>, String) -> SpecError + 'a;

/// The model-specific part of `[load]`: users, ramp-up and think time for the closed model, rate
/// and in-flight bound for the open one. A key of the other model is an error, not ignored.
/// `warmup` and `duration` are left for the caller.
fn plan_load_shape(
    load: &LoadSpec,
    load_span: std::ops::Range<usize>,
    overrides: &Overrides,
    at: &At<'_>,
) -> Result<LoadPlan, SpecError> {
    let foreign = |span: std::ops::Range<usize>, key: &str| {
        let (model, takes) = match load.model {
            Model::Closed => ("closed", "`users`, `ramp_up` and `think_time`"),
            Model::Open => ("open", "`rate` and `max_in_flight`"),
        };
        at(
            span,
            format!("`{key}` does not apply to model = \"{model}\", which takes {takes}"),
        )
    };
    let stages = load
        .stages
        .as_ref()
        .map(|stages| plan_stages(stages, load.model, at))
        .transpose()?;
    let mut shape = LoadPlan {
        model: load.model,
        users: 0,
        profile: Profile {
            start: 0.0,
            stages: Vec::new(),
        },
        think_time: DurationRange {
            min: defaults::THINK_TIME,
            max: defaults::THINK_TIME,
        },
        rate: 0.0,
        max_in_flight: 0,
        warmup: Duration::ZERO,
        duration: Duration::ZERO,
    };
    match load.model {
        Model::Closed => {
            if let Some(rate) = &load.rate {
                return Err(foreign(rate.span(), "rate"));
            }
            if let Some(bound) = &load.max_in_flight {
                return Err(foreign(bound.span(), "max_in_flight"));
            }
            let span = load.users.as_ref().map_or(load_span.clone(), |u| u.span());
            let written = load.users.as_ref().map(|u| *u.get_ref());
            shape.profile = match (stages, &load.ramp_up) {
                (Some(_), Some(ramp_up)) => {
                    return Err(at(
                        ramp_up.span(),
                        "`ramp_up` and `stages` both ramp the users: keep the stages".into(),
                    ));
                }
                // With stages, `users` is where the first stage starts from.
                (Some(stages), None) => Profile {
                    start: f64::from(written.unwrap_or(0)),
                    stages,
                },
                (None, ramp_up) => {
                    let Some(users) = overrides.users.or(written) else {
                        return Err(at(span, "a closed model needs `users`".into()));
                    };
                    if users == 0 {
                        return Err(at(
                            span,
                            format!("users must be between 1 and {MAX_USERS}, not {users}"),
                        ));
                    }
                    let ramp_up = ramp_up
                        .as_ref()
                        .map_or(defaults::RAMP_UP, |d| d.get_ref().0);
                    if ramp_up.is_zero() {
                        Profile {
                            start: f64::from(users),
                            stages: Vec::new(),
                        }
                    } else {
                        Profile {
                            start: 0.0,
                            stages: vec![Stage {
                                duration: ramp_up,
                                target: f64::from(users),
                            }],
                        }
                    }
                }
            };
            let peak = shape
                .profile
                .stages
                .iter()
                .map(|s| s.target)
                .fold(shape.profile.start, f64::max);
            if peak < 1.0 || peak > f64::from(MAX_USERS) {
                return Err(at(
                    span,
                    format!("users must be between 1 and {MAX_USERS}, not {peak}"),
                ));
            }
            shape.users = peak.ceil() as u32;
            if let Some(think_time) = &load.think_time {
                shape.think_time = *think_time.get_ref();
            }
        }
        Model::Open => {
            for (key, span) in [
                ("users", load.users.as_ref().map(Spanned::span)),
                ("ramp_up", load.ramp_up.as_ref().map(Spanned::span)),
                ("think_time", load.think_time.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    return Err(foreign(span, key));
                }
            }
            let span = load.rate.as_ref().map_or(load_span.clone(), |r| r.span());
            let written = load.rate.as_ref().map(|r| *r.get_ref());
            shape.profile = match (stages, written) {
                (Some(stages), start) => Profile {
                    start: start.unwrap_or(0.0),
                    stages,
                },
                (None, Some(rate)) => Profile {
                    start: rate,
                    stages: Vec::new(),
                },
                (None, None) => {
                    return Err(at(
                        load_span,
                        "an open model needs `rate` (requests per second)".into(),
                    ));
                }
            };
            shape.rate = shape
                .profile
                .stages
                .iter()
                .map(|s| s.target)
                .fold(shape.profile.start, f64::max);
            if !(shape.rate > 0.0 && shape.rate <= MAX_RATE) || shape.profile.start < 0.0 {
                return Err(at(
                    span,
                    format!("rate must be above 0 and at most {MAX_RATE} requests per second"),
                ));
            }
            shape.max_in_flight = load
                .max_in_flight
                .as_ref()
                .map_or(defaults::MAX_IN_FLIGHT, |b| *b.get_ref());
            if shape.max_in_flight == 0 || shape.max_in_flight > MAX_USERS {
                let span = load.max_in_flight.as_ref().map_or(load_span, |b| b.span());
                return Err(at(
                    span,
                    format!("max_in_flight must be between 1 and {MAX_USERS}"),
                ));
            }
        }
    }
    Ok(shape)
}

fn plan_request(
    request: &RequestSpec,
    default_headers: &std::collections::BTreeMap<String, Spanned<String>>,
    default_timeout: Duration,
    names: &Names<'_>,
    captures: &[String],
    at: &At<'_>,
) -> Result<RequestPlan, SpecError> {
    let template = |value: &Spanned<String>, escape| {
        Template::parse(value.get_ref(), escape, names).map_err(|e| at(value.span(), e))
    };

    let name = request.name.get_ref().clone();
    if name.is_empty() {
        return Err(at(
            request.name.span(),
            "a request name cannot be empty".into(),
        ));
    }
    let weight = match &request.weight {
        Some(weight) if *weight.get_ref() == 0 => {
            return Err(at(
                weight.span(),
                "weight must be at least 1 (remove the request to stop sending it)".into(),
            ));
        }
        Some(weight) => *weight.get_ref(),
        None => defaults::WEIGHT,
    };
    let method = match &request.method {
        Some(method) => Method::from_bytes(method.get_ref().to_ascii_uppercase().as_bytes())
            .map_err(|_| {
                at(
                    method.span(),
                    format!("`{}` is not an HTTP method", method.get_ref()),
                )
            })?,
        None => {
            Method::from_bytes(defaults::METHOD.as_bytes()).expect("the default method is valid")
        }
    };
    if !request.path.get_ref().starts_with('/') {
        return Err(at(
            request.path.span(),
            format!(
                "`{}` must be a path starting with / (the host comes from the service or --target)",
                request.path.get_ref()
            ),
        ));
    }
    let path = template(&request.path, Escape::None)?;

    let mut headers = Vec::new();
    for (key, value) in default_headers
        .iter()
        .filter(|(k, _)| !request.headers.contains_key(*k))
        .chain(&request.headers)
    {
        let header = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| at(value.span(), format!("`{key}` is not a header name")))?;
        let value_template = template(value, Escape::None)?;
        if let Some(text) = value_template.as_static() {
            HeaderValue::from_str(text).map_err(|_| {
                at(
                    value.span(),
                    format!("the value of header `{key}` is not valid in HTTP"),
                )
            })?;
        }
        headers.push((header, value_template));
    }

    let body = match (&request.json, &request.body) {
        (Some(_), Some(body)) => {
            return Err(at(
                body.span(),
                "give either `json` or `body`, not both".into(),
            ));
        }
        (Some(json), None) => {
            let text = serde_json::to_string(json.get_ref())
                .map_err(|e| at(json.span(), format!("cannot encode as JSON: {e}")))?;
            if !headers.iter().any(|(name, _)| name == CONTENT_TYPE) {
                headers.push((
                    CONTENT_TYPE,
                    Template::parse("application/json", Escape::None, names).expect("static"),
                ));
            }
            Some(
                Template::parse(&text, Escape::JsonString, names)
                    .map_err(|e| at(json.span(), e))?,
            )
        }
        (None, Some(body)) => Some(template(body, Escape::None)?),
        (None, None) => None,
    };

    let expect = match &request.expect {
        Some(expect) => plan_expect(expect, at)?,
        None => Expect::default(),
    };
    let captures = request
        .capture
        .iter()
        .map(|(name, source)| {
            Ok(Capture {
                name: name.clone(),
                slot: captures
                    .iter()
                    .position(|c| c == name)
                    .expect("every capture name was collected"),
                source: Source::parse(source.get_ref()).map_err(|e| at(source.span(), e))?,
            })
        })
        .collect::<Result<Vec<_>, SpecError>>()?;

    let timeout = request.timeout.map_or(default_timeout, |d| d.0);
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(at(
            request.name.span(),
            format!(
                "request timeout must be between 1ms and {}s",
                MAX_TIMEOUT.as_secs()
            ),
        ));
    }

    let mut planned = RequestPlan {
        name,
        weight,
        method,
        path,
        headers,
        body,
        expect,
        captures,
        uses_row: false,
        timeout,
    };
    let uses_row = planned.templates().any(Template::uses_row);
    planned.uses_row = uses_row;
    Ok(planned)
}

fn plan_expect(expect: &spec::ExpectSpec, at: &At<'_>) -> Result<Expect, SpecError> {
    let status = match &expect.status {
        Some(status) => {
            let statuses = status.get_ref();
            if statuses.is_empty() || statuses.iter().any(|s| !(100..=599).contains(s)) {
                return Err(at(
                    status.span(),
                    "expect.status takes a non-empty list of HTTP status codes (100-599)".into(),
                ));
            }
            Some(statuses.clone())
        }
        None => None,
    };
    let json = expect
        .json
        .iter()
        .map(|(path, value)| {
            let path = JsonPath::parse(path).map_err(|e| at(value.span(), e))?;
            let value = serde_json::to_value(value.get_ref())
                .map_err(|e| at(value.span(), format!("cannot compare as JSON: {e}")))?;
            Ok((path, value))
        })
        .collect::<Result<_, SpecError>>()?;
    Ok(Expect {
        status,
        body_contains: expect.body_contains.as_ref().map(|b| b.get_ref().clone()),
        json,
    })
}

fn plan_gate(
    gate: &GateSpec,
    requests: &[RequestPlan],
    at: &At<'_>,
) -> Result<Vec<Threshold>, SpecError> {
    let mut thresholds = plan_scope(gate, Scope::Total, at)?;
    for (name, request_gate) in &gate.request {
        if !requests.iter().any(|r| &r.name == name) {
            let known: Vec<&str> = requests.iter().map(|r| r.name.as_str()).collect();
            return Err(at(
                request_gate.span(),
                format!(
                    "[gate.request.{name}] names no request (requests: {})",
                    known.join(", ")
                ),
            ));
        }
        if !request_gate.get_ref().request.is_empty() {
            return Err(at(
                request_gate.span(),
                "per-request gates cannot nest another `request` table".into(),
            ));
        }
        thresholds.extend(plan_scope(
            request_gate.get_ref(),
            Scope::Request(name.clone()),
            at,
        )?);
    }
    Ok(thresholds)
}

fn plan_scope(gate: &GateSpec, scope: Scope, at: &At<'_>) -> Result<Vec<Threshold>, SpecError> {
    let by_metric = [
        (Metric::P50, &gate.p50),
        (Metric::P90, &gate.p90),
        (Metric::P99, &gate.p99),
        (Metric::ErrorRate, &gate.error_rate),
        (Metric::Rps, &gate.rps),
        (Metric::ServiceRssPeak, &gate.service_rss_peak),
        (Metric::ServiceRssGrowth, &gate.service_rss_growth),
        (Metric::ServiceCpuPerRequest, &gate.service_cpu_per_request),
        (Metric::Capacity, &gate.capacity),
    ];
    let mut thresholds = Vec::new();
    for (metric, spec) in by_metric {
        let Some(spec) = spec else { continue };
        if metric.is_spec_wide() && scope != Scope::Total {
            return Err(at(
                spec.span(),
                format!(
                    "{metric} is measured on the spec as a whole: set it under [gate], not per request"
                ),
            ));
        }
        thresholds.push(plan_threshold(metric, spec, scope.clone(), at)?);
    }
    Ok(thresholds)
}

fn plan_threshold(
    metric: Metric,
    spec: &Spanned<ThresholdSpec>,
    scope: Scope,
    at: &At<'_>,
) -> Result<Threshold, SpecError> {
    let ThresholdSpec {
        regression,
        max,
        min,
        noise_floor,
    } = spec.get_ref();
    let amount = |value: &Option<Spanned<Quantity>>| {
        value
            .as_ref()
            .map(|q| {
                metric
                    .parse_amount(q.get_ref())
                    .map_err(|e| at(q.span(), e))
            })
            .transpose()
    };
    if regression.is_none() && max.is_none() && min.is_none() {
        return Err(at(
            spec.span(),
            format!("the {metric} threshold sets no limit: give `regression`, `max` or `min`"),
        ));
    }
    if let (true, Some(min)) = (metric.higher_is_worse(), min) {
        return Err(at(
            min.span(),
            format!("{metric} grows when it gets worse: limit it with `max`, not `min`"),
        ));
    }
    if let (false, Some(max)) = (metric.higher_is_worse(), max) {
        return Err(at(
            max.span(),
            format!("{metric} shrinks when it gets worse: limit it with `min`, not `max`"),
        ));
    }
    Ok(Threshold {
        scope,
        metric,
        regression: regression.map(|p| p.0),
        max: amount(max)?,
        min: amount(min)?,
        noise_floor: amount(noise_floor)?.unwrap_or(metric.default_noise_floor()),
    })
}

/// Hash of the parts of a spec that shape the workload, independent of formatting and comments.
/// The data file's rows count too: other data is another workload.
fn spec_hash(text: &str, data: Option<&DataTable>) -> String {
    let table: toml::Table = toml::from_str(text).unwrap_or_default();
    let shaping: toml::Table = [
        "seed", "load", "defaults", "request", "on_start", "data", "sweep",
    ]
    .into_iter()
    .filter_map(|key| table.get(key).map(|value| (key.to_owned(), value.clone())))
    .collect();
    let canonical = serde_json::to_string(&shaping).expect("a TOML table encodes as JSON");
    let mut hasher = Sha256::new();
    hasher.update(canonical.as_bytes());
    if let Some(data) = data {
        for row in data.rows.iter() {
            for value in row {
                hasher.update(value.as_bytes());
                hasher.update([0]);
            }
        }
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"
[service]
command = ["target/release/demo-service", "--port", "{port}"]
ready = { http = "/health", timeout = "10s" }

[load]
users = 4
think_time = "10ms..20ms"
duration = "2s"

[defaults]
headers = { X-Team = "perf" }

[[request]]
name = "create"
weight = 3
method = "post"
path = "/orders"
json = { id = "${seq}", qty = 1 }
expect = { status = [201, 409] }

[[request]]
name = "home"
path = "/"

[gate]
p90 = { regression = "15%", max = "20ms" }
rps = { regression = "10%", min = 5 }
service_rss_peak = { max = "512MiB", regression = "20%" }

[gate.request.create]
error_rate = { max = "1%", noise_floor = "0.5%" }
"#;

    /// Planning `text` fails at `key` with a message containing `message`.
    #[track_caller]
    fn assert_plan_error(text: &str, key: &str, message: &str) {
        let err = plan(text).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert!(err.message.contains(message), "{err}");
        assert!(err.line > 0, "{err}");
    }

    fn plan(text: &str) -> Result<Plan, SpecError> {
        build(
            Path::new("loadspec/orders.toml"),
            text,
            Path::new("."),
            &Overrides::default(),
            &|_| None,
        )
    }

    #[test]
    fn a_full_spec_resolves_to_concrete_values() {
        let plan = plan(SPEC).unwrap();
        assert_eq!(plan.name, "orders");
        assert_eq!(plan.load.users, 4);
        assert_eq!(plan.load.think_time.max, Duration::from_millis(20));
        assert_eq!(plan.load.warmup, defaults::WARMUP);
        let service = plan.service.unwrap();
        assert_eq!(service.ready_path.as_deref(), Some("/health"));
        assert_eq!(service.ready_timeout, Duration::from_secs(10));
        let create = &plan.requests[0];
        assert_eq!((create.weight, create.method.as_str()), (3, "POST"));
        assert!(create.expect.accepts(409) && !create.expect.accepts(200));
        assert!(plan.requests[1].expect.accepts(204) && !plan.requests[1].expect.accepts(301));
        let header_names: Vec<&str> = create.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(header_names, ["x-team", "content-type"]);
        assert_eq!(create.body.as_ref().unwrap().as_static(), None);
        assert_eq!(
            plan.thresholds,
            vec![
                Threshold {
                    scope: Scope::Total,
                    metric: Metric::P90,
                    regression: Some(0.15),
                    max: Some(20_000.0),
                    min: None,
                    noise_floor: 1_000.0
                },
                Threshold {
                    scope: Scope::Total,
                    metric: Metric::Rps,
                    regression: Some(0.10),
                    max: None,
                    min: Some(5.0),
                    noise_floor: 0.0
                },
                Threshold {
                    scope: Scope::Total,
                    metric: Metric::ServiceRssPeak,
                    regression: Some(0.20),
                    max: Some(512.0 * 1024.0 * 1024.0),
                    min: None,
                    noise_floor: 4.0 * 1024.0 * 1024.0,
                },
                Threshold {
                    scope: Scope::Request("create".into()),
                    metric: Metric::ErrorRate,
                    regression: None,
                    max: Some(0.01),
                    min: None,
                    noise_floor: 0.005,
                },
            ]
        );
    }

    #[test]
    fn overrides_replace_users_duration_and_warmup_but_not_the_hash() {
        let overrides = Overrides {
            users: Some(1),
            duration: Some(Duration::from_secs(1)),
            warmup: Some(Duration::ZERO),
            allow_large_load: false,
            rounds: None,
        };
        let quick = build(
            Path::new("orders.toml"),
            SPEC,
            Path::new("."),
            &overrides,
            &|_| None,
        )
        .unwrap();
        assert_eq!(
            (quick.load.users, quick.load.duration),
            (1, Duration::from_secs(1))
        );
        assert_eq!(quick.spec_hash, plan(SPEC).unwrap().spec_hash);
    }

    #[test]
    fn the_hash_follows_the_workload_not_the_gate_or_comments() {
        let base = plan(SPEC).unwrap().spec_hash;
        assert_eq!(
            plan(&format!("# comment\n{}", SPEC.replace("15%", "50%")))
                .unwrap()
                .spec_hash,
            base
        );
        assert_ne!(
            plan(&SPEC.replace("users = 4", "users = 5"))
                .unwrap()
                .spec_hash,
            base
        );
    }

    #[test]
    fn invalid_values_point_at_their_key() {
        let cases = [
            (
                "users = 4",
                "users = 0",
                "load.users",
                "users must be between 1",
            ),
            (
                "weight = 3",
                "weight = 0",
                "request.weight",
                "weight must be at least 1",
            ),
            (
                "method = \"post\"",
                "method = \"PO ST\"",
                "request.method",
                "not an HTTP method",
            ),
            (
                "path = \"/orders\"",
                "path = \"orders\"",
                "request.path",
                "must be a path starting with /",
            ),
            (
                "[201, 409]",
                "[201, 999]",
                "request.expect.status",
                "HTTP status codes",
            ),
            (
                "max = \"20ms\"",
                "max = \"20 parsecs\"",
                "gate.p90.max",
                "invalid duration",
            ),
            ("min = 5", "max = 5", "gate.rps.max", "limit it with `min`"),
            (
                "[gate.request.create]",
                "[gate.request.nope]",
                "gate.request.nope",
                "names no request",
            ),
            (
                "\"${seq}\"",
                "\"${sequence}\"",
                "request.json",
                "unknown template",
            ),
            (
                "name = \"home\"",
                "name = \"create\"",
                "request.name",
                "two requests are named `create`",
            ),
            (
                "\"512MiB\"",
                "\"512 parsecs\"",
                "gate.service_rss_peak.max",
                "invalid size",
            ),
            (
                "error_rate = { max",
                "service_cpu_per_request = { max",
                "gate.request.create.service_cpu_per_request",
                "measured on the spec as a whole",
            ),
        ];
        for (from, to, key, message) in cases {
            let text = SPEC.replacen(from, to, 1);
            assert_ne!(text, SPEC, "{from}");
            assert_plan_error(&text, key, message);
        }
    }

    #[test]
    fn the_open_model_takes_a_rate_and_refuses_closed_model_keys() {
        let open = SPEC
            .replacen(
                "users = 4",
                "model = \"open\"\nrate = 250.5\nmax_in_flight = 64",
                1,
            )
            .replacen("think_time = \"10ms..20ms\"\n", "", 1);
        let load = plan(&open).unwrap().load;
        assert_eq!(
            (load.model, load.rate, load.max_in_flight, load.users),
            (Model::Open, 250.5, 64, 0)
        );
        let default_bound = plan(&open.replace("max_in_flight = 64\n", ""))
            .unwrap()
            .load;
        assert_eq!(default_bound.max_in_flight, defaults::MAX_IN_FLIGHT);

        let cases = [
            (
                open.replacen("rate = 250.5", "rate = 250.5\nusers = 3", 1),
                "load.users",
                "`users` does not apply to model = \"open\"",
            ),
            (
                open.replacen("rate = 250.5\n", "", 1),
                "load",
                "an open model needs `rate`",
            ),
            (
                open.replacen("rate = 250.5", "rate = 0.0", 1),
                "load.rate",
                "rate must be above 0",
            ),
            (
                SPEC.replacen("users = 4", "users = 4\nrate = 10.0", 1),
                "load.rate",
                "`rate` does not apply to model = \"closed\"",
            ),
            (
                SPEC.replacen("users = 4\n", "", 1),
                "load",
                "a closed model needs `users`",
            ),
        ];
        for (text, key, message) in cases {
            assert_plan_error(&text, key, message);
        }
    }

    #[test]
    fn a_profile_ramps_linearly_and_counts_requests_exactly() {
        // 0 → 100/s over 2 s, then 100/s held for 1 s, then down to 0 over 1 s.
        let profile = Profile {
            start: 0.0,
            stages: vec![
                Stage {
                    duration: Duration::from_secs(2),
                    target: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    target: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    target: 0.0,
                },
            ],
        };
        assert_eq!(profile.level_at(Duration::from_millis(500)), 25.0);
        assert_eq!(profile.level_at(Duration::from_millis(2500)), 100.0);
        assert_eq!(profile.level_at(Duration::from_millis(3500)), 50.0);
        assert_eq!(profile.level_at(Duration::from_secs(9)), 0.0);
        assert_eq!(profile.length(), Duration::from_secs(4));
        let secs = |n: f64| {
            profile
                .time_of(n)
                .map(|d| (d.as_secs_f64() * 1e6).round() / 1e6)
        };
        // 100 requests by the end of the ramp, 200 after the hold, 250 in all.
        assert_eq!(secs(25.0), Some(1.0));
        assert_eq!(secs(100.0), Some(2.0));
        assert_eq!(secs(150.0), Some(2.5));
        assert_eq!(secs(250.0), Some(4.0));
        assert_eq!(secs(251.0), None, "the rate has fallen to zero");
        assert_eq!(profile.count_until(Duration::from_millis(2500)), 150.0);
        assert_eq!(profile.count_until(Duration::from_secs(10)), 250.0);
        let constant = Profile {
            start: 200.0,
            stages: vec![],
        };
        assert_eq!(constant.time_of(50.0), Some(Duration::from_millis(250)));
    }

    #[test]
    fn stages_make_the_profile_and_the_length_of_the_run() {
        let staged = SPEC
            .replacen(
                "users = 4",
                "stages = [{ duration = \"1s\", users = 8 }, { duration = \"2s\", users = 2 }]",
                1,
            )
            .replacen("duration = \"2s\"\n", "warmup = \"500ms\"\n", 1);
        let load = plan(&staged).unwrap().load;
        assert_eq!(load.users, 8, "the peak");
        assert_eq!(load.profile.start, 0.0);
        assert_eq!(load.profile.stages.len(), 2);
        assert_eq!(
            (load.warmup, load.duration),
            (Duration::from_millis(500), Duration::from_millis(2500))
        );
        assert_eq!(load.describe(), "up to 8 users");

        let ramped = plan(&SPEC.replacen("users = 4", "users = 4\nramp_up = \"2s\"", 1))
            .unwrap()
            .load;
        assert_eq!(
            ramped.profile,
            Profile {
                start: 0.0,
                stages: vec![Stage {
                    duration: Duration::from_secs(2),
                    target: 4.0
                }]
            }
        );

        let cases = [
            (
                staged.replacen("users = 8", "rate = 8.0", 1),
                "load.stages",
                "sets `users`",
            ),
            (
                staged.replacen("think_time", "duration = \"3s\"\nthink_time", 1),
                "load.stages",
                "not both",
            ),
            (
                staged.replacen("think_time", "ramp_up = \"1s\"\nthink_time", 1),
                "load.ramp_up",
                "keep the stages",
            ),
        ];
        for (text, key, message) in cases {
            assert_plan_error(&text, key, message);
        }
    }

    #[test]
    fn a_sweep_takes_increasing_steps_of_its_model() {
        let sweep = "\n[sweep]\nusers = [2, 4, 8]\nstep = \"1s\"\nlimit = { p90 = \"200ms\", error_rate = \"1%\" }\n";
        let planned = plan(&format!("{SPEC}{sweep}")).unwrap();
        assert_eq!(
            planned.sweep,
            Some(SweepPlan {
                steps: vec![2.0, 4.0, 8.0],
                step_duration: Duration::from_secs(1),
                limits: vec![(Metric::P90, 200_000.0), (Metric::ErrorRate, 0.01)],
            })
        );
        let step = planned.at_step(8.0);
        assert_eq!(
            (step.load.users, step.load.duration),
            (8, Duration::from_secs(1))
        );
        assert_ne!(
            planned.spec_hash,
            plan(SPEC).unwrap().spec_hash,
            "the sweep shapes the load"
        );

        let cases = [
            (
                sweep.replace("[2, 4, 8]", "[4, 2]"),
                "sweep.users",
                "must be increasing",
            ),
            (
                sweep.replace("users = [2, 4, 8]", "rates = [2.0]"),
                "sweep",
                "lists `users = [...]`",
            ),
            (
                sweep.replace("p90 = ", "p95 = "),
                "sweep.limit.p95",
                "unknown field",
            ),
        ];
        for (text, key, message) in cases {
            assert_plan_error(&format!("{SPEC}{text}"), key, message);
        }
        let err = plan(&SPEC.replacen(
            "[gate]\n",
            "[gate]\ncapacity = { regression = \"10%\" }\n",
            1,
        ))
        .unwrap_err();
        assert!(err.message.contains("measured by a [sweep]"), "{err}");
    }

    #[test]
    fn a_missing_env_variable_fails_planning() {
        let text = SPEC.replace(
            "X-Team = \"perf\"",
            "Authorization = \"Bearer ${env.API_TOKEN}\"",
        );
        let err = plan(&text).unwrap_err();
        assert!(err.message.contains("`API_TOKEN` is not set"), "{err}");
        let env = |name: &str| (name == "API_TOKEN").then(|| "t0k".to_owned());
        let plan = build(
            Path::new("x.toml"),
            &text,
            Path::new("."),
            &Overrides::default(),
            &env,
        )
        .unwrap();
        assert_eq!(
            plan.requests[0].headers[0].1.as_static(),
            Some("Bearer t0k")
        );
    }

    const FLOW: &str = r#"
[service]
command = ["demo-service"]
env = { API_KEY = "${env.API_KEY}" }

[load]
users = 2
duration = "1s"

[data]
file = "messages.jsonl"
pick = "per_user"

[[on_start]]
name = "login"
method = "POST"
path = "/login"
json = { user = "u${user.id}" }
capture = { token = "json:$.token" }

[[request]]
name = "classify"
method = "POST"
path = "/classify"
headers = { Authorization = "Bearer ${user.token}", X-Api-Key = "${env.API_KEY}" }
json = { text = "${row.text}" }
expect = { status = [200], body_contains = "label", json = { "$.ok" = true } }
"#;

    fn plan_flow(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, SpecError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("messages.jsonl"), "{\"text\": \"hi\"}\n").unwrap();
        build(
            Path::new("flow.toml"),
            text,
            dir.path(),
            &Overrides::default(),
            env,
        )
    }

    #[test]
    fn a_user_flow_plans_on_start_requests_captures_data_and_secrets() {
        let env = |name: &str| (name == "API_KEY").then(|| "k3y-s3cret".to_owned());
        let plan = plan_flow(FLOW, &env).unwrap();
        assert_eq!(plan.n_on_start, 1);
        let names: Vec<&str> = plan.requests.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["login", "classify"]);
        assert_eq!((plan.requests[0].weight, plan.requests[1].weight), (0, 1));
        assert_eq!(plan.captures, ["token"]);
        assert_eq!(plan.requests[0].captures[0].slot, 0);
        assert!(plan.requests[1].uses_row && !plan.requests[0].uses_row);
        assert!(plan.requests[1].reads_body() && plan.requests[0].reads_body());
        assert_eq!(plan.data.as_ref().unwrap().columns, ["text"]);
        assert_eq!(plan.secrets.redact("x k3y-s3cret"), "x ***");
        assert_eq!(
            plan.service.unwrap().env,
            [("API_KEY".to_owned(), "k3y-s3cret".to_owned())]
        );
    }

    #[test]
    fn user_flow_mistakes_are_located() {
        let env = |_: &str| Some("k".to_owned());
        let cases = [
            (
                FLOW.replace("users = 2", "model = \"open\"\nrate = 10"),
                "need the closed model",
            ),
            (
                FLOW.replace("${user.token}", "${user.tokn}"),
                "no request captures `tokn`",
            ),
            (FLOW.replace("${row.text}", "${row.txt}"), "no column `txt`"),
            (
                FLOW.replace("json:$.token", "xml:token"),
                "a capture is `json:$.path`",
            ),
            (FLOW.replace("\"$.ok\"", "\"ok\""), "must start with `$`"),
            (
                FLOW.replace("messages.jsonl", "missing.csv"),
                "cannot read data file",
            ),
            (
                FLOW.replace("name = \"login\"", "name = \"login\"\nweight = 3"),
                "takes no weight",
            ),
        ];
        for (text, expected) in cases {
            let err = plan_flow(&text, &env).unwrap_err();
            assert!(err.message.contains(expected), "{expected}: {err}");
            assert!(err.line > 0, "{err}");
        }
        let err = plan_flow(FLOW, &|_| None).unwrap_err();
        assert!(err.message.contains("`API_KEY` is not set"), "{err}");
        assert_eq!(err.key.as_deref(), Some("service.env.API_KEY"));
    }

    #[test]
    fn a_load_beyond_the_sane_bounds_needs_a_flag() {
        let cases = [
            (
                "users = 4",
                "users = 6000",
                "6000 users is more than the sane bound of 5000",
            ),
            (
                "users = 4",
                "model = \"open\"\nrate = 60000",
                "60000 requests/second is more than",
            ),
            (
                "duration = \"2s\"",
                "duration = \"31m\"",
                "a run of 31m is longer than the sane bound of 30m",
            ),
        ];
        for (from, to, expected) in cases {
            let text = SPEC
                .replace(from, to)
                .replace("think_time = \"10ms..20ms\"\n", "");
            let err = plan(&text).unwrap_err();
            assert!(err.message.contains(expected), "{to}: {err}");
            assert!(err.message.contains("--allow-large-load"), "{err}");
            plan(&format!("allow_large_load = true\n{text}")).unwrap();
            let overrides = Overrides {
                allow_large_load: true,
                ..Overrides::default()
            };
            build(
                Path::new("x.toml"),
                &text,
                Path::new("."),
                &overrides,
                &|_| None,
            )
            .unwrap();
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = load(
            Path::new("loadspec/nope.toml"),
            Path::new("."),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("loadspec/nope.toml: spec file not found"),
            "{err}"
        );
    }
}
