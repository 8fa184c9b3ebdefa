//! Live progress while a spec runs: on a terminal, an indicatif bar redrawn every second
//! (elapsed/total, requests/s, p50/p90 so far, errors); elsewhere (CI logs) a plain line every
//! few seconds, so a log shows the run is alive without a wall of redraws.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::run::Progress;
use crate::support::units::format_micros;

/// How often a log (no terminal) gets a line.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Shows `progress` on stderr until the run closes it.
pub fn show(name: &str, mut progress: watch::Receiver<Progress>) -> JoinHandle<()> {
    let mut display = Display::new(name, progress.borrow().total);
    tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let now = *progress.borrow_and_update();
            display.update(&now);
        }
        display.finish();
    })
}

enum Display {
    Bar(ProgressBar),
    Lines { name: String, next: Duration },
}

impl Display {
    fn new(name: &str, total: Duration) -> Display {
        if !std::io::stderr().is_terminal() {
            return Display::Lines {
                name: name.to_owned(),
                next: LINE_EVERY,
            };
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

    fn update(&mut self, now: &Progress) {
        match self {
            Display::Bar(bar) => {
                bar.set_message(describe(now));
                bar.set_position(now.elapsed.as_secs());
            }
            Display::Lines { name, next } => {
                if now.elapsed >= *next {
                    eprintln!(
                        "loadgate: {name}: {}s/{}s · {}",
                        now.elapsed.as_secs(),
                        now.total.as_secs(),
                        describe(now)
                    );
                    *next = now.elapsed + LINE_EVERY;
                }
            }
        }
    }

    fn finish(self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

fn describe(now: &Progress) -> String {
    // The most telling first: a narrow terminal cuts the end.
    format!(
        "{:.1} req/s · {} errors · p50 {} p90 {} · {} requests",
        now.rps,
        now.errors,
        format_micros(now.p50_us as f64),
        format_micros(now.p90_us as f64),
        now.requests,
    )
}
