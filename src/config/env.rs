//! `HOLDPOINT_SECTION__KEY` environment variables: the layer between the file and the
//! command line. Each variable is checked alone, so that an error names it.

use serde::Deserialize;

use super::ENV_PREFIX;
use super::raw::RawConfig;

/// Applies `HOLDPOINT_SECTION__KEY=value` variables. A value that parses as a TOML value
/// (`true`, `8`, `["a", "b"]`) is taken as such, anything else as a string.
pub(super) fn apply_env(raw: &mut RawConfig, env: &[(String, String)]) -> Result<(), String> {
    let mut merged = toml::Table::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let typed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut table| table.remove("v"));
        let text = toml::Value::String(value.clone());
        // Check each variable alone, so that an error names it. A value that reads as a
        // TOML value (`true`, `8`, `["a"]`) is tried as such first, then as plain text
        // (`0` is also a fine duration).
        let parsed = match typed.filter(|typed| single_var_fits(&section, &key, typed).is_ok()) {
            Some(typed) => typed,
            None => {
                single_var_fits(&section, &key, &text)
                    .map_err(|why| format!("environment variable {name}: {why}"))?;
                text
            }
        };
        merged
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .map(|table| table.insert(key, parsed));
    }
    if merged.is_empty() {
        return Ok(());
    }
    let from_env = RawConfig::deserialize(toml::Value::Table(merged))
        .map_err(|error| format!("environment: {}", error.message()))?;
    raw.overlay(from_env);
    Ok(())
}

/// Whether `[section] key = value` alone is a valid configuration.
fn single_var_fits(section: &str, key: &str, value: &toml::Value) -> Result<(), String> {
    let mut inner = toml::Table::new();
    inner.insert(key.to_string(), value.clone());
    let mut single = toml::Table::new();
    single.insert(section.to_string(), toml::Value::Table(inner));
    RawConfig::deserialize(toml::Value::Table(single))
        .map(|_| ())
        .map_err(|error| error.message().trim_end_matches('.').to_string())
}
