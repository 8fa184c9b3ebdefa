//! Spec → Plan: validates a spec as written and resolves it into concrete values (durations,
//! weights, parsed templates, thresholds in internal units). Every default lives in [`defaults`].
//! Errors point at the offending key; nothing here touches the network or starts a process.
//!
//! [`build`] plans the parts in turn, each in the file that holds its type: `service`, `load`
//! ([`LoadPlan`], [`Profile`]), `flow` (the data file, captures, requests and `[[flow]]`s;
//! `request` plans one [`RequestPlan`]), `thresholds`, `sweep`, then the rounds here and the [`sane`] bounds.
//! `bounds` holds the hard bounds no flag lifts.

pub mod cost;
pub mod data;
pub mod defaults;
pub mod expect;
pub mod guard;
pub mod sane;
pub mod secret;
pub mod shard;
pub mod template;
pub mod timeline;

mod bounds;
mod flow;
mod hash;
mod load;
mod overrides;
mod request;
mod service;
mod sweep;
mod thresholds;
mod transport;

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

pub use crate::plan::cost::CostPlan;
pub use crate::plan::flow::FlowPlan;
pub use crate::plan::load::LoadPlan;
pub use crate::plan::overrides::Overrides;
#[cfg(test)]
pub use crate::plan::request::StreamProtocol;
pub use crate::plan::request::{RequestPlan, StreamPlan};
pub use crate::plan::service::ServicePlan;
pub use crate::plan::sweep::SweepPlan;
pub use crate::plan::thresholds::Threshold;
pub use crate::plan::transport::{TlsPlan, Transport};

use crate::plan::bounds::MAX_ROUNDS;
use crate::plan::data::DataTable;
use crate::plan::secret::Secrets;
use crate::plan::shard::{ShardOf, ShardRefusal};
use crate::spec::{self, HttpVersion, Locator, Model, Pick, SpecError};

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub file: PathBuf,
    /// Hash of what shapes the load (`seed`, `[load]`, `[defaults]`, `[[request]]`,
    /// `[[flow]]`…) as written;
    /// a baseline recorded under another hash measured another workload.
    pub spec_hash: String,
    pub seed: u64,
    pub service: Option<ServicePlan>,
    /// HTTP version, streams per connection and TLS trust.
    pub transport: Transport,
    pub load: LoadPlan,
    /// The `[[on_start]]` requests first (each user sends them once, in order), then the mix.
    pub requests: Vec<RequestPlan>,
    /// How many of `requests` are `[[on_start]]` requests.
    pub n_on_start: usize,
    /// The `[[flow]]`s: picked by weight with the `[[request]]`s, each a run of `requests`
    /// (after the mix's) sent in order.
    pub flows: Vec<FlowPlan>,
    /// A cookie jar per user (closed model): `[defaults] cookies`.
    pub cookies: bool,
    /// What looks like a mistake but runs, located in the spec: shown as notes of the result.
    pub warnings: Vec<String>,
    /// The names of the values requests capture, by slot.
    pub captures: Vec<String>,
    pub data: Option<DataTable>,
    /// Values taken from the environment: redacted from every output.
    pub secrets: Secrets,
    pub thresholds: Vec<Threshold>,
    /// The spec has no `[gate]` table: `thresholds` are the defaults, and the report says so.
    pub default_gate: bool,
    pub sweep: Option<SweepPlan>,
    /// `[cost]`: the requests counted in instructions after the load.
    pub cost: Option<CostPlan>,
    /// `allow_remote = true`: the spec may be pointed at a non-loopback `--target`.
    pub allow_remote: bool,
    /// How many times the load runs; verdicts are taken over the rounds.
    pub rounds: u32,
    /// The part of the load this process runs: [`ShardOf::WHOLE`] unless `--shard` split it.
    pub shard: ShardOf,
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

    /// The plan of `shard`: the whole spec still (users and requests keep their global index
    /// and intended time), with the shard's stripe of `max_in_flight`. Refused when a shard
    /// would own no user or data row.
    pub fn sharded(&self, shard: ShardOf) -> Result<Plan, ShardRefusal> {
        // A sweep's first step runs the fewest users, and each step must split too.
        let users = (self.load.model == Model::Closed).then(|| {
            self.sweep
                .as_ref()
                .map_or(self.load.users, |s| s.steps[0] as u32)
        });
        let sequential_rows = (self.data.as_ref())
            .filter(|data| data.pick == Pick::Sequential)
            .map(|data| data.rows.len());
        shard::check_sharding(shard.count(), users, sequential_rows)?;
        let mut plan = self.clone();
        plan.load.max_in_flight = shard.max_in_flight(self.load.max_in_flight);
        plan.shard = shard;
        Ok(plan)
    }
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

/// A test's plan of a spec text: file `t.toml`, root `.`, no overrides, no environment.
#[cfg(test)]
pub(crate) fn of_text(text: &str) -> Plan {
    build(
        Path::new("t.toml"),
        text,
        Path::new("."),
        &Overrides::default(),
        &|_| None,
    )
    .expect("a valid test spec")
}

