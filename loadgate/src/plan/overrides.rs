//! What the command line may change in every spec it runs, for quick runs and for large loads.

use std::time::Duration;

/// Command-line overrides for quick runs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub users: Option<u32>,
    pub duration: Option<Duration>,
    pub warmup: Option<Duration>,
    /// `--allow-large-load`: lift the sane bounds of load (users, rate, duration) for every spec.
    pub allow_large_load: bool,
    /// `--rounds N`: every spec runs N rounds.
    pub rounds: Option<u32>,
}
