//! `[load]` → [`LoadPlan`]: the model and its level over time (a [`Profile`] of users or
//! requests/second), the think time or in-flight bound of the model, the warmup and the judged
//! duration. A key of the other model is an error, not ignored.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use crate::plan::bounds::{MAX_RATE, MAX_USERS};
use crate::plan::defaults;
use crate::plan::overrides::Overrides;
use crate::spec::{LoadSpec, Locator, Model, SpecError, StageSpec};
use crate::support::units::DurationRange;

#[derive(Debug, Clone, PartialEq)]
pub struct LoadPlan {
    pub model: Model,
    /// Closed model: concurrent users at the peak (0 for the open model).
    pub users: u32,
    pub think_time: DurationRange,
    /// Open model: requests per second at the peak (0 for the closed model).
    pub rate: f64,
    /// How the level (users or rate) moves from the start of the load, warmup included.
    pub profile: Profile,
    /// Open model: requests in flight at most; reaching it makes the run inconclusive.
    pub max_in_flight: u32,
    /// Measured but not judged.
    pub warmup: Duration,
    /// The judged part of the run, after the warmup.
    pub duration: Duration,
}

impl LoadPlan {
    /// "10 users", "200 req/s", or with stages "up to 50 users".
    pub fn describe(&self) -> String {
        let up_to = if self.profile.stages.is_empty() {
            ""
        } else {
            "up to "
        };
        match self.model {
            Model::Closed => format!("{up_to}{} users", self.users),
            Model::Open => format!("{up_to}{} req/s", self.rate),
        }
    }

    /// A constant level (users or rate) from the start: the plan of one sweep step.
    pub fn hold(&mut self, level: f64) {
        self.profile = Profile::constant(level);
        match self.model {
            Model::Closed => self.users = level as u32,
            Model::Open => self.rate = level,
        }
    }
}

/// A level (users or requests/second) over time: `start` at the beginning of the load, then
/// each stage ramps linearly to its target over its duration; the last level holds after.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub start: f64,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

impl Profile {
    /// `level` from the start, with no stage.
    pub fn constant(level: f64) -> Profile {
        Profile {
            start: level,
            stages: Vec::new(),
        }
    }

    /// The level `t` after the load started.
    pub fn level_at(&self, t: Duration) -> f64 {
        let mut from = self.start;
        let mut elapsed = Duration::ZERO;
        for stage in &self.stages {
            if t < elapsed + stage.duration {
                let x = (t - elapsed).as_secs_f64() / stage.duration.as_secs_f64();
                return from + (stage.target - from) * x;
            }
            elapsed += stage.duration;
            from = stage.target;
        }
        from
    }

    /// When the profile, read as a rate, has delivered `n` requests: the intended send time of
    /// request `n` of the open model. `None` when the rate falls to zero before.
    pub fn time_of(&self, n: f64) -> Option<Duration> {
        let mut from = self.start;
        let mut elapsed = 0.0;
        let mut remaining = n;
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let in_stage = (from + stage.target) / 2.0 * d;
            if remaining <= in_stage {
                // Solve from·x + slope/2·x² = remaining for x in [0, d].
                let slope = (stage.target - from) / d;
                let x = if slope.abs() < 1e-12 {
                    remaining / from
                } else {
                    (-from + (from * from + 2.0 * slope * remaining).max(0.0).sqrt()) / slope
                };
                return Some(Duration::from_secs_f64(elapsed + x.clamp(0.0, d)));
            }
            remaining -= in_stage;
            elapsed += d;
            from = stage.target;
        }
        (from > 0.0).then(|| Duration::from_secs_f64(elapsed + remaining / from))
    }

    /// How many requests the profile, read as a rate, delivers in its first `t`.
    pub fn count_until(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        let (mut from, mut elapsed, mut count) = (self.start, 0.0, 0.0);
        for stage in &self.stages {
            let d = stage.duration.as_secs_f64();
            let x = (t - elapsed).clamp(0.0, d);
            count += from * x + (stage.target - from) / d * x * x / 2.0;
            elapsed += d;
            from = stage.target;
        }
        count + from * (t - elapsed).max(0.0)
    }

    /// The total length of the stages.
    pub fn length(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest level the profile reaches: levels move linearly, so it is the start or a
    /// stage's target.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.target)
            .fold(self.start, f64::max)
    }
}

