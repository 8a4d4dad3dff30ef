//! Turns run events into `tracing` events with stable names and typed fields, for people
//! (text on stderr) and log pipelines (`--log-format json`). Every event carries a field
//! `event` naming it; the data is in fields, never only in the message. The field set is
//! versioned by [`SCHEMA_VERSION`] and documented in the README ("JSON log events"); change
//! both together. Where the lines go and in which format is set up by the binary.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use tracing::{Level, debug, info, warn};

use super::events::{CancelReason, RunEvent};
use super::hosts;
use super::{ReportError, Reporter};
use crate::job::{JobOutcome, JobRecord};

/// The version of the log event schema, logged in `run_started`. Bumped when a field is
/// removed or changes meaning; adding a field does not bump it. 2: `args` is an array of the
/// values, their joined text is `args_text`.
pub const SCHEMA_VERSION: u32 = 2;

/// Emits one `tracing` event per run event.
#[derive(Debug, Default)]
pub struct LogReporter {
    /// Each place's jobs so far, for `job_finished`'s `host_done` and `host_failed`.
    running: hosts::Running,
    /// The places as configured (`-S`, `--slf`), for the order of `run_finished`'s `hosts`.
    places: Vec<Arc<str>>,
    /// The jobs each place could not start or lost, for `run_finished`'s `hosts`.
    lost: hosts::Lost,
}

impl LogReporter {
    /// `places`: the configured places in order (empty: by name).
    pub fn new(places: Vec<Arc<str>>) -> LogReporter {
        LogReporter {
            places,
            ..LogReporter::default()
        }
    }
}

/// A signal's name (`SIGTERM`), or its number when it has none.
pub(crate) fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// The stable name of a cancel reason, and the signal behind it if any.
pub(crate) fn cancel_name(reason: CancelReason) -> (&'static str, Option<i32>) {
    match reason {
        CancelReason::OutputClosed => ("output_closed", None),
        CancelReason::HaltSoon => ("halt_soon", None),
        CancelReason::HaltNow => ("halt_now", None),
        CancelReason::ReportFailed => ("report_failed", None),
        CancelReason::NoPlace => ("no_place", None),
        CancelReason::Signal(n) => ("signal", Some(n)),
        CancelReason::SecondSignal(n) => ("second_signal", Some(n)),
    }
}

/// The most bytes of a job's args or command a log event carries: a 3 MB argument must not
/// make a 6 MB log line (`--results` and `--results-json` keep everything).
pub const FIELD_CAP: usize = 1024;

/// `s` cut at [`FIELD_CAP`] bytes (on a char boundary), with a marker giving its full length.
pub(crate) fn capped(s: &str) -> Cow<'_, str> {
    if s.len() <= FIELD_CAP {
        return Cow::Borrowed(s);
    }
    let mut end = FIELD_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes)", &s[..end], s.len()))
}

/// The values as a JSON array (`["a","b c"]`), each capped like a field and the array cut
/// after [`FIELD_CAP`] bytes of values with a last element saying how many there were. Logged
/// with `%`: fanout's JSON log writer inserts it as an array, text logs show it as is.
pub(crate) struct ArgsJson<'a>(pub &'a [crate::job::Text]);

impl std::fmt::Display for ArgsJson<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown: Vec<Cow<'_, str>> = Vec::new();
        let mut bytes = 0;
        for v in self.0 {
            if bytes > FIELD_CAP {
                shown.push(Cow::Owned(format!("… ({} values)", self.0.len())));
                break;
            }
            bytes += v.len();
            shown.push(capped(v));
        }
        f.write_str(&serde_json::to_string(&shown).map_err(|_| std::fmt::Error)?)
    }
}

