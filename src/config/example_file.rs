//! `holdpoint.example.toml` states exactly the built-in defaults.

use super::*;

/// The documented example must parse and state exactly the built-in defaults.
#[test]
fn example_file_states_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("holdpoint.example.toml");
    let overrides = Overrides {
        config_file: Some(path),
        ..Overrides::default()
    };
    let documented = load(&overrides, &[]).expect("example file loads");
    let defaults = load(&Overrides::default(), &[]).expect("defaults");
    assert_eq!(format!("{documented:?}"), format!("{defaults:?}"));
}
