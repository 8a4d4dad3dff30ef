//! The end-of-run summary on stderr, from the `RunSummary` in `RunFinished`: a short text for
//! people (counts, wall time, a line per host when the jobs ran at more than this machine,
//! the slowest jobs when that says something, every failed job's command and exit code or
//! signal, and why the run stopped early), or one JSON object with
//! the same facts (fields documented in the README, "Summary"). By default (`auto`) it is
//! printed on a terminal, and elsewhere only when something went wrong; as JSON when the logs
//! are. `--summary none` and `-q` hide it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use serde_json::json;

use super::console::Console;
use super::events::{CancelReason, RunEvent, RunSummary};
use super::hosts;
use super::log::{SCHEMA_VERSION, cancel_name, capped, signal_name};
use super::options::SummaryMode;
use super::progress::human;
use super::{ReportError, Reporter};
use crate::job::{JobOutcome, JobRecord};

/// How many of the slowest jobs the text names.
const SLOWEST_SHOWN: usize = 3;
/// How many failed jobs the text names; the rest are counted.
const FAILURES_SHOWN: usize = 20;

/// The shortest run whose slowest jobs are worth naming.
const SLOWEST_WALL: std::time::Duration = std::time::Duration::from_secs(1);

/// Prints the summary when the run ends.
pub struct SummaryReporter {
    console: Console,
    mode: SummaryMode,
    color: bool,
    /// stderr is a terminal (someone is watching).
    terminal: bool,
    /// The logs are JSON: the automatic summary is too.
    json_logs: bool,
    /// Name the heaviest jobs by CPU time and peak memory (`-v`).
    resources: bool,
    /// The places as configured (`-S`, `--slf`), for the order of the per-host counts.
    places: Vec<Arc<str>>,
    /// The jobs each place could not start or lost.
    lost: hosts::Lost,
}

impl SummaryReporter {
    /// `color`: colours allowed (NO_COLOR unset); they are used only when stderr is a terminal.
    pub fn new(
        console: Console,
        mode: SummaryMode,
        color: bool,
        json_logs: bool,
    ) -> SummaryReporter {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        SummaryReporter {
            console,
            mode,
            color: color && terminal,
            terminal,
            json_logs,
            resources: false,
            places: Vec::new(),
            lost: hosts::Lost::default(),
        }
    }

    /// The places as configured, in order: the per-host counts list them so (idle ones too).
    pub fn with_places(mut self, places: Vec<Arc<str>>) -> SummaryReporter {
        self.places = places;
        self
    }

    /// Adds the heaviest jobs by CPU time and peak memory to the text (`-v`; the JSON summary
    /// always has them).
    pub fn with_resources(mut self, on: bool) -> SummaryReporter {
        self.resources = on;
        self
    }

    /// What `auto` means for this run: text or JSON when it is worth printing, else `Off`.
    fn resolve(&self, s: &RunSummary) -> SummaryMode {
        if self.mode != SummaryMode::Auto {
            return self.mode;
        }
        let wrong = s.failed + s.timed_out + s.cancelled > 0
            || s.cancel.is_some_and(|c| c != CancelReason::OutputClosed);
        match (self.terminal || wrong, self.json_logs) {
            (false, _) => SummaryMode::Off,
            (true, true) => SummaryMode::Json,
            (true, false) => SummaryMode::Text,
        }
    }
}

impl Reporter for SummaryReporter {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        let summary = match event {
            RunEvent::PlaceFailed { place, .. } => {
                self.lost.place_failed(place);
                return Ok(());
            }
            RunEvent::RunFinished { summary } => summary,
            _ => return Ok(()),
        };
        let rows = hosts::rows(summary, &self.places, &self.lost);
        let text = match self.resolve(summary) {
            SummaryMode::Auto => unreachable!("resolved above"),
            SummaryMode::Off => return Ok(()),
            // `fanout ... | head`: the reader has what it wanted; exit quietly.
            SummaryMode::Text if summary.cancel == Some(CancelReason::OutputClosed) => {
                return Ok(());
            }
            SummaryMode::Text if self.resources => {
                let mut t = text(summary, &rows, self.color);
                t.push_str(&resources_text(summary));
                t
            }
            SummaryMode::Text => text(summary, &rows, self.color),
            SummaryMode::Json => {
                let mut s = json_summary(summary, &rows).to_string();
                s.push('\n');
                s
            }
        };
        if self.console.err(text.as_bytes()).is_err() {
            // The console flushes stdout first, which fails once stdout is closed: stderr
            // may still be there. If it is gone too, the summary is not worth failing for.
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(text.as_bytes()).and_then(|_| e.flush());
        }
        Ok(())
    }
}

