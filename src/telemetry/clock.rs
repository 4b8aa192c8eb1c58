//! The timestamp of every log line, as `tracing-subscriber`'s default writes it
//! (`2026-12-05T09:16:00.123456Z`, UTC, microseconds), at a fraction of the cost: the
//! date and time of day change once a second, so each thread keeps the last second's
//! text and writes only the microseconds anew. The default formats every field through
//! `core::fmt` on every line, a measurable share of a request's log line.

use std::cell::Cell;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// `YYYY-MM-DDTHH:MM:SS`
const SECOND_LEN: usize = 19;

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`
const TIMESTAMP_LEN: usize = SECOND_LEN + 8;

/// UTC with microseconds, the second's text cached per thread.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct UtcMicros;

/// A second and its text.
type SecondText = (u64, [u8; SECOND_LEN]);

thread_local! {
    /// The second last written on this thread, and its text.
    static LAST_SECOND: Cell<SecondText> = const { Cell::new((u64::MAX, [0; SECOND_LEN])) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        Self::write_now(w)
    }
}

impl UtcMicros {
    /// Writes the time now into `w`.
    pub(super) fn write_now(w: &mut (impl fmt::Write + ?Sized)) -> fmt::Result {
        // Only ASCII digits and separators are written.
        w.write_str(std::str::from_utf8(&Self::now()).map_err(|_| fmt::Error)?)
    }

    /// The time now, as text.
    pub(super) fn now() -> [u8; TIMESTAMP_LEN] {
        // A clock before 1970 is written as 1970: log lines are not where to find that out.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = since_epoch.as_secs();
        let (last, mut text) = LAST_SECOND.get();
        if last != seconds {
            text = second_text(seconds);
            LAST_SECOND.set((seconds, text));
        }
        let mut line = [0u8; TIMESTAMP_LEN];
        line[..SECOND_LEN].copy_from_slice(&text);
        line[SECOND_LEN] = b'.';
        put_digits(
            &mut line[SECOND_LEN + 1..SECOND_LEN + 7],
            since_epoch.subsec_micros().into(),
        );
        line[SECOND_LEN + 7] = b'Z';
        line
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` since the epoch, in UTC.
fn second_text(seconds: u64) -> [u8; SECOND_LEN] {
    let (year, month, day) = civil_from_days(seconds / 86_400);
    let of_day = seconds % 86_400;
    let mut text = *b"0000-00-00T00:00:00";
    put_digits(&mut text[0..4], year);
    put_digits(&mut text[5..7], month);
    put_digits(&mut text[8..10], day);
    put_digits(&mut text[11..13], of_day / 3_600);
    put_digits(&mut text[14..16], of_day % 3_600 / 60);
    put_digits(&mut text[17..19], of_day % 60);
    text
}

/// `value`'s last `out.len()` decimal digits, zero-padded.
fn put_digits(out: &mut [u8], mut value: u64) {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Year, month and day of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, second_text};

    #[test]
    fn seconds_are_written_as_utc_dates_and_times() {
        for (seconds, text) in [
            (0, "1970-01-01T00:00:00"),
            (951_782_400, "2000-02-29T00:00:00"),
            (1_796_461_199, "2026-12-05T08:59:59"),
            (4_107_542_399, "2100-02-28T23:59:59"),
            (4_107_542_400, "2100-03-01T00:00:00"),
        ] {
            assert_eq!(std::str::from_utf8(&second_text(seconds)).unwrap(), text);
        }
        assert_eq!(civil_from_days(365), (1971, 1, 1));
    }

    #[test]
    fn the_timestamp_matches_the_default_formatter() {
        use tracing_subscriber::fmt::format::Writer;
        use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
        let default = || {
            let mut text = String::new();
            SystemTime.format_time(&mut Writer::new(&mut text)).unwrap();
            text
        };
        let before = default();
        let mut ours = String::new();
        super::UtcMicros
            .format_time(&mut Writer::new(&mut ours))
            .unwrap();
        let after = default();
        // The same shape, and the same second as the default's just before or just after.
        assert_eq!(ours.len(), before.len(), "{ours} / {before}");
        assert!(
            ours.ends_with('Z') && ours.as_bytes()[SECOND] == b'.',
            "{ours}"
        );
        assert!(
            [&before, &after]
                .iter()
                .any(|theirs| ours[..SECOND] == theirs[..SECOND]),
            "{ours} / {before} / {after}"
        );
    }

    const SECOND: usize = 19;
}