/// Plans a spec's text. `env` looks up `${env.NAME}`; data files are relative to `root`. The
/// parts are planned in this order, so a spec with several mistakes reports the first.
pub fn build(
    file: &Path,
    text: &str,
    root: &Path,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, SpecError> {
    let spec = spec::parse(file, text)?;
    let at = Locator::new(file, text);
    let name = plan_name(spec.name.as_ref(), file, &at)?;
    let mut secrets = Secrets::default();
    let service = service::plan_service(spec.service.as_ref(), env, &mut secrets, &at)?;
    let transport = transport::plan_transport(&spec, root, &at)?;
    let load = load::plan_load(&spec.load, overrides, &at)?;
    let flow = flow::plan_user_flow(&spec, root, load.model, env, &mut secrets, &at)?;
    if let Some(http) = &spec.load.get_ref().http
        && *http.get_ref() == HttpVersion::Http2
        && flow.requests.iter().any(|r| r.stream.is_some())
    {
        return at.fail(
            http.span(),
            "streams (`stream = \"sse\"`, `websocket`) are read over HTTP/1.1: remove `http = \"2\"` from [load]",
        );
    }
    let sweep = sweep::plan_sweep(&spec, &load, &at)?;
    let mix = flow.n_on_start
        ..flow
            .flows
            .first()
            .map_or(flow.requests.len(), |f| f.steps.start);
    let cost = cost::plan_cost(
        spec.cost.as_ref(),
        &flow.requests,
        mix,
        service.is_some(),
        &at,
    )?;
    let (thresholds, default_gate) =
        thresholds::plan_gate(spec.gate.as_ref(), &flow.requests, cost.is_some(), &at)?;
    let rounds_span = spec.rounds.as_ref().map_or(spec.load.span(), |r| r.span());
    let rounds = plan_rounds(
        spec.rounds.as_ref(),
        overrides,
        sweep.is_some(),
        rounds_span,
        &at,
    )?;
    if !(overrides.allow_large_load || spec.allow_large_load.unwrap_or(false)) {
        sane::check_sane(&load, sweep.as_ref(), rounds, spec.load.span(), &at)?;
    }
    // Unchecked certificates are not a mistake, but no report may let them pass unsaid.
    let warnings = (transport.insecure_note().map(str::to_owned).into_iter())
        .chain(flow.warnings)
        .collect();
    Ok(Plan {
        name,
        file: file.to_path_buf(),
        spec_hash: hash::spec_hash(text, flow.data.as_ref()),
        seed: spec.seed.unwrap_or(defaults::SEED),
        service,
        transport,
        load,
        requests: flow.requests,
        n_on_start: flow.n_on_start,
        flows: flow.flows,
        cookies: spec.defaults.cookies.unwrap_or(defaults::COOKIES),
        warnings,
        captures: flow.captures,
        data: flow.data,
        secrets,
        thresholds,
        default_gate,
        sweep,
        cost,
        allow_remote: spec.allow_remote.unwrap_or(false),
        rounds,
        shard: ShardOf::WHOLE,
    })
}

/// `name` as written, or the file's stem; it names the spec's output files.
fn plan_name(
    written: Option<&Spanned<String>>,
    file: &Path,
    at: &Locator<'_>,
) -> Result<String, SpecError> {
    let Some(name) = written else {
        return Ok(file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default());
    };
    let valid = !name.get_ref().is_empty()
        && name
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return at.fail(
            name.span(),
            "a spec name may use letters, digits, `-`, `_` and `.` (it names files)",
        );
    }
    Ok(name.get_ref().clone())
}

/// `--rounds`, else `rounds`, else one. A sweep runs each step once.
fn plan_rounds(
    written: Option<&Spanned<u32>>,
    overrides: &Overrides,
    sweeps: bool,
    span: Range<usize>,
    at: &Locator<'_>,
) -> Result<u32, SpecError> {
    let rounds = overrides
        .rounds
        .or(written.map(|r| *r.get_ref()))
        .unwrap_or(defaults::ROUNDS);
    if !(1..=MAX_ROUNDS).contains(&rounds) {
        return at.fail(
            span,
            format!("rounds must be between 1 and {MAX_ROUNDS}, not {rounds}"),
        );
    }
    if rounds > 1 && sweeps {
        return at.fail(
            span,
            "a [sweep] runs each step once: it cannot run rounds too",
        );
    }
    Ok(rounds)
}

/// The specs and helpers the tests of every planning module share.
#[cfg(test)]
mod fixtures {
    use std::path::Path;

    use super::{Overrides, Plan, build};
    use crate::spec::SpecError;

    pub(super) const SPEC: &str = r#"
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
    pub(super) fn assert_plan_error(text: &str, key: &str, message: &str) {
        let err = plan(text).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert!(err.message.contains(message), "{err}");
        assert!(err.line > 0, "{err}");
    }

    pub(super) fn plan(text: &str) -> Result<Plan, SpecError> {
        build(
            Path::new("loadspec/orders.toml"),
            text,
            Path::new("."),
            &Overrides::default(),
            &|_| None,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::fixtures::{SPEC, assert_plan_error, plan};
    use super::*;
    use crate::metric::{Metric, NoiseFloor, Scope};

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
                    noise_floor: Metric::P90.default_noise_floor_rule(),
                },
                Threshold {
                    scope: Scope::Total,
                    metric: Metric::Rps,
                    regression: Some(0.10),
                    max: None,
                    min: Some(5.0),
                    noise_floor: NoiseFloor::fixed(0.0),
                },
                Threshold {
                    scope: Scope::Total,
                    metric: Metric::ServiceRssPeak,
                    regression: Some(0.20),
                    max: Some(512.0 * 1024.0 * 1024.0),
                    min: None,
                    noise_floor: NoiseFloor::fixed(4.0 * 1024.0 * 1024.0),
                },
                Threshold {
                    scope: Scope::Request("create".into()),
                    metric: Metric::ErrorRate,
                    regression: None,
                    max: Some(0.01),
                    min: None,
                    noise_floor: NoiseFloor::fixed(0.005),
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
