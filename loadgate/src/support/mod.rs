//! Leaves every stage may use: the project's paths, the clock and host facts, the CPUs' wake-up
//! latency, a distributed run's wall clock, atomic files, exit codes, human units, statistics,
//! histograms as text, a poison-tolerant lock, the cargo command and the open-files limit.

pub mod cargo;
pub mod clock;
pub mod cpu_latency;
pub mod exit;
pub mod files;
pub mod histogram;
pub mod meta;
pub mod open_files;
pub mod paths;
pub mod stats;
pub mod sync;
pub mod units;
