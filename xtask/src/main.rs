//! `cargo xtask`: parse, dispatch, exit code. The work lives in the loadgate library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Project tasks for loadgate", version)]
struct Xtask {
    /// The project is found from the current directory (or `--root`), not from where this
    /// binary was built: a copy of the repository gates itself.
    #[command(flatten)]
    root: loadgate::RootArgs,
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
    let xtask = Xtask::parse();
    match xtask.command {
        Command::Loadtest(args) => args.run_in(&xtask.root),
        Command::Schemas => match xtask
            .root
            .resolve()
            .and_then(|root| loadgate::schema::write_checked_in(&root))
        {
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
