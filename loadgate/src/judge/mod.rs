//! Summary + baseline + thresholds → verdict: every check, every rule that makes a result
//! inconclusive or adds a note, and the baseline files the comparison reads and writes.

pub mod baseline;
pub mod bisect;
pub mod checks;
pub mod cost;
pub mod distribution;
pub mod history;
pub mod pairs;
pub mod profiling;
pub mod shards;
pub mod spec;
pub mod trust;
pub mod verdict;
