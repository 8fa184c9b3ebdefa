//! `cargo xtask`: parse, dispatch, exit code. The work lives in the loadgate library.

use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project tasks for loadgate", version)]
struct Xtask {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run load specs against the service and gate on its baselines.
    Loadtest(Box<loadgate::LoadtestArgs>),
    /// Regenerate the JSON Schemas of the spec format and of summary.json from the types.
    Schemas,
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root");
    match Xtask::parse().command {
        Command::Loadtest(args) => args.run(root),
        Command::Schemas => match loadgate::schema::write_checked_in(root) {
            Ok(files) => {
                files.iter().for_each(|file| println!("wrote {file}"));
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err:#}");
                loadgate::Exit::BadInput.into()
            }
        },
    }
}
