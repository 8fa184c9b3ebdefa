//! The gate as one blocking call: it owns the tokio runtime and the signal contract that
//! README.md documents, so a front end (this repository's xtask, another's) needs neither.

use std::io::Write;
use std::sync::Arc;

use anyhow::anyhow;

use crate::judge::verdict::GateResult;
use crate::pipeline::bisect::{BisectOptions, Bisected, bisect};
use crate::pipeline::events::{Event, Observer};
use crate::pipeline::shard::run_shard;
use crate::pipeline::{GateError, GateOptions, Interrupt, ShardRun, loadtest};
use crate::support::exit::Exit;

/// Runs the gate to its end. The first SIGINT or SIGTERM stops the spec running gracefully: what
/// it measured is reported unjudged, no later spec runs, and the result exits 130. A second one
/// stops the service at once and returns [`GateError::StoppedNow`] (exit 130 as well).
pub fn run_blocking(
    options: &GateOptions,
    console: &mut dyn Write,
    observer: Arc<dyn Observer>,
) -> Result<GateResult, GateError> {
    block_on_gate(observer.clone(), |interrupt| {
        loadtest(options, console, observer, interrupt)
    })
}

/// `loadtest bisect`, under the same signal contract: the first signal stops the commit being
/// built or measured, removes its worktree, writes what was found so far and exits 130.
pub fn bisect_blocking(
    options: &BisectOptions,
    console: &mut dyn Write,
    observer: Arc<dyn Observer>,
) -> Result<Bisected, GateError> {
    block_on_gate(observer.clone(), |interrupt| {
        bisect(options, console, observer, interrupt)
    })
}

/// One shard of a distributed run (`--shard`), under the same signal contract: the first
/// signal stops its part and its partial file is still written (exit 130).
pub fn run_shard_blocking(
    options: &GateOptions,
    shard: &ShardRun,
    console: &mut dyn Write,
    observer: Arc<dyn Observer>,
) -> Result<Exit, GateError> {
    block_on_gate(observer.clone(), |interrupt| {
        run_shard(options, shard, console, observer, interrupt)
    })
}

/// Drives `gate` on a runtime of its own: the first signal is passed to it as an interrupt,
/// the second drops it (which stops any service it launched).
fn block_on_gate<T, F: Future<Output = Result<T, GateError>>>(
    observer: Arc<dyn Observer>,
    gate: impl FnOnce(Interrupt) -> F,
) -> Result<T, GateError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| GateError::BadInput(anyhow!(err).context("cannot start tokio")))?;
    runtime.block_on(async {
        let (interrupt, interrupted_by) = tokio::sync::watch::channel(None);
        let gate = gate(interrupted_by);
        tokio::pin!(gate);
        tokio::select! {
            result = &mut gate => return result,
            signal = signalled() => {
                observer.event(&Event::Interrupted { signal, again: false });
                let _ = interrupt.send(Some(signal));
            }
        }
        tokio::select! {
            result = &mut gate => result,
            signal = signalled() => {
                // Leaving this branch drops the gate's future, and with it the service
                // handle, whose drop stops the service's process group.
                observer.event(&Event::Interrupted { signal, again: true });
                Err(GateError::StoppedNow(signal))
            }
        }
    })
}

async fn signalled() -> &'static str {
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
