//! Plan + base URL → the state every user (or the open model's scheduler) of one run shares:
//! the requests, the target, the clock, the recorders' stripes and the open model's pool.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::time::Instant;
use url::{Position, Url};

use crate::net::connect::Target;
use crate::plan::data::DataTable;
use crate::plan::secret::Secrets;
use crate::plan::shard::ShardOf;
use crate::plan::{FlowPlan, LoadPlan, Plan, RequestPlan};
use crate::run::client::http2::Http2Pool;
use crate::run::outcome::{Cause, ErrorExample, Outcome};
use crate::run::record::{Interval, Recorder, Timing};
use crate::spec::{HttpVersion, Model};
use crate::support::sync::lock;

/// Counters that go on across the runs against one service (rounds, sweep steps): `${seq}`
/// and a sequential data pick, so a later round does not repeat an earlier round's ids. Both
/// count this process's picks; `shard` maps them to values no other shard uses.
#[derive(Debug, Default)]
pub struct Counters {
    pub shard: ShardOf,
    pub seq: AtomicU64,
    pub next_row: AtomicU64,
}

impl Counters {
    pub fn new(shard: ShardOf) -> Counters {
        Counters {
            shard,
            ..Counters::default()
        }
    }

    /// The row of a sequential pick among `n_rows`: the shard's own rows, in order, round again.
    pub fn next_row(&self, n_rows: usize) -> usize {
        let local = self.next_row.fetch_add(1, Ordering::Relaxed);
        self.shard.row(local, n_rows)
    }
}

/// A recorder pair and the series' current interval, behind one lock shared by a few users.
#[derive(Debug)]
pub struct Stripe {
    pub warmup: Recorder,
    pub measured: Recorder,
    /// Since the last point of the time series.
    pub interval: Interval,
}

impl Stripe {
    fn new(n_requests: usize) -> Stripe {
        Stripe {
            warmup: Recorder::new(n_requests),
            measured: Recorder::new(n_requests),
            interval: Interval::new(),
        }
    }

    /// One finished request: judged or warmup, and in the current second of the series.
    /// `timing` has the open model's send error and latency from the actual send, and a
    /// stream's messages. A failure is spelled out
    /// by `example` only while its recorder still keeps examples, so only the first few failures
    /// of each request name pay for text.
    pub fn record(
        &mut self,
        judged: bool,
        request_idx: usize,
        timing: Timing<'_>,
        outcome: &Outcome,
        example: impl FnOnce(Cause) -> ErrorExample,
    ) {
        let recorder = if judged {
            &mut self.measured
        } else {
            &mut self.warmup
        };
        let latency = timing.latency;
        match timing.sending {
            Some(sending) => recorder.record_scheduled(request_idx, latency, sending, outcome),
            None => recorder.record(request_idx, latency, outcome),
        }
        let record = &mut recorder.by_request[request_idx];
        // Like latency, message times are of answered streams only.
        if let (Some((start, arrivals)), None) = (timing.messages, outcome.cause) {
            record.record_messages(start, arrivals);
            self.interval.record_messages(start, arrivals);
        }
        if let Some(cause) = outcome.cause
            && record.wants_example()
        {
            record.keep_example(example(cause));
        }
        self.interval.record(latency, outcome);
    }

    /// An iteration of flow `flow_idx` ended, started after the warmup or not.
    pub fn record_flow(&mut self, judged: bool, flow_idx: usize, completed: bool) {
        let recorder = if judged {
            &mut self.measured
        } else {
            &mut self.warmup
        };
        recorder.record_flow(flow_idx, completed);
    }
}

/// State shared by all users of one run; read-only but for the stripes and the sequence.
pub struct Shared {
    pub target: Target,
    /// `[load] http = "2"`: the connections every request goes over.
    pub http2: Option<Http2Pool>,
    /// HTTP/2: users sharing one connection (closed model).
    pub streams_per_connection: usize,
    pub base_url: String,
    pub requests: Vec<RequestPlan>,
    pub flows: Vec<FlowPlan>,
    /// A cookie jar per user: `cookies` in the closed model (the open model has no users).
    pub cookies: bool,
    /// Running sums of the weights of the requests then the flows, for picking one with one
    /// random draw.
    cumulative_weights: Vec<u32>,
    pub load: LoadPlan,
    pub seed: u64,
    pub started: Instant,
    pub stripes: Vec<Mutex<Stripe>>,
    pub counters: Arc<Counters>,
    /// The data file (the next row of a sequential pick is in `counters`).
    pub data: Option<DataTable>,
    /// The first `n_on_start` requests are each user's `[[on_start]]`.
    pub n_on_start: usize,
    pub n_captures: usize,
    /// Redacted from the error examples, which quote answers.
    pub secrets: Secrets,
    /// The path and query of each request whose path has no template, parsed once: parsing per
    /// request showed in profiles.
    pub static_targets: Vec<Option<String>>,
    /// Open model: times a due request waited for a free sender under `max_in_flight`.
    pub in_flight_limit_hits: AtomicU64,
    /// Users running (closed model) or requests in flight (open model).
    pub active: AtomicU32,
}

