//! The fields of a plain text line (`name=value`, space separated), as
//! `tracing-subscriber`'s `DefaultFields` writes them with ANSI off, without painting each
//! name through `nu_ansi_term` first: a request's span and line have nine fields, and the
//! painting was a tenth of the line's cost (`benches/log_line.rs`, `perf`, 2026-12-05).
//!
//! The rules are the library's: `message` comes without its name, every value through
//! `Debug` (so a `&str` is quoted and `%value` is not), names starting `log.` (a `log`
//! record's metadata) are left out, a raw identifier loses its `r#`, and the message and
//! errors have terminal control characters escaped.

use std::error::Error;
use std::fmt::{self, Debug, Display, Write as _};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub(super) use self::escapes::debug_leaves_alone;

mod escapes;

/// The plain text fields (module doc).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer: target,
            first: true,
            result: Ok(()),
        }
    }
}

/// Room for a request span's fields (`method`, `path`, `request_id`: some 80 bytes).
const SPAN_FIELDS_CAPACITY: usize = 160;

/// A layer placed before the plain text `fmt` layer that formats each new span's fields
/// into a buffer of [`SPAN_FIELDS_CAPACITY`]. The `fmt` layer leaves a span whose fields
/// are already formatted alone, and formats them itself into an empty `String` that
/// grows by doubling: four or five reallocations per request span, a tenth of the
/// request line's cost (`benches/log_line.rs` under `perf`, 2026-12-06).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SizedSpanFields;

impl<S> Layer<S> for SizedSpanFields
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields =
            FormattedFields::<PlainFields>::new(String::with_capacity(SPAN_FIELDS_CAPACITY));
        if PlainFields
            .format_fields(fields.as_writer(), attributes)
            .is_ok()
        {
            span.extensions_mut().insert(fields);
        }
    }
}

/// Writes one line's (or span's) fields.
pub(super) struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// No field written yet: no space before the next.
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Writes ` name=` (no space before the first field) and then the value `write` writes.
    fn write_field(&mut self, field: &Field, write: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = self.result.and_then(|()| {
            self.writer.write_str(name)?;
            self.writer.write_char('=')?;
            write(&mut self.writer)
        });
    }
}

