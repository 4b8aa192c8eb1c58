//! Short, located messages for TOML errors (`line 3, column 1: unknown field …`).

/// Formats a TOML parse or schema error with its line and column in `text`.
pub fn describe(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end_matches('.').to_string();
    match error.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before
                .rsplit('\n')
                .next()
                .map_or(0, |tail| tail.chars().count())
                + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}
