//! Plan + service → what each request costs the service in instructions: after the load, the
//! service is launched again under Valgrind's Callgrind, and each request name of the mix is sent
//! one at a time over one connection, its counters zeroed before the batch and dumped after it,
//! so start-up, readiness probes and the other names cost nothing. Instructions do not depend on
//! the machine or on what else runs on it, which latency and CPU time do.

pub mod callgrind;
pub mod valgrind;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::plan::{CostPlan, Plan};
use crate::run::resources::descendants;
use crate::run::serial::Serial;
use crate::service::binary::BinDir;
use crate::service::{self, Service, ServiceFailure};
use crate::support::units::round_to;
use callgrind::Dump;
use valgrind::Callgrind;

/// What the cost phase counted for one spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CostSummary {
    /// Requests of each name counted, and sent before counting: instructions counted over
    /// other numbers are not compared.
    pub requests: u32,
    pub warmup_requests: u32,
    /// The most functions kept per request name (fewer where fewer ran).
    pub functions: u32,
    /// Instructions per request over the names counted, weighted by the spec's mix.
    pub instructions: f64,
    /// Per request name.
    pub by_request: BTreeMap<String, RequestCost>,
}

/// One request name's cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestCost {
    /// Instructions the service executed per request (all its threads and processes).
    pub instructions: f64,
    /// Requests counted that did not get their expected answer.
    pub failures: u64,
    /// The functions with the most self instructions, per request, most first.
    pub functions: Vec<FunctionCost>,
}

/// One function's share of a request's instructions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FunctionCost {
    /// Demangled, without Rust's symbol hash.
    pub function: String,
    /// Instructions in its own code, per request.
    #[serde(rename = "self")]
    pub self_instructions: f64,
    /// Instructions in its own code and in what it called, per request.
    pub inclusive: f64,
}

impl CostSummary {
    /// Instructions per request in `name`, or over the mix for `None`.
    pub fn instructions(&self, name: Option<&str>) -> Option<f64> {
        match name {
            None => Some(self.instructions),
            Some(name) => self.by_request.get(name).map(|r| r.instructions),
        }
    }
}

/// Why the cost phase gave no figures.
#[derive(Debug)]
pub enum CostFailure {
    /// The service failed to start, to become ready, or died under Valgrind.
    Service(ServiceFailure),
    /// The gate was interrupted meanwhile.
    Interrupted,
}

/// Where the cost phase runs the service, and what it tells meanwhile.
pub struct CostRun<'a> {
    /// The project, or the base revision's worktree (`--against`).
    pub root: &'a Path,
    pub bins: &'a BinDir,
    /// Callgrind's files (emptied first).
    pub work_dir: &'a Path,
    pub log: &'a Path,
    /// Told when each request name has been counted: its name and instructions per request.
    pub counted: &'a (dyn Fn(&str, f64, Duration) + Sync),
}

/// Launches `plan`'s service under Callgrind and counts each request name of `cost`; resolves
/// early with [`CostFailure::Interrupted`] when `interrupted` does.
pub async fn count(
    plan: &Plan,
    cost: &CostPlan,
    run: &CostRun<'_>,
    interrupted: impl std::future::Future<Output = ()>,
) -> Result<CostSummary, CostFailure> {
    let service_plan = plan.service.as_ref().expect("[cost] needs a [service]");
    let failure = |message: String| {
        CostFailure::Service(ServiceFailure {
            message,
            log_file: run.log.to_path_buf(),
            log_tail: crate::support::files::tail(run.log, 30),
        })
    };
    let callgrind = Callgrind::in_dir(run.work_dir).map_err(|err| {
        failure(format!(
            "cannot prepare {} for Callgrind: {err}",
            run.work_dir.display()
        ))
    })?;
    let mut under_valgrind = service_plan.clone();
    under_valgrind.command = callgrind.wrap(&service_plan.command);
    // Python's string hashes are salted per process unless fixed: another salt, other work.
    under_valgrind
        .env
        .push(("PYTHONHASHSEED".to_owned(), "0".to_owned()));
    under_valgrind.ready_timeout = cost.ready_timeout.max(service_plan.ready_timeout);
    under_valgrind.one_cpu = true;
    let counting = async {
        let mut service = service::launch(
            &under_valgrind,
            &plan.transport,
            run.root,
            run.bins,
            run.log,
        )
        .await
        .map_err(|f| {
            CostFailure::Service(ServiceFailure {
                message: format!("under Valgrind, {}", f.message),
                ..f
            })
        })?;
        let counted = count_each(plan, cost, &mut service, &callgrind, run).await;
        service.stop().await;
        counted
    };
    // Dropping the counting future stops the service (its group, Valgrind and children).
    tokio::select! {
        counted = counting => counted,
        () = interrupted => Err(CostFailure::Interrupted),
    }
}