/// Plans `[load]`: the shape of its model, then the warmup and the judged duration that follows.
pub(super) fn plan_load(
    load: &Spanned<LoadSpec>,
    overrides: &Overrides,
    at: &Locator<'_>,
) -> Result<LoadPlan, SpecError> {
    let shape = plan_load_shape(load.get_ref(), load.span(), overrides, at)?;
    let warmup = overrides
        .warmup
        .or(load.get_ref().warmup.map(|d| d.0))
        .unwrap_or(defaults::WARMUP);
    let duration = plan_duration(load, &shape.profile, warmup, overrides, at)?;
    Ok(LoadPlan {
        warmup,
        duration,
        ..shape
    })
}

/// The model-specific part of `[load]`: users, ramp-up and think time for the closed model, rate
/// and in-flight bound for the open one. `warmup` and `duration` are left at zero.
fn plan_load_shape(
    load: &LoadSpec,
    load_span: Range<usize>,
    overrides: &Overrides,
    at: &Locator<'_>,
) -> Result<LoadPlan, SpecError> {
    let stages = load
        .stages
        .as_ref()
        .map(|stages| plan_stages(stages, load.model, at))
        .transpose()?;
    reject_other_model_keys(load, at)?;
    match load.model {
        Model::Closed => closed_shape(load, load_span, stages, overrides, at),
        Model::Open => open_shape(load, load_span, stages, at),
    }
}

/// A key that only the other model takes is an error, not ignored.
fn reject_other_model_keys(load: &LoadSpec, at: &Locator<'_>) -> Result<(), SpecError> {
    let (model, takes, other_keys) = match load.model {
        Model::Closed => (
            "closed",
            "`users`, `ramp_up` and `think_time`",
            vec![
                ("rate", load.rate.as_ref().map(Spanned::span)),
                (
                    "max_in_flight",
                    load.max_in_flight.as_ref().map(Spanned::span),
                ),
            ],
        ),
        Model::Open => (
            "open",
            "`rate` and `max_in_flight`",
            vec![
                ("users", load.users.as_ref().map(Spanned::span)),
                ("ramp_up", load.ramp_up.as_ref().map(Spanned::span)),
                ("think_time", load.think_time.as_ref().map(Spanned::span)),
            ],
        ),
    };
    for (key, span) in other_keys {
        if let Some(span) = span {
            return at.fail(
                span,
                format!("`{key}` does not apply to model = \"{model}\", which takes {takes}"),
            );
        }
    }
    Ok(())
}

/// The closed model: users held, ramped up to, or moved by stages; each user thinks between
/// requests.
fn closed_shape(
    load: &LoadSpec,
    load_span: Range<usize>,
    stages: Option<Vec<Stage>>,
    overrides: &Overrides,
    at: &Locator<'_>,
) -> Result<LoadPlan, SpecError> {
    let span = load.users.as_ref().map_or(load_span, |u| u.span());
    let written = load.users.as_ref().map(|u| *u.get_ref());
    let profile = match (stages, &load.ramp_up) {
        (Some(_), Some(ramp_up)) => {
            return at.fail(
                ramp_up.span(),
                "`ramp_up` and `stages` both ramp the users: keep the stages",
            );
        }
        // With stages, `users` is where the first stage starts from.
        (Some(stages), None) => Profile {
            start: f64::from(written.unwrap_or(0)),
            stages,
        },
        (None, ramp_up) => {
            let Some(users) = overrides.users.or(written) else {
                return at.fail(span, "a closed model needs `users`");
            };
            if users == 0 {
                return at.fail(
                    span,
                    format!("users must be between 1 and {MAX_USERS}, not {users}"),
                );
            }
            let ramp_up = ramp_up
                .as_ref()
                .map_or(defaults::RAMP_UP, |d| d.get_ref().0);
            ramped_profile(f64::from(users), ramp_up)
        }
    };
    let peak = profile.peak();
    if peak < 1.0 || peak > f64::from(MAX_USERS) {
        return at.fail(
            span,
            format!("users must be between 1 and {MAX_USERS}, not {peak}"),
        );
    }
    Ok(LoadPlan {
        model: Model::Closed,
        users: peak.ceil() as u32,
        think_time: load
            .think_time
            .as_ref()
            .map_or(default_think_time(), |t| *t.get_ref()),
        rate: 0.0,
        profile,
        max_in_flight: 0,
        warmup: Duration::ZERO,
        duration: Duration::ZERO,
    })
}

/// `level` from the start, or reached linearly over `ramp_up` from zero.
fn ramped_profile(level: f64, ramp_up: Duration) -> Profile {
    if ramp_up.is_zero() {
        return Profile::constant(level);
    }
    Profile {
        start: 0.0,
        stages: vec![Stage {
            duration: ramp_up,
            target: level,
        }],
    }
}

