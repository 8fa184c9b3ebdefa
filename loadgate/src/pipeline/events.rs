//! What the gate tells while it works, as data: the library writes nothing to the terminal by
//! itself. A front end passes an [`Observer`] and decides how each event is shown (the CLI's
//! renders them on stderr, a test may collect them, another tool may drop them).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::metric::format_count;
use crate::run::Progress;
use crate::support::units::format_micros;

/// One thing that happened, in the order it happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Another gate holds the output directory; this one waits for it.
    WaitingForOutDir { out_dir: PathBuf },
    /// `--against`: the base revision's binaries are built (`dir`) or, already built, reused.
    BaseBuild {
        rev: String,
        commit: String,
        dir: Option<PathBuf>,
    },
    /// A service is being launched (`place`: the worktree it runs in, when not the project).
    Starting {
        spec: String,
        command: String,
        place: Option<PathBuf>,
    },
    Ready {
        spec: String,
        after: Duration,
        log: PathBuf,
    },
    /// Round `round` of `rounds` of a spec run in rounds.
    Round {
        spec: String,
        round: u32,
        rounds: u32,
    },
    /// An A/B pair's run: `pair` (from 1) of at least `rounds`, up to `most`, on `side`.
    Pair {
        spec: String,
        pair: u32,
        rounds: u32,
        most: u32,
        side: String,
    },
    /// A run of the load begins.
    LoadStarted {
        spec: String,
        load: String,
        duration: Duration,
        warmup: Duration,
        target: String,
    },
    /// How far the run has come, about every second.
    Progress { spec: String, progress: Progress },
    /// The run's progress is over (its display can close).
    LoadEnded { spec: String },
    /// The run did not end by itself and was stopped.
    Overdue { spec: String },
    /// A signal asked the gate to stop: the first gracefully, a second (`again`) at once.
    Interrupted { signal: &'static str, again: bool },
    /// `[cost]`: a request name was counted under Callgrind (`side`: the base revision's, in
    /// A/B), at `instructions` per request, in `took`.
    Counted {
        spec: String,
        side: Option<String>,
        request: String,
        instructions: f64,
        took: Duration,
    },
    /// `loadtest bisect`: a commit built, measured or decided.
    Bisect { message: String },
}

/// Receives the gate's events. Called from the gate's tasks: keep it quick.
pub trait Observer: Send + Sync {
    fn event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}

/// One line per event, as the CLI prints it after `loadgate: `.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::WaitingForOutDir { out_dir } => write!(
                f,
                "another gate is writing {}: waiting for it to finish",
                out_dir.display()
            ),
            Event::BaseBuild { rev, commit, dir } => match dir {
                None => write!(
                    f,
                    "reusing the build of {rev} ({}) for the A/B comparison",
                    &commit[..12.min(commit.len())]
                ),
                Some(dir) => write!(
                    f,
                    "building {rev} ({}) in {} for the A/B comparison",
                    &commit[..12.min(commit.len())],
                    dir.display()
                ),
            },
            Event::Starting {
                spec,
                command,
                place,
            } => {
                write!(f, "{spec}: starting `{command}`")?;
                match place {
                    Some(place) => write!(f, " in {}", place.display()),
                    None => Ok(()),
                }
            }
            Event::Ready { spec, after, log } => write!(
                f,
                "{spec}: ready after {after:.1?} (log: {})",
                log.display()
            ),
            Event::Bisect { message } => write!(f, "bisect: {message}"),
            _ => self.fmt_run(f),
        }
    }
}

impl Event {
    /// The events of a spec's runs and of an interrupt.
    fn fmt_run(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Round {
                spec,
                round,
                rounds,
            } => write!(f, "{spec}: round {round} of {rounds}"),
            Event::Pair {
                spec,
                pair,
                rounds,
                most,
                side,
            } => {
                write!(f, "{spec}: pair {pair} of {rounds}")?;
                if pair > rounds {
                    write!(f, " (more, up to {most}, while a check cannot tell)")?;
                }
                write!(f, ": {side}")
            }
            Event::LoadStarted {
                spec,
                load,
                duration,
                warmup,
                target,
            } => write!(
                f,
                "{spec}: {load} for {} (+{} warmup) against {target}",
                humantime::format_duration(*duration),
                humantime::format_duration(*warmup),
            ),
            Event::Progress { spec, progress } => write!(
                f,
                "{spec}: {}s/{}s · {}",
                progress.elapsed.as_secs(),
                progress.total.as_secs(),
                describe_progress(progress)
            ),
            Event::LoadEnded { spec } => write!(f, "{spec}: load ended"),
            Event::Counted {
                spec,
                side,
                request,
                instructions,
                took,
            } => {
                write!(f, "{spec}: ")?;
                if let Some(side) = side {
                    write!(f, "{side}: ")?;
                }
                write!(
                    f,
                    "{request} costs {} instructions per request (counted in {took:.1?})",
                    format_count(*instructions)
                )
            }
            Event::Overdue { spec } => {
                write!(f, "{spec}: the run did not end by itself: stopping it")
            }
            Event::Interrupted {
                signal,
                again: false,
            } => write!(
                f,
                "interrupted by {signal}: stopping the run, keeping what was measured"
            ),
            Event::Interrupted {
                signal,
                again: true,
            } => write!(f, "interrupted again by {signal}: stopping the service now"),
            _ => unreachable!("Display handles the other events"),
        }
    }
}

/// A run's progress in a line, the most telling first: a narrow terminal cuts the end.
pub fn describe_progress(now: &Progress) -> String {
    format!(
        "{:.1} req/s · {} errors · p50 {} p90 {} · {} requests",
        now.rps,
        now.errors,
        format_micros(now.p50_us as f64),
        format_micros(now.p90_us as f64),
        now.requests,
    )
}

/// Tells a running gate to stop: the name of the signal that asked for it.
pub type Interrupt = watch::Receiver<Option<&'static str>>;

/// The signal that interrupted the gate, if one did.
pub(crate) fn interrupted_by(interrupt: &Interrupt) -> Option<&'static str> {
    *interrupt.borrow()
}