/// Every counted request name in turn, against the service running under `callgrind`.
async fn count_each(
    plan: &Plan,
    cost: &CostPlan,
    service: &mut Service,
    callgrind: &Callgrind,
    run: &CostRun<'_>,
) -> Result<CostSummary, CostFailure> {
    let slow_plan = slower(plan);
    let mut serial = Serial::new(&slow_plan, &service.base_url)
        .map_err(|err| CostFailure::Service(service.failed(format!("{err:#}"))))?;
    if !serial.start().await {
        return Err(CostFailure::Service(service.failed(
            "under Valgrind, an [[on_start]] request did not get its expected answer".to_owned(),
        )));
    }
    let mut by_request = BTreeMap::new();
    for &request_idx in &cost.counted {
        let started = Instant::now();
        let name = &plan.requests[request_idx].name;
        for _ in 0..cost.warmup_requests {
            serial.send(request_idx).await;
        }
        let pids = tree(service);
        callgrind
            .zero(&pids)
            .await
            .map_err(|err| CostFailure::Service(service.failed(err)))?;
        let mut failures = 0;
        for _ in 0..cost.requests {
            if !serial.send(request_idx).await {
                failures += 1;
            }
        }
        let dump = callgrind
            .dump(&tree(service))
            .await
            .map_err(|err| CostFailure::Service(service.failed(err)))?;
        if let Some(status) = service.exit_status() {
            return Err(CostFailure::Service(
                service.died(status, started.elapsed()),
            ));
        }
        let request_cost = per_request(&dump, cost, failures);
        (run.counted)(name, request_cost.instructions, started.elapsed());
        by_request.insert(name.clone(), request_cost);
    }
    Ok(CostSummary {
        requests: cost.requests,
        warmup_requests: cost.warmup_requests,
        functions: cost.functions,
        instructions: weighted(plan, &by_request),
        by_request,
    })
}

/// The service's process and its children (workers it forked, which Callgrind follows).
fn tree(service: &Service) -> Vec<i32> {
    let root = service.pid();
    std::iter::once(root).chain(descendants(root)).collect()
}

/// The plan with request timeouts stretched for Valgrind, which runs a service tens of times
/// slower.
fn slower(plan: &Plan) -> Plan {
    const VALGRIND_SLOWDOWN: u32 = 50;
    let mut plan = plan.clone();
    for request in &mut plan.requests {
        request.timeout = request.timeout.saturating_mul(VALGRIND_SLOWDOWN);
    }
    plan
}

/// A batch's dump as instructions per request, and its top functions.
fn per_request(dump: &Dump, cost: &CostPlan, failures: u64) -> RequestCost {
    let n = f64::from(cost.requests);
    let per = |ir: u64| round_to(ir as f64 / n, 1);
    RequestCost {
        instructions: per(dump.total_ir),
        failures,
        functions: dump
            .functions
            .iter()
            .take(cost.functions as usize)
            .map(|f| FunctionCost {
                function: f.name.clone(),
                self_instructions: per(f.self_ir),
                inclusive: per(f.inclusive_ir),
            })
            .collect(),
    }
}

/// The mix's instructions per request: each name's, weighted as the load picks them.
fn weighted(plan: &Plan, by_request: &BTreeMap<String, RequestCost>) -> f64 {
    let (mut sum, mut weights) = (0.0, 0.0);
    for request in &plan.requests {
        if let Some(cost) = by_request.get(&request.name) {
            sum += f64::from(request.weight) * cost.instructions;
            weights += f64::from(request.weight);
        }
    }
    if weights == 0.0 {
        0.0
    } else {
        round_to(sum / weights, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::callgrind::FunctionCount;

    #[test]
    fn a_dump_becomes_instructions_per_request_and_the_top_functions() {
        let dump = Dump {
            total_ir: 10_050,
            functions: vec![
                FunctionCount {
                    name: "a".into(),
                    self_ir: 6_000,
                    inclusive_ir: 9_000,
                },
                FunctionCount {
                    name: "b".into(),
                    self_ir: 3_000,
                    inclusive_ir: 3_000,
                },
                FunctionCount {
                    name: "c".into(),
                    self_ir: 1_050,
                    inclusive_ir: 1_050,
                },
            ],
        };
        let plan = CostPlan {
            requests: 100,
            warmup_requests: 0,
            functions: 2,
            counted: vec![0],
            ready_timeout: Duration::from_secs(1),
        };
        let cost = per_request(&dump, &plan, 3);
        assert_eq!(cost.instructions, 100.5);
        assert_eq!(cost.failures, 3);
        let rows: Vec<(&str, f64, f64)> = (cost.functions.iter())
            .map(|f| (f.function.as_str(), f.self_instructions, f.inclusive))
            .collect();
        assert_eq!(rows, [("a", 60.0, 90.0), ("b", 30.0, 30.0)]);
    }

    #[test]
    fn the_total_weighs_each_name_as_the_mix_picks_it() {
        let text = "[load]\nusers = 1\nduration = \"1s\"\n\
                    [[request]]\nname = \"a\"\nweight = 3\npath = \"/\"\n\
                    [[request]]\nname = \"b\"\npath = \"/b\"\n\
                    [[request]]\nname = \"skipped\"\nweight = 100\npath = \"/c\"\n";
        let plan = crate::plan::of_text(text);
        let cost = |instructions| RequestCost {
            instructions,
            failures: 0,
            functions: Vec::new(),
        };
        let by_request =
            BTreeMap::from([("a".to_owned(), cost(100.0)), ("b".to_owned(), cost(500.0))]);
        assert_eq!(weighted(&plan, &by_request), 200.0);
    }
}
