//! Time source of the engine, in Unix milliseconds. Production uses the system clock;
//! tests move a [`ManualClock`] forward to make deadlines and TTLs fall due.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to.
#[derive(Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }

    pub fn advance(&self, by: std::time::Duration) {
        self.0
            .fetch_add(crate::duration::millis(by), Ordering::SeqCst);
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 rendering of a stored timestamp, for views and templates.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A date-time with its zone, as callers and templates write one: RFC 3339
/// (`2026-12-05T14:30:00+01:00`), or vRO's `yyyyMMddHHmmssZ` with a numeric offset
/// (`20261205143000+0000`, what Java's `SimpleDateFormat` writes) or `Z` for UTC. A date
/// without a zone is refused: which zone was meant cannot be told.
pub fn parse_date_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y%m%d%H%M%S%z"))
        .ok()
        .map(|at| at.with_timezone(&chrono::Utc))
        .or_else(|| {
            let naive = text.strip_suffix(['Z', 'z'])?;
            chrono::NaiveDateTime::parse_from_str(naive, "%Y%m%d%H%M%S")
                .ok()
                .map(|at| at.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::parse_date_time;

    fn ms(text: &str) -> Option<i64> {
        parse_date_time(text).map(|at| at.timestamp_millis())
    }

    #[test]
    fn reads_rfc3339_and_vro_dates_with_their_zone() {
        let utc = ms("2026-12-05T14:30:00Z");
        assert!(utc.is_some());
        assert_eq!(ms("2026-12-05T15:30:00+01:00"), utc);
        assert_eq!(ms("2026-12-05T09:30:00-05:00"), utc);
        assert_eq!(ms(" 2026-12-05T14:30:00.000Z\n"), utc);
        assert_eq!(ms("20261205143000Z"), utc);
        assert_eq!(ms("20261205143000+0000"), utc);
        assert_eq!(ms("20261205153000+0100"), utc);
        assert_eq!(ms("20261205093000-0500"), utc);
    }

    #[test]
    fn refuses_dates_without_a_zone_and_nonsense() {
        for text in [
            "20261205143000",
            "2026-12-05T14:30:00",
            "2026-12-05",
            "20261305143000Z",
            "tomorrow",
            "Z",
            "",
        ] {
            assert_eq!(ms(text), None, "{text}");
        }
    }
}
