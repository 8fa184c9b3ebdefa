//! The installable `loadgate` command (`cargo install --path loadgate`); the command line lives
//! in the library's `cli` module.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    loadgate::Cli::parse().run()
}
