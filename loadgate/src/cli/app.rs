//! The `loadgate` binary's command line: `loadtest` (the same subcommand and flags as a
//! project's `cargo xtask loadtest`) and `init`, over the project found by [`RootArgs`].

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::LoadtestArgs;
use crate::cli::init::InitArgs;
use crate::cli::root::RootArgs;

/// `loadgate`: a performance gate for HTTP services.
#[derive(Debug, Parser)]
#[command(name = "loadgate", version, about)]
pub(crate) struct Cli {
    #[command(flatten)]
    root: RootArgs,
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CliCommand {
    /// Run load specs against the service and gate on its baselines.
    Loadtest(Box<LoadtestArgs>),
    /// Scaffold the gate into the Cargo workspace here: an xtask, a first spec, baselines/, a
    /// GitHub Actions workflow. Never overwrites a file.
    Init(InitArgs),
}

/// The `loadgate` binary: parses its command line, runs it, and answers the exit code; errors
/// are printed with their causes.
pub fn main() -> ExitCode {
    Cli::parse().run()
}

impl Cli {
    /// Runs the command and answers its exit code; errors are printed with their causes.
    fn run(self) -> ExitCode {
        match self.command {
            CliCommand::Loadtest(args) => args.run_in(&self.root),
            // The workspace is found by cargo from here: it has no loadspec/ yet.
            CliCommand::Init(args) => args.run(self.root.root.as_deref().unwrap_or(Path::new("."))),
        }
    }
}
