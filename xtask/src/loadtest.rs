//! `cargo xtask loadtest`: builds the workspace's binaries, runs the gate, maps the answer to an
//! exit code. Ctrl-C and SIGTERM stop the service before the gate exits.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use loadgate::pipeline::{self as gate, GateOptions};
use loadgate::plan::Overrides;
use loadgate::support::exit;
use loadgate::support::paths::Paths;

use crate::flags::{AcceptArgs, Loadtest, LoadtestAction, RunArgs};

impl Loadtest {
    pub fn run(self, root: &Path) -> anyhow::Result<i32> {
        match self.action {
            Some(LoadtestAction::Accept(args)) => args.run(root),
            None => self.run.run(root),
        }
    }
}

fn paths(root: &Path, baselines: Option<PathBuf>, out: Option<PathBuf>) -> Paths {
    let defaults = Paths::under(root);
    Paths {
        baselines_dir: baselines.unwrap_or(defaults.baselines_dir.clone()),
        out_dir: out.unwrap_or(defaults.out_dir.clone()),
        ..defaults
    }
}

impl RunArgs {
    fn run(self, root: &Path) -> anyhow::Result<i32> {
        if !self.no_build && self.target.is_none() {
            build_binaries(root)?;
        }
        let options = GateOptions {
            paths: paths(root, self.baselines, self.out),
            specs: self.specs,
            target: self.target,
            overrides: Overrides {
                users: self.users,
                duration: self.duration,
                warmup: self.warmup,
                allow_large_load: self.allow_large_load,
                rounds: self.rounds,
            },
            update_baselines: self.update_baselines,
            require_baselines: self.require_baselines,
            allow_remote: self.allow_remote,
            strict_host: self.strict_host,
            against: self.against,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let mut stdout = std::io::stdout();
            let (interrupt, interrupted_by) = tokio::sync::watch::channel(None);
            let gate = gate::loadtest(&options, &mut stdout, interrupted_by);
            tokio::pin!(gate);
            tokio::select! {
                result = &mut gate => return Ok(result?.exit_code),
                signal = interrupted() => {
                    eprintln!("loadgate: interrupted by {signal}: stopping the run, keeping what was measured");
                    let _ = interrupt.send(Some(signal));
                }
            }
            tokio::select! {
                result = &mut gate => Ok(result?.exit_code),
                signal = interrupted() => {
                    // Leaving this branch drops the gate's future, and with it the service
                    // handle, whose drop stops the service's process group.
                    eprintln!("loadgate: interrupted again by {signal}: stopping the service now");
                    Ok(exit::INTERRUPTED)
                }
            }
        })
    }
}

impl AcceptArgs {
    fn run(self, root: &Path) -> anyhow::Result<i32> {
        for file in gate::accept(&paths(root, self.baselines, self.out))? {
            println!("loadgate: baseline written: {}", file.display());
        }
        Ok(exit::PASSED)
    }
}

async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

/// The specs start the workspace's own release binaries (the demo service), so they are
/// built first; cargo makes this a no-op when nothing changed.
fn build_binaries(root: &Path) -> anyhow::Result<()> {
    let status = loadgate::support::cargo::command(root)
        .args(["build", "--release", "--workspace", "--bins", "--quiet"])
        .status()
        .context("cannot run cargo to build the service")?;
    if !status.success() {
        bail!("building the workspace's binaries failed ({status})");
    }
    Ok(())
}
