//! The `request` line of an answered request, written by hand: exactly the line that the
//! plain text format ([`super::line::PlainLine`], [`super::fields::PlainFields`]) writes
//! for the `request` event inside the request's span, without the event, the span or
//! the visitor. A request that logs nothing else then costs its worker no span at all
//! (`scope`'s module doc) and a line of some 200 bytes written straight into a buffer.

use std::cell::RefCell;
use std::io::Write as _;

use tracing::Level;

use super::clock::UtcMicros;
use super::fields::debug_leaves_alone;
use super::line::level_text;

/// What a request's answer settled: the fields of its `request` line. The texts are
/// `'static`, so that one address always holds the same text: the line's writer keeps
/// what it wrote for them by their address ([`Tails`]). They come from bounded sets
/// (route templates, dialects, operations).
#[derive(Debug, Clone, Copy)]
pub struct Answered {
    /// The route template, not the path.
    pub route: &'static str,
    pub status: u16,
    pub dialect: &'static str,
    pub operation: &'static str,
    /// Milliseconds, to the microsecond.
    pub elapsed_ms: f64,
}

/// The line's target: it is the HTTP edge's line (`http::observe`), and kept its target
/// when its writing moved here, so filters and readers of the logs see no change.
pub(super) const TARGET: &str = "holdpoint::http::observe";

impl Answered {
    /// Logs the `request` line through `tracing`, inside `parent` (the request's span):
    /// what the other formats, and the plain one when the span is disabled, write.
    pub fn log_in(&self, parent: Option<tracing::Id>) {
        tracing::info!(
            target: TARGET,
            parent: parent,
            route = self.route,
            status = self.status,
            dialect = self.dialect,
            operation = self.operation,
            elapsed_ms = self.elapsed_ms,
            "request"
        );
    }
}

/// Whether the `request` line is enabled, as `log_in` would find it: its fields named
/// too, for a filter that decides by them.
pub(super) fn enabled() -> bool {
    tracing::event_enabled!(
        target: TARGET,
        Level::INFO,
        message,
        route,
        status,
        dialect,
        operation,
        elapsed_ms
    )
}

/// The values of the request's span, as its line shows them.
pub(super) struct SpanValues<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) request_id: &'a str,
}

/// The capacity a thread's line buffer keeps: a line with a path of some 2 KiB.
const RETAINED_CAPACITY: usize = 2048;

thread_local! {
    /// The line being written on this thread (kept to keep its capacity).
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The tails this thread wrote last.
    static TAILS: RefCell<Tails> = const { RefCell::new(Tails::new()) };
}

/// Hands `write` the request line with the span's and the answer's values.
pub(super) fn with_line(span: &SpanValues<'_>, answered: &Answered, write: impl FnOnce(&[u8])) {
    LINE.with_borrow_mut(|line| {
        line.clear();
        format(line, span, answered);
        write(line);
        // A stranger's long path must not keep a worker's buffer large.
        if line.capacity() > RETAINED_CAPACITY {
            *line = Vec::new();
        }
    });
}

/// `TIME  INFO request{method=M path=P request_id=I}: TARGET: request route="R" …`
///
/// Bytes, not a `String` or a `fmt::Write`: each piece is copied as it is, without a
/// dynamic call or a check that ASCII digits are UTF-8.
fn format(line: &mut Vec<u8>, span: &SpanValues<'_>, answered: &Answered) {
    line.extend_from_slice(&UtcMicros::now());
    line.extend_from_slice(level_text(Level::INFO).as_bytes());
    // The span's fields are displayed (`%value`), so written as they are.
    line.extend_from_slice(b"request{method=");
    line.extend_from_slice(span.method.as_bytes());
    line.extend_from_slice(b" path=");
    line.extend_from_slice(span.path.as_bytes());
    line.extend_from_slice(b" request_id=");
    line.extend_from_slice(span.request_id.as_bytes());
    TAILS.with_borrow_mut(|tails| line.extend_from_slice(tails.tail(answered)));
    write_elapsed_ms(line, answered.elapsed_ms);
    line.push(b'\n');
}

/// How many tails a thread keeps: enough for a node that mixes a few kinds of traffic
/// (callbacks, SOAP operations, K2 finishes, health checks and their errors), each a
/// route, status, dialect and operation. A worker that goes round more kinds of answer
/// than this in turn misses every time, and a miss costs what writing the tail did before
/// tails were kept, plus a copy of some 100 bytes; a hit costs a look at each kept key
/// before it, a few instructions each.
const KEPT_TAILS: usize = 8;

