//! Any text as a spec: parsing and planning either give a plan or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use loadgate::Overrides;
use loadgate::testing::plan;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Data files resolve under a directory that does not exist: no file is read.
    let planned = plan::build(
        Path::new("loadspec/fuzz.toml"),
        text,
        Path::new("/nonexistent-fuzz-root"),
        &Overrides::default(),
        &|name| (name.len() % 2 == 0).then(|| format!("value-of-{name}")),
    );
    if let Err(err) = planned {
        // Rendering the error locates it in the text: exercise that too.
        let _ = err.to_string();
    }
});