/// The fast paths below write what `Debug` writes for the value, without a `core::fmt`
/// round: numbers through `itoa` and `ryu`, and text that `Debug` would not escape between
/// its quotes. A request's line is mostly such values.
impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.write_field(field, |writer| write_debug_str(writer, value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.write_field(field, |writer| {
            writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.write_field(field, |writer| {
            writer.write_str(itoa::Buffer::new().format(value))
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.write_field(field, |writer| {
            writer.write_str(if value { "true" } else { "false" })
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.write_field(field, |writer| write_debug_f64(writer, value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let sanitize = self.writer.sanitizes_ansi_escapes();
        let text = Escaped(format_args!("{value}"), sanitize);
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!(
                    "{text} {}.sources={}",
                    field.name(),
                    Sources(source, sanitize)
                ),
            ),
            None => self.record_debug(field, &format_args!("{text}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        if field.name() != "message" {
            self.write_field(field, |writer| write!(writer, "{value:?}"));
            return;
        }
        if self.result.is_err() {
            return;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        let sanitize = self.writer.sanitizes_ansi_escapes();
        self.result = self
            .result
            .and_then(|()| write!(self.writer, "{:?}", EscapedDebug(value, sanitize)));
    }
}

/// `value` as `str`'s `Debug` writes it (quoted, escaped), without `core::fmt` when it can.
fn write_debug_str(writer: &mut (impl fmt::Write + ?Sized), value: &str) -> fmt::Result {
    if debug_leaves_alone(value) {
        writer.write_char('"')?;
        writer.write_str(value)?;
        writer.write_char('"')
    } else {
        write!(writer, "{value:?}")
    }
}

/// `value` as `f64`'s `Debug` writes it, without `core::fmt` when it can.
fn write_debug_f64(writer: &mut (impl fmt::Write + ?Sized), value: f64) -> fmt::Result {
    match debug_of_f64(&mut ryu::Buffer::new(), value) {
        Some(text) => writer.write_str(text),
        None => write!(writer, "{value:?}"),
    }
}

/// `value` as `f64`'s `Debug` writes it, when `ryu` is sure to write the same: both write
/// the shortest digits that read back as `value`, as a plain decimal (`0.25`, `12.0`) in
/// this range, where `Debug` does not switch to an exponent. With at most 15 significant
/// digits those shortest digits are the only ones of their length that read back (a
/// double's neighbours are closer than 15-digit decimals are to each other), so both must
/// find them; with 16 or 17 the two may round the last digit differently.
fn debug_of_f64(buffer: &mut ryu::Buffer, value: f64) -> Option<&str> {
    if !(value == 0.0 || (1e-4..1e15).contains(&value.abs())) {
        return None;
    }
    let text = buffer.format_finite(value);
    // Counts zeros before the first significant digit too: errs on the side of `Debug`.
    (text.bytes().filter(u8::is_ascii_digit).count() <= 15).then_some(text)
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// A value displayed with terminal control characters escaped, when `.1`.
struct Escaped<T>(T, bool);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(Escaping(f), "{}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A value debug-formatted with terminal control characters escaped, when `.1`.
struct EscapedDebug<'v>(&'v dyn Debug, bool);

impl Debug for EscapedDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1 {
            write!(Escaping(f), "{:?}", self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

/// An error's sources, itself first, as a list.
struct Sources<'e>(&'e (dyn Error + 'static), bool);

impl Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut next = Some(self.0);
        while let Some(error) = next {
            list.entry(&EscapedDebug(&format_args!("{error}"), self.1));
            next = error.source();
        }
        list.finish()
    }
}

/// Escapes the characters a terminal would act on (ESC, BEL, BS, FF, DEL, C1 controls).
struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if !text.bytes().any(needs_escape_or_is_multibyte) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c if ('\u{80}'..='\u{9f}').contains(&c) => {
                    write!(self.0, "\\u{{{:x}}}", c as u32)?;
                }
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A byte `Escaping` acts on, or one of a character beyond ASCII (which may be a C1 control).
fn needs_escape_or_is_multibyte(byte: u8) -> bool {
    matches!(byte, 0x1b | 0x07 | 0x08 | 0x0c | 0x7f) || !byte.is_ascii()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::{ProptestConfig, any, proptest};

    use super::debug_of_f64;

    /// What the fast path writes for `value`, if it takes it.
    fn fast(value: f64) -> Option<String> {
        debug_of_f64(&mut ryu::Buffer::new(), value).map(str::to_string)
    }

    #[test]
    fn floats_take_the_fast_path_only_where_ryu_writes_as_debug() {
        for value in [
            0.0,
            -0.0,
            1e-4,
            0.25,
            1.0,
            12.0,
            0.123,
            123.456,
            99_999_999_999_999.0,
            -3.5,
        ] {
            let text = fast(value);
            assert!(text.is_some(), "{value:?}");
            assert_eq!(text, Some(format!("{value:?}")));
        }
        for value in [
            9.9e-5,
            1e15,
            1e16,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE,
            -73_693_817_362_855.62,
            0.1 + 0.2,
        ] {
            assert_eq!(fast(value), None, "{value:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn the_fast_path_writes_as_debug(
            mantissa in 1.0f64..10.0,
            exponent in -5i32..16,
            negative in any::<bool>(),
        ) {
            let value = mantissa * 10f64.powi(exponent) * if negative { -1.0 } else { 1.0 };
            if let Some(text) = fast(value) {
                assert_eq!(text, format!("{value:?}"));
            }
        }

        #[test]
        fn durations_take_the_fast_path(micros in 1u64..100_000_000_000) {
            let value = micros as f64 / 1000.0;
            assert_eq!(fast(value), Some(format!("{value:?}")));
        }
    }
}
