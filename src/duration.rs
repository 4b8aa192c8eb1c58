//! Human durations as used in configuration and workflow files: `500ms`, `5s`, `2m`, `72h`,
//! `30d`, `1w`, or sums such as `1h30m`. A bare `0` is zero.

use std::time::Duration;

/// Parses a duration; the error says what was wrong, without the input (callers add it).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total_ms: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| "number too large".to_string())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err("missing unit (ms, s, m, h, d or w)".into()),
            other => return Err(format!("unknown unit `{other}` (use ms, s, m, h, d or w)")),
        };
        rest = &rest[unit_len..];
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|ms| ms.checked_add(total_ms))
            .filter(|ms| *ms <= u128::from(u64::MAX))
            .ok_or_else(|| "duration too large".to_string())?;
    }
    Ok(Duration::from_millis(total_ms as u64))
}

/// Milliseconds of a duration, saturating, for arithmetic on stored timestamps.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_nonsense_with_reasons() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("5").unwrap_err().contains("missing unit"));
        assert!(
            parse_duration("3 days")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(
            parse_duration("h")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            parse_duration("99999999999999999999w")
                .unwrap_err()
                .contains("too large")
        );
    }
}
