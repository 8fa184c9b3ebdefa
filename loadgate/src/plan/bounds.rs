//! Hard bounds of what a spec may ask for: beyond them a value is a typo (a rate of 1e9 users)
//! before it is an attack, and no flag lifts them. The sane bounds, which a flag does lift, are
//! in [`super::sane`].

use std::time::Duration;

pub const MAX_USERS: u32 = 100_000;
pub const MAX_RATE: f64 = 1_000_000.0;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
pub const MAX_ROUNDS: u32 = 100;
