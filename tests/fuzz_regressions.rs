//! Inputs the fuzz targets once crashed on (`fuzz/regressions/<target>/`), run through the
//! same entry points on every `cargo test`, so a fixed crash stays fixed without cargo-fuzz.

use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (
                name,
                std::fs::read(entry.path()).expect("a regression input"),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn workflow_definitions_that_crashed_are_refused_with_errors() {
    let files = inputs("workflow_definition");
    assert!(
        !files.is_empty(),
        "the regression inputs are in the repository"
    );
    for (name, bytes) in files {
        let outcome = holdpoint::engine::definition::compile(Path::new(&name), &bytes);
        let errors = outcome.err().unwrap_or_default();
        assert!(!errors.is_empty(), "{name} is refused");
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|e| e.contains("check-approval")),
            "{name}: the error names the step: {text:?}"
        );
    }
}
