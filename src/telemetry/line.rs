//! The text log line without colours, written straight into the line's buffer.
//!
//! It is exactly what `tracing-subscriber`'s default (`Full`) format writes with ANSI off
//! and our clock: `TIME LEVEL span{fields}:span{fields}: target: message fields`. That
//! format paints every piece through `nu_ansi_term` even when there is no colour to
//! paint, a `core::fmt` round per piece, which was the largest part of the request log
//! line's cost (`perf` of the echo benchmark, 2026-12-05). Coloured text (a terminal) and
//! JSON keep the library's formatters.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::clock::UtcMicros;

/// The plain text line (module doc).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PlainLine;

impl<S, N> FormatEvent<S, N> for PlainLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records of the `log` crate carry their own target and level.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        UtcMicros.format_time(&mut writer)?;
        writer.write_str(level_text(*meta.level()))?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The level between the time and the rest, padded as the default format pads it.
pub(super) fn level_text(level: Level) -> &'static str {
    match level {
        Level::TRACE => " TRACE ",
        Level::DEBUG => " DEBUG ",
        Level::INFO => "  INFO ",
        Level::WARN => "  WARN ",
        Level::ERROR => " ERROR ",
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::fmt;
    use tracing_subscriber::fmt::format::{DefaultFields, Format};
    use tracing_subscriber::layer::SubscriberExt;

    use crate::telemetry::captured::{Lines, plain_lines};

    /// Every kind of line the server writes: levels, no span, nested spans with and
    /// without fields, an explicit parent, quoted and displayed values, a record.
    fn log_everything() {
        tracing::error!("no span at all");
        tracing::debug!(detail = ?Some(3), "debug line");
        let outer = tracing::info_span!(
            "request",
            method = %"POST",
            path = %"/vco/webservice",
            status = tracing::field::Empty
        );
        outer.record("status", 200u16);
        let _entered = outer.enter();
        tracing::warn!(dialect = "k2", quote = "a \"b\"", "inside one span");
        let inner = tracing::info_span!("command");
        inner.in_scope(|| tracing::info!(n = 3, elapsed_ms = 0.25, "two spans"));
        tracing::trace!(parent: &inner, "explicit parent");
        tracing::info!(parent: None, "no parent");
        let error = Wrapped(std::io::Error::other("disk \x1b[31mfull"));
        let error: &(dyn std::error::Error + 'static) = &error;
        tracing::error!(error, "with sources");
        let lone = std::io::Error::other("lone");
        let lone: &(dyn std::error::Error + 'static) = &lone;
        tracing::warn!(r#type = "raw", error = lone, "bell \x07 and \u{85}");
        tracing::info!(
            count = -3i64,
            big = 1e20,
            sum = 0.1 + 0.2,
            elapsed_ms = 0.123,
            ok = true,
            text = "é \"quoted\"",
            "every kind of value"
        );
        tracing::info!(
            log.target = "hidden",
            shown = 1,
            "a log record's metadata is left out"
        );
    }

    /// An error with a source.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not write")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// The library's line layer without colours, writing into `lines`.
    fn layer<S>(lines: &Lines) -> fmt::Layer<S, DefaultFields, Format, Lines> {
        fmt::layer().with_writer(lines.clone()).with_ansi(false)
    }

    /// What each format writes for [`log_everything`], timestamps cut off.
    fn lines(ours: bool) -> Vec<String> {
        let lines = Lines::default();
        let registry = tracing_subscriber::registry().with(LevelFilter::TRACE);
        if ours {
            let subscriber = registry.with(plain_lines(&lines));
            tracing::subscriber::with_default(subscriber, log_everything);
        } else {
            tracing::subscriber::with_default(registry.with(layer(&lines)), log_everything);
        }
        let text = lines.text();
        text.lines()
            .map(|line| line.split_once(' ').expect("a timestamp").1.to_string())
            .collect()
    }

    #[test]
    fn plain_lines_are_the_default_format_without_colours() {
        let ours = lines(true);
        assert_eq!(ours, lines(false));
        assert_eq!(ours.len(), 10, "{ours:#?}");
        assert!(
            ours.iter().any(|line| line
                .starts_with(" WARN request{method=POST path=/vco/webservice status=200}: ")),
            "{ours:#?}"
        );
    }
}
