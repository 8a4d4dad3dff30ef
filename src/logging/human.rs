//! Log lines for people, the default for text logs on stderr (without `-v`, `--log-level`
//! or `RUST_LOG`): one short line per failed, slow or retried job in the style of nextest's
//! status lines (`   FAIL [  0.003s] #2 exit 1: sh -c 'exit 1'`), cut to the terminal's width,
//! and `fanout: warning: ...` for the rest. No timestamps, no `key=value` fields: those are
//! for `-v` and `--log-file`. Colour only where the writer allows it (a terminal, no
//! `NO_COLOR`).

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::fields::Fields;

/// The human line format.
pub struct HumanFormat {
    /// The terminal's width, read for each line (it may change), when stderr is one.
    pub terminal: bool,
}

impl<S, N> FormatEvent<S, N> for HumanFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let width = self
            .terminal
            .then(|| console::Term::stderr().size_checked())
            .flatten()
            .map(|(_, w)| w as usize);
        let ansi = writer.has_ansi_escapes();
        writer.write_str(&line(
            *event.metadata().level(),
            &Fields::of(event),
            ansi,
            width,
        ))
    }
}

/// The line for an event, newline included; cut to `width` columns when given.
pub fn line(level: Level, f: &Fields, ansi: bool, width: Option<usize>) -> String {
    let status = match f.text("event").as_deref() {
        Some("job_finished") if level <= Level::WARN => job_failed(f),
        Some("job_slow") => Some((
            "SLOW",
            "1;33",
            f.u64("elapsed_ms"),
            "still running".to_string(),
        )),
        Some("job_retrying") => Some((
            "RETRY",
            "1;35",
            f.u64("duration_ms"),
            format!(
                "{}, attempt {}, again in {}",
                how(f),
                f.u64("attempt").unwrap_or(1),
                secs(f.u64("delay_ms").unwrap_or(0))
            ),
        )),
        _ => None,
    };
    let mut out = match status {
        Some((word, color, ms, what)) => {
            let seq = f.text("seq").unwrap_or_default();
            let command = f.text("command").unwrap_or_default();
            let head = format!(
                "{:>7} [{:>8}] #{seq} {what}: ",
                "",
                format!("{:.3}s", ms.unwrap_or(0) as f64 / 1000.0)
            );
            // The status word replaces the padding, right-aligned as nextest does.
            let head = format!(
                "{}{}",
                paint(ansi, color, &format!("{word:>7}")),
                &head[7..]
            );
            fit(head, &command, width)
        }
        None => {
            let message = f.text("message").unwrap_or_default();
            let message = match (f.text("event").as_deref(), f.text("reason")) {
                (Some("run_cancelling"), Some(reason)) => match f.text("signal_name") {
                    Some(sig) => format!("{message} ({sig})"),
                    None => format!("{message} ({})", reason.replace('_', " ")),
                },
                _ => message,
            };
            let prefix = match level {
                Level::ERROR => paint(ansi, "1;31", "error:") + " ",
                Level::WARN => paint(ansi, "1;33", "warning:") + " ",
                Level::INFO => String::new(),
                Level::DEBUG => "debug: ".into(),
                Level::TRACE => "trace: ".into(),
            };
            format!("fanout: {prefix}{message}")
        }
    };
    out.push('\n');
    out
}

/// The status of a failed job: its word, colour, duration and how it ended.
fn job_failed(f: &Fields) -> Option<(&'static str, &'static str, Option<u64>, String)> {
    let word = match f.text("outcome")?.as_str() {
        "failed" => "FAIL",
        "signaled" => "SIGNAL",
        "timed_out" => "TIMEOUT",
        "spawn_failed" => "NOSTART",
        "cancelled" => "CANCEL",
        _ => return None,
    };
    Some((word, "1;31", f.u64("duration_ms"), how(f)))
}

/// `exit 2`, `SIGKILL`, or `ended` when neither is known.
fn how(f: &Fields) -> String {
    match (f.text("exit_code"), f.text("signal_name")) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => sig,
        (None, None) => match f.u64("signal") {
            Some(n) => format!("signal {n}"),
            None => "ended".into(),
        },
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn paint(ansi: bool, code: &str, s: &str) -> String {
    if ansi {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// `head` then `tail`, with `tail` cut (ending in `…`) so that the line fits `width` columns
/// and never wraps; the head is always whole.
fn fit(head: String, tail: &str, width: Option<usize>) -> String {
    let Some(width) = width else {
        return head + tail;
    };
    let room = width.saturating_sub(console::measure_text_width(&head) + 1);
    let tail = console::truncate_str(tail, room.max(8), "…");
    head + &tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::fields::Value;

    fn fields(v: &[(&'static str, Value)]) -> Fields {
        Fields(v.to_vec())
    }

    #[test]
    fn a_failed_job_is_one_status_line() {
        let f = fields(&[
            ("message", Value::Shown("job failed".into())),
            ("event", Value::Str("job_finished".into())),
            ("seq", Value::U64(2)),
            ("outcome", Value::Str("failed".into())),
            ("exit_code", Value::I64(1)),
            ("duration_ms", Value::U64(3)),
            ("command", Value::Str("sh -c 'exit 1'".into())),
        ]);
        assert_eq!(
            line(Level::WARN, &f, false, None),
            "   FAIL [  0.003s] #2 exit 1: sh -c 'exit 1'\n"
        );
        let coloured = line(Level::WARN, &f, true, None);
        assert!(
            coloured.starts_with("\x1b[1;31m   FAIL\x1b[0m ["),
            "{coloured:?}"
        );
    }

    #[test]
    fn a_long_command_is_cut_to_the_width() {
        let f = fields(&[
            ("event", Value::Str("job_slow".into())),
            ("seq", Value::U64(1)),
            ("elapsed_ms", Value::U64(300)),
            ("command", Value::Str("x".repeat(200))),
        ]);
        let l = line(Level::WARN, &f, false, Some(60));
        assert!(
            l.starts_with("   SLOW [  0.300s] #1 still running: xxx"),
            "{l}"
        );
        assert!(l.trim_end().ends_with('…'), "{l}");
        assert!(console::measure_text_width(l.trim_end()) < 60, "{l}");
    }

    #[test]
    fn other_events_are_a_fanout_warning() {
        let f = fields(&[
            ("message", Value::Shown("starting no new jobs".into())),
            ("event", Value::Str("run_cancelling".into())),
            ("reason", Value::Str("signal".into())),
            ("signal_name", Value::Str("SIGINT".into())),
        ]);
        assert_eq!(
            line(Level::WARN, &f, false, None),
            "fanout: warning: starting no new jobs (SIGINT)\n"
        );
    }
}