/// The part of the line from the span's end to `elapsed_ms=`, for the last few answers'
/// route, status, dialect and operation: the same for most of a node's requests, it is
/// copied whole instead of written piece by piece, each text checked for escapes (some
/// 600 of the 2,400 instructions the default level added to an echo, 2026-12-06). Texts
/// are told apart by their address and length: `'static`, the same address always holds
/// the same text.
struct Tails {
    tails: [Option<Tail>; KEPT_TAILS],
    /// Where the next tail that is not kept goes.
    next: usize,
}

struct Tail {
    key: TailKey,
    text: Vec<u8>,
}

#[derive(PartialEq, Eq)]
struct TailKey {
    route: (*const u8, usize),
    dialect: (*const u8, usize),
    operation: (*const u8, usize),
    status: u16,
}

impl TailKey {
    fn of(answered: &Answered) -> Self {
        let text = |text: &'static str| (text.as_ptr(), text.len());
        TailKey {
            route: text(answered.route),
            dialect: text(answered.dialect),
            operation: text(answered.operation),
            status: answered.status,
        }
    }
}

impl Tails {
    const fn new() -> Self {
        Tails {
            tails: [const { None }; KEPT_TAILS],
            next: 0,
        }
    }

    /// The tail of `answered`, written now if it is not kept.
    fn tail(&mut self, answered: &Answered) -> &[u8] {
        let key = TailKey::of(answered);
        let kept = self
            .tails
            .iter()
            .position(|tail| tail.as_ref().is_some_and(|tail| tail.key == key));
        let at = kept.unwrap_or_else(|| {
            let at = self.next;
            self.next = (at + 1) % KEPT_TAILS;
            // The tail it replaces gives its buffer.
            let mut text = self.tails[at]
                .take()
                .map(|tail| tail.text)
                .unwrap_or_default();
            text.clear();
            write_tail(&mut text, answered);
            self.tails[at] = Some(Tail { key, text });
            at
        });
        self.tails[at].as_ref().map_or(&[], |tail| &tail.text)
    }
}

/// `}: TARGET: request route="R" status=S dialect="D" operation="O" elapsed_ms=`
fn write_tail(line: &mut Vec<u8>, answered: &Answered) {
    line.extend_from_slice(b"}: ");
    line.extend_from_slice(TARGET.as_bytes());
    line.extend_from_slice(b": request route=");
    write_debug_str(line, answered.route);
    line.extend_from_slice(b" status=");
    line.extend_from_slice(itoa::Buffer::new().format(answered.status).as_bytes());
    line.extend_from_slice(b" dialect=");
    write_debug_str(line, answered.dialect);
    line.extend_from_slice(b" operation=");
    write_debug_str(line, answered.operation);
    line.extend_from_slice(b" elapsed_ms=");
}

/// `value` as `str`'s `Debug` writes it: quoted, escaped if it needs to be.
fn write_debug_str(line: &mut Vec<u8>, value: &str) {
    if debug_leaves_alone(value) {
        line.push(b'"');
        line.extend_from_slice(value.as_bytes());
        line.push(b'"');
    } else {
        // Writing into a `Vec` cannot fail.
        let _ = write!(line, "{value:?}");
    }
}

