//! Any bytes as a baseline file: reading gives a baseline or a "corrupt" error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = loadgate::testing::baseline::parse(Path::new("baselines/fuzz.json"), text);
});
