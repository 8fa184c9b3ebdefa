//! `cargo xtask`: this workspace's project tasks. `loadtest` is loadgate's performance gate:
//! it builds the workspace's binaries in release mode, runs the specs in loadspec/ against the
//! service and compares with the baselines in baselines/. Written by `loadgate init`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project tasks")]
struct Xtask {
    /// The project is the nearest directory from the current one upward holding Cargo.toml
    /// and loadspec/, or `--root DIR`.
    #[command(flatten)]
    root: loadgate::RootArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the load specs in loadspec/ and gate on the baselines in baselines/.
    Loadtest(Box<loadgate::LoadtestArgs>),
}

fn main() -> ExitCode {
    let xtask = Xtask::parse();
    match xtask.command {
        Command::Loadtest(args) => args.run_in(&xtask.root),
    }
}