/// The run's CPU time and the heaviest jobs by CPU time and by peak memory, a line each.
pub fn resources_text(s: &RunSummary) -> String {
    let mut out = String::new();
    if s.heaviest_cpu.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "  cpu: {} user, {} system in all jobs",
        human(s.cpu_user),
        human(s.cpu_system)
    );
    for r in s.heaviest_cpu.iter().take(SLOWEST_SHOWN) {
        let u = r.usage.unwrap_or_default();
        let _ = writeln!(
            out,
            "  heaviest cpu: job {} {} ({} user, {} system), peak {}: {}",
            r.id,
            human(u.cpu()),
            human(u.user),
            human(u.system),
            kib(u.max_rss_kib),
            capped(&r.command)
        );
    }
    for r in s.heaviest_memory.iter().take(SLOWEST_SHOWN) {
        let u = r.usage.unwrap_or_default();
        let _ = writeln!(
            out,
            "  heaviest memory: job {} peak {}, {} cpu: {}",
            r.id,
            kib(u.max_rss_kib),
            human(u.cpu()),
            capped(&r.command)
        );
    }
    out
}

/// KiB for people: `812 KiB`, `40.1 MiB`, `1.2 GiB`.
fn kib(k: u64) -> String {
    match k {
        0..1024 => format!("{k} KiB"),
        1024..1_048_576 => format!("{:.1} MiB", k as f64 / 1024.0),
        _ => format!("{:.1} GiB", k as f64 / 1_048_576.0),
    }
}

/// How a failed job ended, for people: `exit 2`, `killed by SIGKILL`, `timed out (SIGTERM)`.
fn how(r: &JobRecord) -> String {
    match r.outcome {
        JobOutcome::Success => "ok".into(),
        JobOutcome::Failed { code } => format!("exit {code}"),
        JobOutcome::Signaled { signal } => format!("killed by {}", signal_name(signal)),
        JobOutcome::TimedOut { signal: Some(s) } => format!("timed out, {}", signal_name(s)),
        JobOutcome::TimedOut { signal: None } => "timed out".into(),
        JobOutcome::SpawnFailed { code } => format!("could not start, exit {code}"),
        JobOutcome::Cancelled { signal: Some(s) } => format!("cancelled, {}", signal_name(s)),
        JobOutcome::Cancelled { signal: None } => "cancelled".into(),
    }
}

