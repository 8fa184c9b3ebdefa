//! The gate's events on stderr, as the command line shows them: a line each, prefixed
//! `loadgate: `; a run's progress as an indicatif bar on a terminal (elapsed/total, requests/s,
//! p50/p90 so far, errors), or in a log (CI) a plain line every few seconds, so the log shows
//! the run is alive without a wall of redraws.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::events::{Event, Observer, describe_progress};
use crate::run::Progress;

/// How often a log (no terminal) gets a progress line.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Renders events on stderr. One run shows progress at a time.
#[derive(Debug)]
pub struct Terminal {
    is_terminal: bool,
    display: Mutex<Option<Display>>,
}

impl Terminal {
    pub fn stderr() -> Terminal {
        Terminal {
            is_terminal: std::io::stderr().is_terminal(),
            display: Mutex::new(None),
        }
    }
}

impl Observer for Terminal {
    fn event(&self, event: &Event) {
        let mut display = self.display.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Progress { spec, progress } => display
                .get_or_insert_with(|| Display::new(spec, progress.total, self.is_terminal))
                .update(progress, event),
            Event::LoadEnded { .. } => {
                if let Some(Display::Bar(bar)) = display.take() {
                    bar.finish_and_clear();
                }
            }
            _ => match display.as_ref() {
                Some(Display::Bar(bar)) => bar.suspend(|| eprintln!("loadgate: {event}")),
                _ => eprintln!("loadgate: {event}"),
            },
        }
    }
}

#[derive(Debug)]
enum Display {
    Bar(ProgressBar),
    Lines { next: Duration },
}

impl Display {
    fn new(name: &str, total: Duration, is_terminal: bool) -> Display {
        if !is_terminal {
            return Display::Lines { next: LINE_EVERY };
        }
        let bar = ProgressBar::with_draw_target(
            Some(total.as_secs().max(1)),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:20}] {pos}s/{len}s  {wide_msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("loadgate: {name}"));
        Display::Bar(bar)
    }

    fn update(&mut self, now: &Progress, event: &Event) {
        match self {
            Display::Bar(bar) => {
                bar.set_message(describe_progress(now));
                bar.set_position(now.elapsed.as_secs());
            }
            Display::Lines { next } => {
                if now.elapsed >= *next {
                    eprintln!("loadgate: {event}");
                    *next = now.elapsed + LINE_EVERY;
                }
            }
        }
    }
}
