//! loadgate: a performance gate for HTTP services.
//!
//! The modules are the pipeline's stages, in the order the data flows through them; each imports
//! only from the stages above it (and from `support`), which `tests/layers.rs` checks:
//! spec file → `spec` → `plan` → (`service` launch) → `run` (generator + recorder) → `summary` →
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
//! runtime and the two-signal contract) or the async [`loadtest`], and [`GateResult::exit`].

// Leaves: paths, clock and host, files, exit codes, units, statistics.
mod support;

// What the user wrote: TOML → typed spec, with file:line:key errors.
mod spec;

// The names of what is measured and judged (p90, error_rate…), shared by the stages below.
mod metric;

// Spec → plan: validated, concrete, every default resolved.
mod plan;

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

pub use cli::app::{Cli, CliCommand};
pub use cli::init::InitArgs;
pub use cli::root::{RootArgs, find_project};
pub use cli::terminal::Terminal;
pub use cli::{
    AcceptArgs, BisectArgs, HistoryArgs, LoadtestAction, LoadtestArgs, MergeArgs, OverrideArgs,
    PlanArgs, RunArgs,
};
pub use judge::bisect::{BisectReport, BisectStep, Decision as BisectDecision, Found};
pub use judge::checks::{Check, CheckKind, CheckOutcome};
pub use judge::pairs::PairRatios;
pub use judge::verdict::{GateResult, SpecResult, Verdict};
pub use metric::Metric;
pub use pipeline::bisect::{BisectOptions, Bisected};
pub use pipeline::blocking::{bisect_blocking, run_blocking};
pub use pipeline::events::{Event, Observer};
pub use pipeline::merge::{MergeOptions, merge};
pub use pipeline::{
    Accepted, GateError, GateOptions, GitHub, Interrupt, ShardRun, accept, loadtest,
};
pub use plan::Overrides;
pub use plan::shard::ShardOf;
pub use profile::{ProfileReport, ShareChange};
pub use report::schema;
pub use run::Progress;
pub use summary::{LatencyStats, Metrics, SpecSummary};
pub use support::clock::WallClock;
pub use support::exit::Exit;
pub use support::paths::Paths;

/// What this repository's tests and fuzz targets reach inside the engine; not an API.
#[doc(hidden)]
pub mod testing {
    pub use crate::plan::shard;
    pub use crate::plan::template;
    pub use crate::support::cargo::command as cargo_command;

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