fn default_think_time() -> DurationRange {
    DurationRange {
        min: defaults::THINK_TIME,
        max: defaults::THINK_TIME,
    }
}

/// The open model: a rate held or moved by stages, with a bound on the requests in flight.
fn open_shape(
    load: &LoadSpec,
    load_span: Range<usize>,
    stages: Option<Vec<Stage>>,
    at: &Locator<'_>,
) -> Result<LoadPlan, SpecError> {
    let span = load.rate.as_ref().map_or(load_span.clone(), |r| r.span());
    let written = load.rate.as_ref().map(|r| *r.get_ref());
    let profile = match (stages, written) {
        (Some(stages), start) => Profile {
            start: start.unwrap_or(0.0),
            stages,
        },
        (None, Some(rate)) => Profile::constant(rate),
        (None, None) => {
            return at.fail(
                load_span,
                "an open model needs `rate` (requests per second)",
            );
        }
    };
    let rate = profile.peak();
    if !(rate > 0.0 && rate <= MAX_RATE) || profile.start < 0.0 {
        return at.fail(
            span,
            format!("rate must be above 0 and at most {MAX_RATE} requests per second"),
        );
    }
    let max_in_flight = load
        .max_in_flight
        .as_ref()
        .map_or(defaults::MAX_IN_FLIGHT, |b| *b.get_ref());
    if max_in_flight == 0 || max_in_flight > MAX_USERS {
        let span = load.max_in_flight.as_ref().map_or(load_span, |b| b.span());
        return at.fail(
            span,
            format!("max_in_flight must be between 1 and {MAX_USERS}"),
        );
    }
    Ok(LoadPlan {
        model: Model::Open,
        users: 0,
        think_time: default_think_time(),
        rate,
        profile,
        max_in_flight,
        warmup: Duration::ZERO,
        duration: Duration::ZERO,
    })
}

/// The judged duration: `duration` as written, or what the stages leave after the warmup (they
/// run from the start of the load, warmup included); `--duration` replaces either.
fn plan_duration(
    load: &Spanned<LoadSpec>,
    profile: &Profile,
    warmup: Duration,
    overrides: &Overrides,
    at: &Locator<'_>,
) -> Result<Duration, SpecError> {
    let spec = load.get_ref();
    let written = match (&spec.duration, &spec.stages) {
        (Some(_), Some(stages)) if overrides.duration.is_none() => {
            return at.fail(
                stages.span(),
                "give `duration` or `stages`, not both: the stages make the run's length",
            );
        }
        (_, Some(_)) => profile.length().saturating_sub(warmup),
        (Some(duration), None) => duration.get_ref().0,
        (None, None) => return at.fail(load.span(), "`[load]` needs a `duration` (or `stages`)"),
    };
    let duration = overrides.duration.unwrap_or(written);
    if duration.is_zero() {
        let span = spec.duration.as_ref().map_or(load.span(), |d| d.span());
        return at.fail(
            span,
            "the judged duration must be longer than zero (with stages: longer than the warmup)",
        );
    }
    Ok(duration)
}

