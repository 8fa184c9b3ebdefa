//! `cargo xtask`: parse, dispatch, exit code. The work lives in the loadgate library.

mod schemas;
mod test;

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
    /// Run every test of the workspace, installing the system tools they need when missing.
    Test(test::TestArgs),
    /// Check that loadgate builds with its dependencies at their declared minimum versions
    /// (`cargo xtask test` does this first).
    MinimalVersions,
}

fn main() -> ExitCode {
    let xtask = Xtask::parse();
    if let Command::Loadtest(args) = xtask.command {
        return args.run_in(&xtask.root);
    }
    let outcome = xtask.root.resolve().and_then(|root| match &xtask.command {
        Command::Schemas => schemas::write(&root).map(|files| {
            files.iter().for_each(|file| println!("wrote {file}"));
            0
        }),
        Command::Test(test) => test::run(&root, test),
        Command::MinimalVersions => test::check_minimal_versions(&root).map(|()| 0),
        Command::Loadtest(_) => unreachable!("dispatched above"),
    });
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            loadgate::Exit::BadInput.into()
        }
    }
}