impl Shared {
    /// The state of a run of `plan` against `base_url` starting now, with `n_stripes` stripes.
    pub fn new(
        plan: &Plan,
        base_url: &Url,
        counters: Arc<Counters>,
        n_stripes: usize,
    ) -> anyhow::Result<Shared> {
        let base = base_url.as_str().trim_end_matches('/');
        let static_target = |request: &RequestPlan| {
            let url = Url::parse(&format!("{base}{}", request.path.as_static()?)).ok()?;
            Some(url[Position::BeforePath..Position::AfterQuery].to_owned())
        };
        Ok(Shared {
            target: Target::resolve(base_url, &plan.transport)?,
            http2: http2_pool(plan),
            streams_per_connection: plan.transport.streams_per_connection.max(1) as usize,
            base_url: base.to_owned(),
            requests: plan.requests.clone(),
            flows: plan.flows.clone(),
            cookies: plan.cookies && plan.load.model == Model::Closed,
            cumulative_weights: plan
                .requests
                .iter()
                .map(|r| r.weight)
                .chain(plan.flows.iter().map(|f| f.weight))
                .scan(0u32, |sum, weight| {
                    *sum = sum.saturating_add(weight);
                    Some(*sum)
                })
                .collect(),
            load: plan.load.clone(),
            seed: plan.seed,
            started: Instant::now(),
            stripes: (0..n_stripes)
                .map(|_| Mutex::new(Stripe::new(plan.requests.len())))
                .collect(),
            counters,
            data: plan.data.clone(),
            n_on_start: plan.n_on_start,
            n_captures: plan.captures.len(),
            secrets: plan.secrets.clone(),
            static_targets: plan.requests.iter().map(static_target).collect(),
            in_flight_limit_hits: AtomicU64::new(0),
            active: AtomicU32::new(0),
        })
    }

    /// What every stripe recorded since the last call, merged; the stripes start afresh.
    pub fn take_interval(&self) -> Interval {
        let mut total = Interval::new();
        for stripe in &self.stripes {
            total.drain_from(&mut lock(stripe).interval);
        }
        total
    }

    /// A request of the mix, by weight, with one random draw.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> Picked {
        let total = *self.cumulative_weights.last().expect("a plan has requests");
        let draw = rng.u32(0..total);
        let idx = self.cumulative_weights.partition_point(|&w| w <= draw);
        match idx.checked_sub(self.requests.len()) {
            Some(flow_idx) => Picked::Flow(flow_idx),
            None => Picked::Request(idx),
        }
    }

    pub fn warmup_end(&self) -> Instant {
        self.started + self.load.warmup
    }

    pub fn end(&self) -> Instant {
        self.warmup_end() + self.load.duration
    }
}

/// What a user does next: a request of the mix, or a flow's steps (by index in the plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picked {
    Request(usize),
    Flow(usize),
}

/// Sleeps until `deadline`; false if the run was stopped meanwhile.
pub async fn sleep_unless_stopped(deadline: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    let stopped = tokio::select! {
        () = tokio::time::sleep_until(deadline) => false,
        _ = stop.wait_for(|stopped| *stopped) => true,
    };
    !stopped && !*stop.borrow()
}

/// With `http = "2"`, the pool: enough connections for every user (or request in flight) at
/// `streams_per_connection` each.
fn http2_pool(plan: &Plan) -> Option<Http2Pool> {
    let transport = &plan.transport;
    if transport.http != HttpVersion::Http2 {
        return None;
    }
    let concurrency = match plan.load.model {
        Model::Closed => plan.load.users,
        Model::Open => plan.load.max_in_flight,
    } as usize;
    let streams = transport.streams_per_connection.max(1) as usize;
    let n = concurrency.div_ceil(streams);
    Some(match plan.load.model {
        // Each connection's users share a task, which drives it (`closed::run_users`).
        Model::Closed => Http2Pool::driven_by_users(n, streams),
        Model::Open => Http2Pool::new(n, streams),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_picked_by_weight_beside_requests_and_on_start_never() {
        let text = "[load]\nusers = 1\nduration = \"1s\"\n\
                    [[on_start]]\nname = \"login\"\npath = \"/login\"\n\
                    [[request]]\nname = \"home\"\npath = \"/\"\n\
                    [[flow]]\nname = \"cart\"\nweight = 3\n\
                    [[flow.step]]\nname = \"open\"\npath = \"/cart\"\n";
        let plan = crate::plan::of_text(text);
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        let shared = Shared::new(&plan, &url, Arc::default(), 1).unwrap();
        assert!(shared.cookies, "the closed model has a jar by default");
        let mut rng = fastrand::Rng::with_seed(3);
        let picks: Vec<Picked> = (0..4_000).map(|_| shared.pick(&mut rng)).collect();
        let flows = picks.iter().filter(|p| **p == Picked::Flow(0)).count();
        let homes = picks.iter().filter(|p| **p == Picked::Request(1)).count();
        assert_eq!(
            flows + homes,
            picks.len(),
            "never login, never a step alone"
        );
        assert!(
            (2_800..3_200).contains(&flows),
            "{flows} of 4000 at weight 3 of 4"
        );
    }
}