/// `ms` as `f64`'s `Debug` writes it. A whole number of microseconds (what `observe`
/// passes) is written from that integer, without `ryu`: `Debug` writes the shortest
/// decimal that reads back as `ms`, and below 10^15 microseconds the exact quotient, of
/// at most 15 significant digits, is the only such decimal of its length or shorter.
fn write_elapsed_ms(line: &mut Vec<u8>, ms: f64) {
    let micros = (ms * 1000.0).round();
    if !(ms.is_sign_positive() && micros < 1e15 && micros / 1000.0 == ms) {
        // Writing into a `Vec` cannot fail.
        let _ = write!(line, "{ms:?}");
        return;
    }
    // Whole and below 10^15: exact as an integer.
    let micros = micros as u64;
    line.extend_from_slice(itoa::Buffer::new().format(micros / 1000).as_bytes());
    let fraction = micros % 1000;
    if fraction == 0 {
        line.extend_from_slice(b".0");
        return;
    }
    let digits = [
        b'.',
        b'0' + (fraction / 100) as u8,
        b'0' + (fraction / 10 % 10) as u8,
        b'0' + (fraction % 10) as u8,
    ];
    let zeros = if fraction.is_multiple_of(100) {
        2
    } else {
        usize::from(fraction.is_multiple_of(10))
    };
    line.extend_from_slice(&digits[..4 - zeros]);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{ProptestConfig, proptest};
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    use super::{Answered, SpanValues, with_line, write_elapsed_ms};
    use crate::telemetry::captured::{Lines, plain_lines};

    /// The line the plain text format writes for the same span and event.
    fn through_tracing(span: &SpanValues<'_>, answered: &Answered) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(plain_lines(&lines));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::span!(
                Level::INFO,
                "request",
                method = %span.method,
                path = %span.path,
                request_id = %span.request_id,
            );
            answered.log_in(request.id());
        });
        lines.text()
    }

    fn by_hand(span: &SpanValues<'_>, answered: &Answered) -> String {
        let mut text = String::new();
        with_line(span, answered, |line| {
            text = String::from_utf8(line.to_vec()).expect("text");
        });
        text
    }

    /// The line without its timestamp (the two are written microseconds apart).
    fn untimed(line: &str) -> &str {
        line.split_once(' ').map_or(line, |(_, rest)| rest)
    }

    #[test]
    fn the_hand_written_line_is_the_plain_format_s() {
        let span = SpanValues {
            method: "POST",
            path: "/vmware-vmo-webcontrol/webservice",
            request_id: "0123456789ab-42",
        };
        let odd_span = SpanValues {
            method: "PROPFIND",
            path: "/a%20b/é",
            request_id: "caller:id.1_2-3",
        };
        let answers = [
            (
                "/vmware-vmo-webcontrol/webservice",
                200,
                "vco",
                "echo",
                0.123,
            ),
            ("unmatched", 404, "none", "GET", 12.0),
            ("/q\"uote\\d", 500, "é", "tab\there", 1e20),
            ("/callbacks/{token}", 204, "callback_url", "POST", 0.0),
            ("/x", 200, "api", "GET", 1234.5678901234567),
            // A kept tail is the one of its status too.
            ("/x", 503, "api", "GET", 0.5),
        ];
        for span in [&span, &odd_span] {
            for (route, status, dialect, operation, elapsed_ms) in answers {
                let answered = Answered {
                    route,
                    status,
                    dialect,
                    operation,
                    elapsed_ms,
                };
                let expected = through_tracing(span, &answered);
                let written = by_hand(span, &answered);
                assert_eq!(untimed(&written), untimed(&expected));
                assert_eq!(written.len(), expected.len(), "{written}");
                // Again, from the kept tail; and the same route at another address.
                assert_eq!(untimed(&by_hand(span, &answered)), untimed(&expected));
                let elsewhere = Answered {
                    route: Box::leak(route.to_string().into_boxed_str()),
                    ..answered
                };
                assert_eq!(untimed(&by_hand(span, &elsewhere)), untimed(&expected));
            }
        }
    }

    fn elapsed_text(ms: f64) -> String {
        let mut text = Vec::new();
        write_elapsed_ms(&mut text, ms);
        String::from_utf8(text).expect("text")
    }

    #[test]
    fn elapsed_milliseconds_are_written_as_debug_writes_them() {
        for ms in [
            0.0,
            -0.0,
            0.001,
            0.01,
            0.1,
            0.15,
            1.0,
            12.0,
            12.5,
            999.999,
            1000.0,
            1234.5678901234567,
            1e12,
            999_999_999_999.999,
            1e13,
            0.0001,
            1e-9,
            -3.5,
            f64::NAN,
            f64::INFINITY,
        ] {
            assert_eq!(elapsed_text(ms), format!("{ms:?}"), "{ms:?}");
        }
    }

    /// Where whole microseconds stop being written from the integer.
    const BELOW: u64 = 1_000_000_000_000_000;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn whole_microseconds_are_written_as_debug_writes_them(micros in 0u64..BELOW) {
            let ms = micros as f64 / 1000.0;
            assert_eq!(elapsed_text(ms), format!("{ms:?}"));
        }
    }
}