/// Why a job could not start, from the message fanout gave as its stderr
/// (`nosuchprog: command not found`), for jobs that never started.
pub(crate) fn start_error(r: &JobRecord, stderr: &super::events::Captured) -> Option<String> {
    if r.handle.is_some() || !matches!(r.outcome, JobOutcome::SpawnFailed { .. }) {
        return None;
    }
    let text = String::from_utf8_lossy(stderr.as_bytes()?).into_owned();
    let text = text.trim_end();
    Some(text.strip_prefix("fanout: ").unwrap_or(text).to_string())
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// `tracing`'s macros need a constant level: this picks the macro.
macro_rules! at_level {
    ($level:expr, $($rest:tt)*) => {
        if $level == Level::WARN {
            warn!($($rest)*)
        } else {
            info!($($rest)*)
        }
    };
}

/// `host_done`/`host_failed`: the job's place's tally, this job included ([`hosts::Running`]).
/// Two numbers on the line a pipeline already reads, rather than an event of their own per
/// job or a map of every place per line: following one host is `select(.host == "h1")` and
/// its last line; the whole spread is in `run_finished`'s `hosts`.
fn job_finished(r: &JobRecord, stderr: &super::events::Captured, host: (u64, u64)) {
    // A job fanout ended itself (halt, signal, closed stdout) is not news: `run_cancelling`
    // has said why, once, at warn.
    let level = match r.outcome {
        JobOutcome::Success | JobOutcome::Cancelled { .. } => Level::INFO,
        _ => Level::WARN,
    };
    let message = if r.outcome.is_success() {
        "job finished"
    } else {
        "job failed"
    };
    at_level!(
        level,
        event = "job_finished",
        seq = r.id.0,
        slot = r.slot,
        host = &*r.place,
        host_done = host.0,
        host_failed = host.1,
        handle = r.handle.as_ref().map(tracing::field::display),
        pid = r.handle.as_ref().and_then(|h| h.pid()),
        outcome = r.outcome.name(),
        exit_code = r.outcome.exit_code(),
        signal = r.outcome.signal(),
        signal_name = r.outcome.signal().map(signal_name),
        duration_ms = ms(r.duration),
        attempt = r.attempts,
        stdout_bytes = r.stdout_bytes,
        stderr_bytes = r.stderr_bytes,
        cpu_user_ms = r.usage.map(|u| ms(u.user)),
        cpu_system_ms = r.usage.map(|u| ms(u.system)),
        max_rss_kib = r.usage.map(|u| u.max_rss_kib),
        args = %ArgsJson(r.args.values()),
        args_text = &*capped(&r.args),
        command = &*capped(&r.command),
        error = start_error(r, stderr),
        "{message}"
    );
}

impl Reporter for LogReporter {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        match event {
            RunEvent::RunStarted {
                version,
                slots,
                command,
                skipped,
                total,
            } => info!(
                event = "run_started",
                version = *version,
                schema_version = SCHEMA_VERSION,
                slots = *slots as u64,
                command = &*capped(command),
                skipped = *skipped,
                total = *total,
                "run started"
            ),
            RunEvent::InputCounted { total } => {
                debug!(event = "input_counted", total = *total, "input counted")
            }
            RunEvent::InputDone { total } => {
                debug!(event = "input_done", total = *total, "input read")
            }
            RunEvent::JobStarted {
                id,
                slot,
                place,
                handle,
                attempt,
                args,
                arg_values,
                command,
            } => debug!(
                event = "job_started",
                seq = id.0,
                slot = *slot,
                host = &**place,
                handle = %handle,
                pid = handle.pid(),
                attempt = *attempt,
                args = %ArgsJson(
                    arg_values
                        .as_ref()
                        .map_or(&[crate::job::Text::from(&**args)][..], |v| v.values())
                ),
                args_text = &*capped(args),
                command = &*capped(command),
                "job started"
            ),
            RunEvent::Stopped => info!(
                event = "run_stopped",
                "stopped (Ctrl-Z): the jobs are stopped too"
            ),
            RunEvent::Continued { stopped_for } => info!(
                event = "run_continued",
                stopped_ms = ms(*stopped_for),
                "continued after {:.1}s; timeouts do not count the stopped time",
                stopped_for.as_secs_f64()
            ),
            // The executor warns once per place that goes down; this is per job.
            RunEvent::PlaceFailed { id, place, message } => {
                self.lost.place_failed(place);
                debug!(
                    event = "place_failed",
                    seq = id.0,
                    host = &**place,
                    error = message.as_str(),
                    "{place} could not start job {}: {message}",
                    id.0
                )
            }
            RunEvent::JobSlow {
                id,
                elapsed,
                command,
            } => warn!(
                event = "job_slow",
                seq = id.0,
                elapsed_ms = ms(*elapsed),
                command = &*capped(command),
                "SLOW job {} running for {:.1}s: {}",
                id.0,
                elapsed.as_secs_f64(),
                capped(command)
            ),
            RunEvent::JobRetrying { record: r, delay } => warn!(
                event = "job_retrying",
                seq = r.id.0,
                attempt = r.attempts,
                outcome = r.outcome.name(),
                exit_code = r.outcome.exit_code(),
                signal = r.outcome.signal(),
                duration_ms = ms(r.duration),
                delay_ms = ms(*delay),
                command = &*capped(&r.command),
                "job will be retried"
            ),
            RunEvent::JobFinished { record, stderr, .. } => {
                let host = self
                    .running
                    .finished(&record.place, record.outcome.is_success());
                job_finished(record, stderr, host)
            }
            RunEvent::Cancelling { reason } => {
                let (name, signal) = cancel_name(*reason);
                if *reason == CancelReason::OutputClosed {
                    debug!(
                        event = "run_cancelling",
                        reason = name,
                        "stdout closed: stopping"
                    );
                } else {
                    warn!(
                        event = "run_cancelling",
                        reason = name,
                        signal = signal,
                        signal_name = signal.map(signal_name),
                        "starting no new jobs"
                    );
                }
            }
            RunEvent::RunFinished { summary: s } => {
                let (reason, signal) = match s.cancel {
                    Some(r) => {
                        let (n, s) = cancel_name(r);
                        (Some(n), s)
                    }
                    None => (None, None),
                };
                info!(
                    event = "run_finished",
                    total = s.done() + s.skipped,
                    succeeded = s.succeeded,
                    failed = s.failed,
                    timed_out = s.timed_out,
                    cancelled = s.cancelled,
                    flaky = s.flaky,
                    skipped = s.skipped,
                    wall_ms = ms(s.wall),
                    exit_code = s.exit_code,
                    cancel_reason = reason,
                    interrupted_by = signal.map(signal_name),
                    hosts = %hosts::json(&hosts::rows(s, &self.places, &self.lost)),
                    "run finished"
                );
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_fields_are_capped_at_a_char_boundary() {
        assert_eq!(capped("short"), "short");
        let long = format!("x{}", "é".repeat(2000));
        let c = capped(&long);
        assert!(c.ends_with(&format!("… ({} bytes)", long.len())), "{c}");
        assert!(c.len() < FIELD_CAP + 32);
    }
}
