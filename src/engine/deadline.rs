//! When a wait falls due. A step's `deadline` is a duration counted from the moment the
//! wait opens (`48h`), a date-time (`2026-12-05T14:30:00Z`, `20261205143000Z`), or a
//! template that renders to either when the wait opens (`{{ fields.until }}`), as vRO's
//! `waitCustomEventUntil` takes a date computed at run time. Literals are checked when the
//! definition loads; a rendering is checked when the wait opens, and one that is neither
//! (empty included) fails the instance.

use std::time::Duration;

use super::clock::parse_date_time;
use super::fields::excerpt;
use crate::duration::{millis, parse_duration};

/// A deadline as the definition says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deadline {
    Fixed(When),
    /// Rendered when the wait opens, then read as a [`When`].
    Template(String),
}

/// A duration from the moment the wait opens, or an instant (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    After(Duration),
    At(i64),
}

impl When {
    /// A duration or a date-time; the error is the reason the text is not a duration
    /// (the more likely intent), which callers complete with the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        match parse_duration(text) {
            Ok(duration) => Ok(Self::After(duration)),
            Err(why) => parse_date_time(text)
                .map(|at| Self::At(at.timestamp_millis()))
                .ok_or(why),
        }
    }

    /// The instant it names, for a wait opened at `now` (a past instant stays past: the
    /// timer expires such a wait at once).
    pub fn instant(self, now: i64) -> i64 {
        match self {
            Self::After(duration) => now.saturating_add(millis(duration)),
            Self::At(at) => at,
        }
    }
}

/// Reads what a deadline template rendered; the error names the rendered value.
pub fn read_rendered(text: &str) -> Result<When, String> {
    if text.trim().is_empty() {
        return Err(format!("rendered empty; {EXPECTED}"));
    }
    When::parse(text).map_err(|_| format!("`{}` is not valid; {EXPECTED}", excerpt(text.trim())))
}

/// What a deadline may be, for messages.
pub const EXPECTED: &str =
    "give a date-time (RFC 3339 or yyyyMMddHHmmssZ) or a duration such as 48h or 1h30m";

#[cfg(test)]
mod tests {
    use super::{When, read_rendered};
    use std::time::Duration;

    const AT: i64 = 1_796_481_000_000; // 2026-12-05T14:30:00Z

    #[test]
    fn durations_count_from_the_opening() {
        assert_eq!(
            read_rendered("48h"),
            Ok(When::After(Duration::from_secs(48 * 3600)))
        );
        assert_eq!(
            read_rendered(" 1h30m "),
            Ok(When::After(Duration::from_secs(5400)))
        );
        assert_eq!(read_rendered("0"), Ok(When::After(Duration::ZERO)));
        assert_eq!(When::After(Duration::from_secs(2)).instant(1_000), 3_000);
        assert_eq!(When::After(Duration::MAX).instant(1_000), i64::MAX);
    }

    #[test]
    fn dates_name_their_instant() {
        for text in [
            "2026-12-05T14:30:00Z",
            "2026-12-05T16:30:00+02:00",
            "2026-12-05T14:30:00.000-00:00",
            "20261205143000Z",
            "20261205143000+0000",
            "20261205083000-0600",
        ] {
            assert_eq!(read_rendered(text), Ok(When::At(AT)), "{text}");
        }
        assert_eq!(
            When::At(AT).instant(AT + 5_000),
            AT,
            "a past date stays past"
        );
    }

    #[test]
    fn anything_else_is_refused_naming_the_value() {
        for text in ["", "  ", "\n"] {
            let why = read_rendered(text).unwrap_err();
            assert!(why.starts_with("rendered empty"), "{why}");
        }
        for text in [
            "soon",
            "none",
            "20261205143000",
            "5",
            "2026-12-05",
            "3 days",
        ] {
            let why = read_rendered(text).unwrap_err();
            assert!(why.contains(&format!("`{text}`")), "{why}");
            assert!(
                why.contains("RFC 3339") && why.contains("duration"),
                "{why}"
            );
        }
        let long = "x".repeat(500);
        assert!(
            read_rendered(&long).unwrap_err().len() < 200,
            "long values are cut"
        );
    }
}

/// Deadlines as definitions load them (`definition::steps` reads them).
#[cfg(test)]
mod loading {
    use std::path::Path;
    use std::time::Duration;

    use super::{Deadline, When};
    use crate::engine::definition::compile;

    /// The deadline a `wait_input` step with `deadline` loads with, or the errors.
    fn loaded(deadline: &str) -> Result<Option<Deadline>, String> {
        let source = format!(
            "id = \"11111111-1111-4111-8111-111111111111\"\nname = \"d\"\n\
             [fields]\nuntil = {{ type = \"datetime\" }}\n\
             [[steps]]\nid = \"wait\"\nkind = \"wait_input\"\ninputs = [\"until\"]\n\
             deadline = '{deadline}'\n"
        );
        match compile(Path::new("d.toml"), source.as_bytes()) {
            Ok(workflow) => Ok(workflow.steps[0]
                .kind
                .wait()
                .and_then(|policy| policy.deadline.clone())),
            Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn literal_deadlines_are_read_when_they_load() {
        let after = Deadline::Fixed(When::After(Duration::from_secs(48 * 3600)));
        assert_eq!(loaded("48h"), Ok(Some(after)));
        let at = Deadline::Fixed(When::At(1_796_481_000_000));
        assert_eq!(loaded("2026-12-05T14:30:00Z"), Ok(Some(at.clone())));
        assert_eq!(loaded("20261205143000Z"), Ok(Some(at)));
    }

    #[test]
    fn templates_are_kept_for_when_the_wait_opens() {
        let source = "{{ fields.until }}";
        assert_eq!(
            loaded(source),
            Ok(Some(Deadline::Template(source.to_string())))
        );
        let broken = loaded("{{ fields.until ").unwrap_err();
        assert!(
            broken.contains("step `wait`: field `deadline`: bad template"),
            "{broken}"
        );
    }

    #[test]
    fn a_bad_literal_is_still_an_invalid_duration() {
        let error = loaded("soon").unwrap_err();
        assert!(
            error.contains("step `wait`: field `deadline`: invalid duration `soon`"),
            "{error}"
        );
    }
}
