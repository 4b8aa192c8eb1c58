//! Templates and conditions (minijinja).
//!
//! Undefined variables are errors, not empty strings: a misspelt `fields.ordr_id` must
//! fail the step loudly rather than send an empty value to an ERP. Definitions are checked
//! for syntax when they load; rendering errors surface when a step runs.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Templates render text for headers, bodies and field values, never HTML.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        Self { env }
    }

    /// Checks the syntax of a template.
    pub fn check_template(&self, source: &str) -> Result<(), String> {
        guarded(|| self.env.template_from_str(source).map(|_| ()))
    }

    /// Checks the syntax of a condition.
    pub fn check_expression(&self, source: &str) -> Result<(), String> {
        self.compile_expression(source).map(|_| ())
    }

    fn compile_expression<'s>(
        &'s self,
        source: &'s str,
    ) -> Result<minijinja::Expression<'s, 's>, String> {
        if closes_outside_strings(source) {
            return Err("syntax error: a condition cannot contain `}}`".into());
        }
        guarded(|| self.env.compile_expression(source))
    }

    pub fn render(&self, source: &str, context: &Value) -> Result<String, String> {
        let template = guarded(|| self.env.template_from_str(source))?;
        template
            .render(minijinja::Value::from_serialize(context))
            .map_err(describe)
    }

    /// Evaluates a condition to its truth value.
    pub fn is_true(&self, source: &str, context: &Value) -> Result<bool, String> {
        let expression = self.compile_expression(source)?;
        let value = expression
            .eval(minijinja::Value::from_serialize(context))
            .map_err(describe)?;
        Ok(value.is_true())
    }
}

/// Whether a string is a template rather than a literal: it holds an expression,
/// statement or comment marker. A literal (`48h`) can then be checked when it loads.
pub fn is_template(source: &str) -> bool {
    ["{{", "{%", "{#"]
        .iter()
        .any(|marker| source.contains(marker))
}

/// Whether `}}` occurs outside a string literal. minijinja's expression lexer panics
/// ("empty lexer stack") on one, e.g. `fields.}}x`: found by the `workflow_definition`
/// fuzz target, so such a condition is refused before minijinja sees it.
fn closes_outside_strings(source: &str) -> bool {
    let mut quote = None;
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(open), c) if c == open => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '}') if chars.peek() == Some(&'}') => return true,
            _ => {}
        }
    }
    false
}

/// Runs a minijinja compilation, turning any other panic inside minijinja into an error
/// (outside the fuzzer, whose panic hook aborts). Compiling only reads the environment,
/// so nothing is left half-changed by the unwind.
fn guarded<T>(compile: impl FnOnce() -> Result<T, minijinja::Error>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(compile)) {
        Ok(result) => result.map_err(describe),
        Err(_) => Err("syntax error: the template engine cannot read this".into()),
    }
}

/// minijinja's message without the template name (ours are anonymous strings).
fn describe(error: minijinja::Error) -> String {
    let mut text = error
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| error.kind().to_string());
    if let Some(line) = error.line() {
        text.push_str(&format!(" (line {line})"));
    }
    text.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::Templates;
    use serde_json::json;

    #[test]
    fn a_stray_closing_delimiter_is_an_error_not_a_panic() {
        // Regression: fuzz/regressions/workflow_definition/stray-closing-delimiter.toml.
        let templates = Templates::new();
        for source in ["fields.}}proved", "}}", "a }} b"] {
            assert!(templates.check_expression(source).is_err(), "{source}");
            assert!(templates.is_true(source, &json!({})).is_err(), "{source}");
        }
        assert!(templates.check_expression(r#"fields.x == "}}""#).is_ok());
        assert!(templates.check_expression(r#"fields.x == '\'}}'"#).is_ok());
        assert!(templates.check_template("{{ x }}}}").is_ok());
    }

    #[test]
    fn renders_and_evaluates() {
        let templates = Templates::new();
        let context = json!({"fields": {"order_id": "A7", "amount": 1500}});
        assert_eq!(
            templates
                .render("shipped-{{ fields.order_id }}", &context)
                .unwrap(),
            "shipped-A7"
        );
        assert!(templates.is_true("fields.amount > 1000", &context).unwrap());
        assert!(!templates.is_true("fields.amount > 2000", &context).unwrap());
    }

    #[test]
    fn templates_are_told_from_literals_by_their_markers() {
        for source in [
            "{{ fields.until }}",
            "{% if x %}1h{% endif %}",
            "48h{# why #}",
        ] {
            assert!(super::is_template(source), "{source}");
        }
        for source in ["48h", "2026-12-05T14:30:00Z", "{ x }", ""] {
            assert!(!super::is_template(source), "{source}");
        }
    }

    #[test]
    fn undefined_and_syntax_errors_are_errors() {
        let templates = Templates::new();
        let context = json!({"fields": {}});
        assert!(templates.render("{{ fields.missing }}", &context).is_err());
        assert!(templates.check_template("{{ fields.x ").is_err());
        assert!(templates.check_expression("fields.amount >").is_err());
        assert!(templates.check_template("{{ fields.x }}").is_ok());
    }
}
