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

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

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

/// Writes one line's (or span's) fields.
pub(super) struct PlainVisitor<'a> {
    writer: Writer<'a>,
    /// No field written yet: no space before the next.
    first: bool,
    result: fmt::Result,
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
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
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        let sanitize = self.writer.sanitizes_ansi_escapes();
        self.result = self.result.and_then(|()| match name {
            "message" => write!(self.writer, "{:?}", EscapedDebug(value, sanitize)),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{name}={value:?}")
            }
        });
    }
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
