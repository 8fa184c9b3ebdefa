//! The installable `loadgate` command (`cargo install --path loadgate`); the command line lives
//! in the library's `cli` module.

fn main() -> std::process::ExitCode {
    loadgate::main()
}
