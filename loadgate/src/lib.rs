//! loadgate: a performance gate for HTTP services.
//!
//! The modules are the pipeline's stages, in the order the data flows through them; each imports
//! only from the stages above it (and from `support`), which `tests/layers.rs` checks:
//! spec file → `spec` → `plan` → (`net`: connections and TLS) → (`service` launch) → `run`
//! (generator + recorder) → `summary` →
//! `judge` (checks, verdict, baselines) → `report`; `pipeline` drives them for every spec and
//! `cli` is the command line over it. `metric` is the vocabulary plan, summary and judge share.
//!
//! The public API is what another repository's `cargo xtask` needs. A complete `loadtest`
//! subcommand:
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! enum Xtask {
//!     /// Run the load specs in loadspec/ and gate on the baselines in baselines/.
//!     Loadtest(loadgate::LoadtestArgs),
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     // The project: the nearest directory upward with Cargo.toml and loadspec/.
//!     let root = loadgate::RootArgs::default();
//!     match Xtask::parse() {
//!         Xtask::Loadtest(args) => args.run_in(&root),
//!     }
//! }
//! ```
//!
//! Or, with options of its own: [`GateOptions::new`], then [`run_blocking`] (which owns the
//! runtime and the two-signal contract) or the async [`loadtest`], and
//! [`GateResult::exit`](result::GateResult::exit).

// Every type reachable from the public API can be named by its users (the `result` module).
// (Checked without the `testing` feature, whose hidden module reaches further: `.ci/run` lints
// loadgate alone.)
#![cfg_attr(not(feature = "testing"), warn(unnameable_types))]

// Leaves: paths, clock and host, files, exit codes, units, statistics.
mod support;

// What the user wrote: TOML → typed spec, with file:line:key errors.
mod spec;

// The names of what is measured and judged (p90, error_rate…), shared by the stages below.
mod metric;

// Spec → plan: validated, concrete, every default resolved.
mod plan;

// Connections and TLS, for the service's probe and the generator alike.
mod net;

// The service under test as a process, launched, probed and stopped.
mod service;

// Plan → recording: the load generator, its HTTP client and the histograms.
mod run;

// Plan + service → instructions per request, counted under Callgrind (`[cost]`).
mod cost;

// The service's process tree sampled by `perf` (`--profile`): folded stacks, shares, flame graphs.
mod profile;

// Recorders ↔ the file a shard of a distributed run hands over, and their exact merge.
mod shard_file;

// Recording → summary: the figures of one spec.
mod summary;

// Summary + baseline → checks and verdict.
mod judge;

// Verdict → console, junit.xml, summary.json, summary.md, report.html.
mod report;

// Every stage, for every spec: the gate as one function.
mod pipeline;

// The `loadtest` command line over the pipeline, for any front end.
mod cli;

// The public API: 15 names, each for a caller named beside it.

// An adopter's `cargo xtask loadtest` (the doc example above, `loadgate init`'s template).
pub use cli::LoadtestArgs;
pub use cli::root::RootArgs;

// The installable `loadgate` binary: its whole `main`.
pub use cli::app::main;

// A custom front end: options in, a result or an error out, an exit code either way.
pub use pipeline::blocking::run_blocking;
pub use pipeline::{GateError, GateOptions, loadtest};
pub use plan::Overrides;
pub use support::exit::Exit;
pub use support::paths::Paths;

/// The types of [`GateOptions`]' fields beside [`Paths`] and [`Overrides`].
pub mod options {
    pub use crate::pipeline::{GitHub, ShardRun};
    pub use crate::plan::shard::{ParseShardError, ShardOf};
    pub use crate::support::clock::WallClock;
}

/// What a running gate tells its front end ([`Event`](events::Event) to an
/// [`Observer`](events::Observer)), how it is told to stop, and the CLI's own renderer.
pub mod events {
    pub use crate::cli::terminal::Terminal;
    pub use crate::pipeline::events::{Event, Interrupt, Observer};
    pub use crate::run::Progress;
}

/// Every type a [`GateResult`](result::GateResult) holds (`summary.json` is it, serialized),
/// each nameable in an adopter's signatures; and the report of `loadtest bisect`. The crate
/// warns on a reachable type that cannot be named (`unnameable_types`), and this compiles:
///
/// ```
/// use loadgate::result::{GateResult, ScheduleSummary};
///
/// /// The open-model schedules of a run, for a front end's own report.
/// fn schedules(result: &GateResult) -> Vec<&ScheduleSummary> {
///     (result.specs.iter())
///         .filter_map(|spec| spec.summary.as_ref()?.schedule.as_ref())
///         .collect()
/// }
/// ```
pub mod result {
    pub use crate::cost::{CostSummary, FunctionCost, RequestCost};
    pub use crate::judge::bisect::{BisectReport, BisectStep, Decision as BisectDecision, Found};
    pub use crate::judge::checks::{Check, CheckKind, CheckOutcome};
    pub use crate::judge::cost::{CostChange, FunctionChange};
    pub use crate::judge::distribution::{Distribution, ShardFacts, ShardTotals};
    pub use crate::judge::pairs::PairRatios;
    pub use crate::judge::verdict::{GateResult, SpecResult, Verdict};
    pub use crate::metric::Metric;
    pub use crate::profile::{ProfileReport, ShareChange, Stacks};
    pub use crate::run::outcome::ErrorExample;
    pub use crate::run::record::{SeriesPoint, StreamPoint};
    pub use crate::run::resources::{CpuClock, ResourceFigures, ResourcePoint};
    pub use crate::service::ServiceFailure;
    pub use crate::shard_file::ShardStatus;
    pub use crate::summary::{
        FailedLatency, FlowSummary, LatencyStats, LoadFacts, Metrics, ScheduleSummary, SpecSummary,
        StreamStats, SweepStep, SweepSummary, WarmupFacts,
    };
    pub use crate::support::clock::ClockStatus;
    pub use crate::support::histogram::{EncodedHistogram, HistogramTextError};
    pub use crate::support::meta::{Build, Host, Provenance};
    pub use crate::support::units::Seconds;
}

/// The JSON Schemas of the spec format, `summary.json` and a shard file.
pub mod schema {
    pub use crate::report::schema::{shard, spec, summary};
}

/// What this repository's tests, fuzz targets and xtask reach inside the engine: not an API,
/// and compiled only with the `testing` feature, which only this workspace enables.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing {
    pub use crate::plan::shard;
    pub use crate::service::against::worktree_dir;
    pub use crate::support::cargo::command as cargo_command;

    pub mod template {
        pub use crate::plan::template::*;
        /// The seeded random generator templates draw from.
        pub use fastrand::Rng;
    }

    pub mod plan {
        pub use crate::plan::{build, load};
    }

    pub mod baseline {
        pub use crate::judge::baseline::{Baseline, parse, read, write};
    }

    pub mod sse {
        pub use crate::run::sse::{Event, MAX_EVENT, Malformed, Parser};
    }
}
