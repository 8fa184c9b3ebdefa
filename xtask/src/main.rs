//! `cargo xtask`: parse, dispatch, exit code. The work lives in the loadgate library.

mod flags;
mod loadtest;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root");
    let outcome = match flags.command {
        flags::Command::Loadtest(loadtest) => loadtest.run(root),
    };
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(loadgate::exit::BAD_INPUT as u8)
        }
    }
}
