//! `cargo xtask`: parse, dispatch, exit code. The work lives in the loadgate library.

mod flags;
mod loadtest;
mod test;

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
        flags::Command::Schemas => write_schemas(root),
        flags::Command::Test(test) => test::run(root, &test),
    };
    match outcome {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(loadgate::support::exit::BAD_INPUT as u8)
        }
    }
}

/// `cargo xtask schemas`: writes the checked-in schemas (a test fails while they are stale).
fn write_schemas(root: &Path) -> anyhow::Result<i32> {
    use loadgate::report::schema;
    for (file, text) in [
        (schema::SPEC_SCHEMA_FILE, schema::spec()),
        (schema::SUMMARY_SCHEMA_FILE, schema::summary()),
    ] {
        loadgate::support::files::write_atomic(&root.join(file), text.as_bytes())?;
        println!("wrote {file}");
    }
    Ok(loadgate::support::exit::PASSED)
}
