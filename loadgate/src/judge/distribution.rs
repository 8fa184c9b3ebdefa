//! What `summary.json` says of a distributed run (`loadtest merge`): the run, each shard's
//! identity and health, and per spec each shard's own totals. For diagnosis only: the verdict
//! is taken on the merged figures, never on a shard's; `judge::shards` has the rules over them.

use serde::{Deserialize, Serialize};

use crate::run::resources::ResourceFigures;
use crate::shard_file::ShardStatus;
use crate::summary::LatencyStats;
use crate::support::clock::ClockStatus;
use crate::support::meta::Host;

/// The run the shard files came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Distribution {
    pub run_id: String,
    /// The shared start, RFC 3339 UTC.
    pub start_at: String,
    /// How many shards the run had (`N`), present or not.
    pub shards_planned: u32,
    /// The shards whose files were merged, by index.
    pub shards: Vec<ShardFacts>,
}

/// One shard's identity, host, clock and how its run went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardFacts {
    /// 1-based.
    pub index: u32,
    pub label: Option<String>,
    pub status: ShardStatus,
    pub host: Host,
    pub boot_id: Option<String>,
    pub clock: ClockStatus,
    /// How long after the shared start its first part began (µs).
    pub started_late_us: Option<u64>,
}

/// One shard's own totals for a spec, over its parts: never judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShardTotals {
    pub index: u32,
    pub label: Option<String>,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
    pub rps: f64,
    pub latency_us: LatencyStats,
    /// The shard's generator during its last part's judged window.
    pub generator: Option<ResourceFigures>,
}
