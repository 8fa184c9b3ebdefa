//! Sane bounds of one spec's load: beyond them, a spec needs `allow_large_load = true` or the
//! command line `--allow-large-load` (and stays within the hard bounds of the spec format).

use std::ops::Range;
use std::time::Duration;

use crate::plan::load::LoadPlan;
use crate::plan::sweep::SweepPlan;
use crate::spec::{Locator, Model, SpecError};

pub const USERS: f64 = 5_000.0;
pub const RATE: f64 = 50_000.0;
/// Warmup and duration together, every sweep step included.
pub const LENGTH: Duration = Duration::from_secs(30 * 60);

/// The load stays within the sane bounds: more is likely a typo, and on someone else's server
/// an attack.
pub(super) fn check_sane(
    load: &LoadPlan,
    sweep: Option<&SweepPlan>,
    rounds: u32,
    span: Range<usize>,
    at: &Locator<'_>,
) -> Result<(), SpecError> {
    let peak_step = sweep.and_then(|s| s.steps.last().copied()).unwrap_or(0.0);
    let length = match sweep {
        Some(sweep) => (load.warmup + sweep.step_duration) * sweep.steps.len() as u32,
        None => (load.warmup + load.duration) * rounds,
    };
    let (what, value, bound) = match load.model {
        Model::Closed => ("users", f64::from(load.users).max(peak_step), USERS),
        Model::Open => ("requests/second", load.rate.max(peak_step), RATE),
    };
    let beyond = if value > bound {
        format!("{value} {what} is more than the sane bound of {bound}")
    } else if length > LENGTH {
        format!(
            "a run of {} is longer than the sane bound of {}",
            humantime::format_duration(length),
            humantime::format_duration(LENGTH)
        )
    } else {
        return Ok(());
    };
    at.fail(
        span,
        format!(
            "{beyond}: set `allow_large_load = true` in the spec or pass --allow-large-load if you mean it"
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::plan::fixtures::{SPEC, plan};
    use crate::plan::{Overrides, build};

    #[test]
    fn a_load_beyond_the_sane_bounds_needs_a_flag() {
        let cases = [
            (
                "users = 4",
                "users = 6000",
                "6000 users is more than the sane bound of 5000",
            ),
            (
                "users = 4",
                "model = \"open\"\nrate = 60000",
                "60000 requests/second is more than",
            ),
            (
                "duration = \"2s\"",
                "duration = \"31m\"",
                "a run of 31m is longer than the sane bound of 30m",
            ),
        ];
        for (from, to, expected) in cases {
            let text = SPEC
                .replace(from, to)
                .replace("think_time = \"10ms..20ms\"\n", "");
            let err = plan(&text).unwrap_err();
            assert!(err.message.contains(expected), "{to}: {err}");
            assert!(err.message.contains("--allow-large-load"), "{err}");
            plan(&format!("allow_large_load = true\n{text}")).unwrap();
            let overrides = Overrides {
                allow_large_load: true,
                ..Overrides::default()
            };
            build(
                Path::new("x.toml"),
                &text,
                Path::new("."),
                &overrides,
                &|_| None,
            )
            .unwrap();
        }
    }
}
