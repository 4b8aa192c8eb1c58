//! Fuzzes workflow definition loading: arbitrary bytes as a workflow TOML file go through
//! parsing and every check (steps, templates, durations, permissions, triggers). Bad input
//! must come back as errors naming the file, never as a panic. Seeds: `workflows/`.
//! Run: `cargo fuzz run workflow_definition` in `fuzz/`.
#![no_main]

use std::path::Path;

use holdpoint::engine::definition::compile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(errors) = compile(Path::new("fuzz.toml"), data) {
        assert!(!errors.is_empty(), "a refusal says why");
    }
});