fn paint(color: bool, code: &str, s: &str) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// The text summary, ending with a newline; `rows`: a line per host when they say more than
/// the totals ([`hosts::worth_showing`]).
pub fn text(s: &RunSummary, rows: &[hosts::Row], color: bool) -> String {
    let total = s.done() + s.skipped;
    let mut out = format!("fanout: {total} job{}: ", if total == 1 { "" } else { "s" });
    let mut parts = vec![paint(color, "32", &format!("{} ok", s.succeeded))];
    if s.flaky > 0 {
        parts[0].push_str(&format!(" ({} passed on retry)", s.flaky));
    }
    let failed = format!("{} failed", s.failed);
    parts.push(if s.failed > 0 {
        paint(color, "31", &failed)
    } else {
        failed
    });
    if s.timed_out > 0 {
        parts.push(paint(color, "31", &format!("{} timed out", s.timed_out)));
    }
    if s.cancelled > 0 {
        parts.push(format!("{} cancelled", s.cancelled));
    }
    if s.skipped > 0 {
        parts.push(format!("{} skipped", s.skipped));
    }
    let _ = writeln!(out, "{} in {}", parts.join(", "), human(s.wall));
    if hosts::worth_showing(rows) {
        out.push_str(&hosts::text(rows, |code, t| paint(color, code, t)));
    }
    // Naming the slowest jobs says something only when they are a few of many that ran, in a
    // run long enough to care; a job that never ran is not slow.
    let ran = |r: &&JobRecord| r.handle.is_some();
    if s.done() > SLOWEST_SHOWN as u64 && s.wall >= SLOWEST_WALL {
        for r in s.slowest.iter().filter(ran).take(SLOWEST_SHOWN) {
            let _ = writeln!(
                out,
                "  slowest: job {} took {}: {}",
                r.id,
                human(r.duration),
                capped(&r.command)
            );
        }
    }
    let never_ran: Vec<&JobRecord> = s
        .failures
        .iter()
        .filter(|r| matches!(r.outcome, JobOutcome::Cancelled { .. }) && r.handle.is_none())
        .collect();
    let listed: Vec<&JobRecord> = s
        .failures
        .iter()
        .filter(|r| !(matches!(r.outcome, JobOutcome::Cancelled { .. }) && r.handle.is_none()))
        .collect();
    for r in listed.iter().take(FAILURES_SHOWN) {
        let label = match r.outcome {
            JobOutcome::TimedOut { .. } => "timed out:",
            JobOutcome::Cancelled { .. } => "cancelled:",
            _ => "failed:",
        };
        let _ = writeln!(
            out,
            "  {} job {} ({}): {}",
            paint(color, "31", label),
            r.id,
            how(r),
            capped(&r.command)
        );
    }
    if !never_ran.is_empty() {
        let mut seqs: Vec<String> = never_ran
            .iter()
            .take(10)
            .map(|r| format!("#{}", r.id))
            .collect();
        if never_ran.len() > 10 {
            seqs.push("...".into());
        }
        let _ = writeln!(
            out,
            "  {} {} job{} before {} started: {}",
            paint(color, "33", "cancelled:"),
            never_ran.len(),
            if never_ran.len() == 1 { "" } else { "s" },
            if never_ran.len() == 1 { "it" } else { "they" },
            seqs.join(" ")
        );
    }
    let unsuccessful = s.failed + s.timed_out + s.cancelled;
    let named = FAILURES_SHOWN.min(listed.len()) + never_ran.len();
    if unsuccessful as usize > named {
        let more = unsuccessful - named as u64;
        // The summary does not know whether a joblog is written: name what would list them.
        let _ = writeln!(
            out,
            "  ... and {more} more (--joblog or --results-json lists every job)"
        );
    }
    match s.cancel {
        Some(CancelReason::Signal(n)) => {
            let _ = writeln!(out, "fanout: interrupted by {}", signal_name(n));
        }
        Some(CancelReason::SecondSignal(n)) => {
            let _ = writeln!(
                out,
                "fanout: interrupted by {}, a second signal: jobs were killed",
                signal_name(n)
            );
        }
        Some(CancelReason::HaltSoon | CancelReason::HaltNow) => {
            let _ = writeln!(out, "fanout: halted by --halt");
        }
        Some(CancelReason::ReportFailed) => {
            let _ = writeln!(out, "fanout: stopped early: see the error");
        }
        Some(CancelReason::NoPlace) => {
            let _ = writeln!(out, "fanout: stopped early: no host could start a job");
        }
        Some(CancelReason::OutputClosed) | None => {}
    }
    out
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

/// The JSON summary: one object; its `hosts` always has `rows` (a run here: the one place `:`).
pub fn json_summary(s: &RunSummary, rows: &[hosts::Row]) -> serde_json::Value {
    let (reason, signal) = match s.cancel {
        Some(r) => {
            let (n, sig) = cancel_name(r);
            (Some(n), sig)
        }
        None => (None, None),
    };
    let slowest: Vec<_> = s
        .slowest
        .iter()
        .filter(|r| r.handle.is_some())
        .map(|r| json!({"seq": r.id.0, "duration_ms": ms(r.duration), "command": capped(&r.command)}))
        .collect();
    let failures: Vec<_> = s
        .failures
        .iter()
        .map(|r| {
            json!({
                "seq": r.id.0,
                "outcome": r.outcome.name(),
                "exit_code": r.outcome.exit_code(),
                "signal": r.outcome.signal(),
                "duration_ms": ms(r.duration),
                "attempts": r.attempts,
                "args": r.args.values().iter().map(|v| capped(v)).collect::<Vec<_>>(),
                "args_text": capped(&r.args),
                "command": capped(&r.command),
            })
        })
        .collect();
    let heavy = |list: &[JobRecord]| -> Vec<serde_json::Value> {
        list.iter()
            .filter_map(|r| r.usage.map(|u| (r, u)))
            .map(|(r, u)| {
                json!({
                    "seq": r.id.0,
                    "cpu_user_ms": ms(u.user),
                    "cpu_system_ms": ms(u.system),
                    "max_rss_kib": u.max_rss_kib,
                    "command": capped(&r.command),
                })
            })
            .collect()
    };
    json!({
        // Shaped like a log event, so a JSON log pipeline takes it as one.
        "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
        "level": "INFO",
        "message": "run summary",
        "event": "run_summary",
        "schema_version": SCHEMA_VERSION,
        "total": s.done() + s.skipped,
        "succeeded": s.succeeded,
        "failed": s.failed,
        "timed_out": s.timed_out,
        "cancelled": s.cancelled,
        "flaky": s.flaky,
        "skipped": s.skipped,
        "wall_ms": ms(s.wall),
        "exit_code": s.exit_code,
        "cancel_reason": reason,
        "interrupted_by": signal.map(signal_name),
        "slowest": slowest,
        "failures": failures,
        "cpu_user_ms": ms(s.cpu_user),
        "cpu_system_ms": ms(s.cpu_system),
        "heaviest_cpu": heavy(&s.heaviest_cpu),
        "heaviest_memory": heavy(&s.heaviest_memory),
        "hosts": hosts::json(rows),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;
    use std::time::{Duration, SystemTime};

    fn rec(id: u64, outcome: JobOutcome, ms: u64) -> JobRecord {
        JobRecord {
            id: JobId(id),
            slot: 1,
            args: "a".into(),
            command: format!("cmd {id}").into(),
            outcome,
            start: SystemTime::now(),
            duration: Duration::from_millis(ms),
            attempts: 1,
            stdout_bytes: 0,
            stderr_bytes: 0,
            usage: None,
            place: ":".into(),
            handle: Some(crate::exec::Handle::Pid(1)),
        }
    }

    #[test]
    fn text_names_counts_failures_and_the_interruption() {
        let s = RunSummary {
            wall: Duration::from_millis(3200),
            succeeded: 8,
            failed: 1,
            timed_out: 1,
            slowest: vec![rec(3, JobOutcome::Success, 2100)],
            failures: vec![
                rec(4, JobOutcome::Failed { code: 2 }, 10),
                rec(5, JobOutcome::TimedOut { signal: Some(15) }, 10),
            ],
            cancel: Some(CancelReason::Signal(15)),
            ..Default::default()
        };
        let t = text(&s, &[], false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "fanout: 10 jobs: 8 ok, 1 failed, 1 timed out in 3.2s"
        );
        assert!(t.contains("job 3 took 2.1s: cmd 3"), "{t}");
        assert!(t.contains("job 4 (exit 2): cmd 4"), "{t}");
        assert!(t.contains("job 5 (timed out, SIGTERM): cmd 5"), "{t}");
        assert!(t.ends_with("fanout: interrupted by SIGTERM\n"), "{t}");
        assert!(!t.contains('\x1b'));
    }

    #[test]
    fn json_has_the_counts() {
        let s = RunSummary {
            succeeded: 2,
            failed: 1,
            failures: vec![rec(2, JobOutcome::Signaled { signal: 9 }, 5)],
            exit_code: 1,
            ..Default::default()
        };
        let v = json_summary(&s, &[]);
        assert_eq!(v["total"], 3);
        assert_eq!(v["failures"][0]["signal"], 9);
        assert_eq!(v["failures"][0]["exit_code"], serde_json::Value::Null);
        assert_eq!(v["cancel_reason"], serde_json::Value::Null);
    }
}