/// `stages = [{ duration = "10s", users = 50 }, …]`: each stage names the level of its model.
fn plan_stages(
    stages: &Spanned<Vec<StageSpec>>,
    model: Model,
    at: &Locator<'_>,
) -> Result<Vec<Stage>, SpecError> {
    if stages.get_ref().is_empty() {
        return at.fail(stages.span(), "`stages` lists at least one stage");
    }
    let plan_stage = |stage: &StageSpec| {
        let target = match (model, stage.users, stage.rate) {
            (Model::Closed, Some(users), None) => f64::from(users),
            (Model::Open, None, Some(rate)) if rate >= 0.0 => rate,
            (Model::Closed, _, _) => {
                return at.fail(
                    stages.span(),
                    "each stage of a closed model sets `users` (and no `rate`)",
                );
            }
            (Model::Open, _, _) => {
                return at.fail(
                    stages.span(),
                    "each stage of an open model sets a `rate` of at least 0 (and no `users`)",
                );
            }
        };
        if stage.duration.0.is_zero() {
            return at.fail(stages.span(), "every stage lasts longer than zero");
        }
        Ok(Stage {
            duration: stage.duration.0,
            target,
        })
    };
    stages.get_ref().iter().map(plan_stage).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fixtures::{SPEC, assert_plan_error, plan};

    #[test]
    fn the_open_model_takes_a_rate_and_refuses_closed_model_keys() {
        let open = SPEC
            .replacen(
                "users = 4",
                "model = \"open\"\nrate = 250.5\nmax_in_flight = 64",
                1,
            )
            .replacen("think_time = \"10ms..20ms\"\n", "", 1);
        let load = plan(&open).unwrap().load;
        assert_eq!(
            (load.model, load.rate, load.max_in_flight, load.users),
            (Model::Open, 250.5, 64, 0)
        );
        let default_bound = plan(&open.replace("max_in_flight = 64\n", ""))
            .unwrap()
            .load;
        assert_eq!(default_bound.max_in_flight, defaults::MAX_IN_FLIGHT);

        let cases = [
            (
                open.replacen("rate = 250.5", "rate = 250.5\nusers = 3", 1),
                "load.users",
                "`users` does not apply to model = \"open\"",
            ),
            (
                open.replacen("rate = 250.5\n", "", 1),
                "load",
                "an open model needs `rate`",
            ),
            (
                open.replacen("rate = 250.5", "rate = 0.0", 1),
                "load.rate",
                "rate must be above 0",
            ),
            (
                SPEC.replacen("users = 4", "users = 4\nrate = 10.0", 1),
                "load.rate",
                "`rate` does not apply to model = \"closed\"",
            ),
            (
                SPEC.replacen("users = 4\n", "", 1),
                "load",
                "a closed model needs `users`",
            ),
        ];
        for (text, key, message) in cases {
            assert_plan_error(&text, key, message);
        }
    }

    #[test]
    fn a_profile_ramps_linearly_and_counts_requests_exactly() {
        // 0 → 100/s over 2 s, then 100/s held for 1 s, then down to 0 over 1 s.
        let profile = Profile {
            start: 0.0,
            stages: vec![
                Stage {
                    duration: Duration::from_secs(2),
                    target: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    target: 100.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    target: 0.0,
                },
            ],
        };
        assert_eq!(profile.level_at(Duration::from_millis(500)), 25.0);
        assert_eq!(profile.level_at(Duration::from_millis(2500)), 100.0);
        assert_eq!(profile.level_at(Duration::from_millis(3500)), 50.0);
        assert_eq!(profile.level_at(Duration::from_secs(9)), 0.0);
        assert_eq!(profile.length(), Duration::from_secs(4));
        let secs = |n: f64| {
            profile
                .time_of(n)
                .map(|d| (d.as_secs_f64() * 1e6).round() / 1e6)
        };
        // 100 requests by the end of the ramp, 200 after the hold, 250 in all.
        assert_eq!(secs(25.0), Some(1.0));
        assert_eq!(secs(100.0), Some(2.0));
        assert_eq!(secs(150.0), Some(2.5));
        assert_eq!(secs(250.0), Some(4.0));
        assert_eq!(secs(251.0), None, "the rate has fallen to zero");
        assert_eq!(profile.count_until(Duration::from_millis(2500)), 150.0);
        assert_eq!(profile.count_until(Duration::from_secs(10)), 250.0);
        let constant = Profile {
            start: 200.0,
            stages: vec![],
        };
        assert_eq!(constant.time_of(50.0), Some(Duration::from_millis(250)));
    }

    #[test]
    fn stages_make_the_profile_and_the_length_of_the_run() {
        let staged = SPEC
            .replacen(
                "users = 4",
                "stages = [{ duration = \"1s\", users = 8 }, { duration = \"2s\", users = 2 }]",
                1,
            )
            .replacen("duration = \"2s\"\n", "warmup = \"500ms\"\n", 1);
        let load = plan(&staged).unwrap().load;
        assert_eq!(load.users, 8, "the peak");
        assert_eq!(load.profile.start, 0.0);
        assert_eq!(load.profile.stages.len(), 2);
        assert_eq!(
            (load.warmup, load.duration),
            (Duration::from_millis(500), Duration::from_millis(2500))
        );
        assert_eq!(load.describe(), "up to 8 users");

        let ramped = plan(&SPEC.replacen("users = 4", "users = 4\nramp_up = \"2s\"", 1))
            .unwrap()
            .load;
        assert_eq!(
            ramped.profile,
            Profile {
                start: 0.0,
                stages: vec![Stage {
                    duration: Duration::from_secs(2),
                    target: 4.0
                }]
            }
        );

        let cases = [
            (
                staged.replacen("users = 8", "rate = 8.0", 1),
                "load.stages",
                "sets `users`",
            ),
            (
                staged.replacen("think_time", "duration = \"3s\"\nthink_time", 1),
                "load.stages",
                "not both",
            ),
            (
                staged.replacen("think_time", "ramp_up = \"1s\"\nthink_time", 1),
                "load.ramp_up",
                "keep the stages",
            ),
        ];
        for (text, key, message) in cases {
            assert_plan_error(&text, key, message);
        }
    }
}
