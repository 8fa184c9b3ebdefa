//! The command line, as plain clap types: no behaviour lives here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use url::Url;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project tasks for loadgate", version)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run load specs against the service and gate on its baselines.
    Loadtest(Box<Loadtest>),
    /// Regenerate the JSON Schemas of the spec format and of summary.json from the types.
    Schemas,
    /// Run every test of the workspace, first installing the system tools the tests need when
    /// they are missing (Chromium, util-linux's `script`: apt-get, as root or with sudo).
    Test(crate::test::TestArgs),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Loadtest {
    #[command(subcommand)]
    pub action: Option<LoadtestAction>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum LoadtestAction {
    /// Promote the last run's summary.json to baselines, without running anything.
    Accept(AcceptArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Spec names (looked up in loadspec/) or files; all of loadspec/*.toml when none.
    pub specs: Vec<String>,
    /// Test a service that is already running at this URL instead of launching the spec's.
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub target: Option<Url>,
    /// Where baselines are read and written.
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Where reports and service logs are written.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override every spec's measured duration (a quick local run), e.g. "3s".
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Override every spec's warmup, e.g. "0s".
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Override every spec's number of users.
    #[arg(long)]
    pub users: Option<u32>,
    /// Run every spec this many times and judge each metric over the rounds.
    #[arg(long)]
    pub rounds: Option<u32>,
    /// Run, then record the results as the new baselines (review them in the pull request).
    #[arg(long)]
    pub update_baselines: bool,
    /// Fail (exit 2) when a spec has no baseline instead of passing with a note.
    #[arg(long)]
    pub require_baselines: bool,
    /// Do not build the workspace's binaries before running.
    #[arg(long)]
    pub no_build: bool,
    /// Let --target be an address that is not loopback (by default load goes only to
    /// 127.0.0.0/8, ::1 and localhost).
    #[arg(long)]
    pub allow_remote: bool,
    /// Compare with this git revision on this machine instead of with the stored baselines:
    /// its service is built in a separate worktree, and the rounds alternate ABBA.
    #[arg(long, value_name = "REV")]
    pub against: Option<String>,
    /// A baseline recorded on another host (CPU model, cores, OS) makes the run inconclusive
    /// instead of a note.
    #[arg(long)]
    pub strict_host: bool,
    /// Let a spec exceed the sane bounds of load (5 000 users, 50 000 requests/s, 30 minutes).
    #[arg(long)]
    pub allow_large_load: bool,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// Where baselines are written.
    #[arg(long, value_name = "DIR")]
    pub baselines: Option<PathBuf>,
    /// Where the last run's summary.json is.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    loadgate::support::units::parse_duration(text)
}

/// The generator speaks plain HTTP/1.1: on loopback, TLS would mostly measure the cipher.
fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("not a URL: {err}"))?;
    match url.scheme() {
        "http" => Ok(url),
        other => Err(format!(
            "loadgate's generator speaks plain HTTP/1.1; `{other}` is not supported"
        )),
    }
}
