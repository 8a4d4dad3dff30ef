//! Progress: an indicatif bar on stderr (done/total, running, failed, elapsed, rate, ETA) when
//! one is wanted, else a plain `progress` log line at info level on every session tick
//! (`--progress-interval`), so a long run in CI or a container shows life in its log.
//!
//! The bar is redrawn at most every [`REDRAW`] from counters kept here, not once per job; the
//! session's ticks keep it fresh when no event comes. An in-memory input's total comes with
//! `RunStarted`, a regular file's with `InputCounted` (counted in the background); while a
//! pipe is still being read the total is unknown: the bar is a spinner with the counts (the
//! plain line shows the lower bound with a `+`), and `InputDone` settles it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::bar::Bar;
use super::bar_layout::BarParts;
use super::events::RunEvent;
use super::options::ReportOptions;
use super::{ReportError, Reporter};

/// The shortest time between two redraws of the bar.
pub const REDRAW: Duration = Duration::from_millis(100);
/// How often the session ticks while a bar is shown.
pub const BAR_TICK: Duration = Duration::from_millis(100);

/// The progress reporter.
pub(crate) struct ProgressReporter {
    bar: Option<Bar>,
    t0: Instant,
    done: u64,
    failed: u64,
    /// The highest seq seen: a lower bound of the total while the input is read.
    seen: u64,
    skipped: u64,
    /// The number of jobs to run, once the input is read.
    total: Option<u64>,
    /// The number of jobs a background count of the input file found, before it is read.
    counted: Option<u64>,
    running: HashSet<u64>,
    dirty: bool,
    last_draw: Option<Instant>,
    finished: bool,
}

impl ProgressReporter {
    /// `bar` is the bar to drive, or none for the log line.
    pub fn new(bar: Option<Bar>, _options: &ReportOptions) -> ProgressReporter {
        let reporter = ProgressReporter {
            bar,
            t0: Instant::now(),
            done: 0,
            failed: 0,
            seen: 0,
            skipped: 0,
            total: None,
            counted: None,
            running: HashSet::new(),
            dirty: true,
            last_draw: None,
            finished: false,
        };
        if let Some(bar) = &reporter.bar {
            bar.show(reporter.parts());
        }
        reporter
    }

    /// The total so far and whether it is final.
    fn total(&self) -> (u64, bool) {
        let known = self.done + self.running.len() as u64;
        match self.total.or(self.counted) {
            Some(t) => (t.max(known), true),
            None => (self.seen.saturating_sub(self.skipped).max(known), false),
        }
    }

    /// What the bar shows.
    fn parts(&self) -> BarParts {
        let (total, fin) = self.total();
        BarParts {
            done: self.done,
            total: fin.then_some(total),
            running: self.running.len() as u64,
            failed: self.failed,
            rate: self.rate(),
            eta: self.eta(),
        }
    }

    fn rate(&self) -> f64 {
        let secs = self.t0.elapsed().as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }

    fn eta(&self) -> Option<Duration> {
        let (total, fin) = self.total();
        let rate = self.rate();
        (fin && rate > 0.0)
            .then(|| Duration::from_secs_f64(total.saturating_sub(self.done) as f64 / rate))
    }

    fn message(&self) -> String {
        let (total, fin) = self.total();
        let eta = match self.eta() {
            Some(d) => human(d),
            None => "?".into(),
        };
        format!(
            "{}/{}{} done, {} running, {} failed, {:.1}/s, ETA {}",
            self.done,
            total,
            if fin { "" } else { "+" },
            self.running.len(),
            self.failed,
            self.rate(),
            eta
        )
    }

    /// Redraws the bar if something changed, at most every [`REDRAW`] unless `now`.
    fn draw(&mut self, now: bool) {
        let Some(bar) = &self.bar else { return };
        let due = self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW);
        if self.dirty && (now || due) {
            bar.show(self.parts());
            self.dirty = false;
            self.last_draw = Some(Instant::now());
        } else {
            // Moves the spinner and the elapsed time.
            bar.tick();
        }
    }

    fn log_line(&self) {
        let (total, fin) = self.total();
        tracing::info!(
            event = "progress",
            done = self.done,
            total = total,
            total_final = fin,
            running = self.running.len() as u64,
            failed = self.failed,
            elapsed_ms = self.t0.elapsed().as_millis() as u64,
            rate_per_s = (self.rate() * 100.0).round() / 100.0,
            eta_ms = self.eta().map(|d| d.as_millis() as u64),
            "progress: {}",
            self.message()
        );
    }
}

impl Reporter for ProgressReporter {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        match event {
            RunEvent::RunStarted { skipped, total, .. } => {
                self.t0 = Instant::now();
                self.skipped = *skipped;
                // In-memory input (`:::`): the total is final from the start, and so the ETA.
                if let Some(total) = total {
                    self.total = Some(total.saturating_sub(*skipped));
                    self.dirty = true;
                }
            }
            RunEvent::InputCounted { total } if self.total.is_none() => {
                self.counted = Some(total.saturating_sub(self.skipped));
                self.dirty = true;
                self.draw(true);
            }
            RunEvent::InputDone { total } => {
                self.total = Some(total.saturating_sub(self.skipped));
                self.dirty = true;
                self.draw(true);
            }
            RunEvent::JobStarted { id, .. } => {
                self.seen = self.seen.max(id.0);
                self.running.insert(id.0);
                self.dirty = true;
            }
            RunEvent::JobRetrying { record, .. } => {
                self.running.remove(&record.id.0);
                self.dirty = true;
            }
            RunEvent::JobFinished { record, .. } => {
                self.seen = self.seen.max(record.id.0);
                self.running.remove(&record.id.0);
                self.done += 1;
                if !record.outcome.is_success() {
                    self.failed += 1;
                }
                self.dirty = true;
            }
            // The rate and the ETA count only the time the jobs could run.
            RunEvent::Continued { stopped_for } => self.t0 += *stopped_for,
            // A tick can slip in after the end, before the session stops the ticker.
            RunEvent::Tick if self.finished => {}
            RunEvent::Tick => match self.bar {
                Some(_) => self.draw(false),
                None => self.log_line(),
            },
            RunEvent::RunFinished { .. } => {
                self.finished = true;
                if let Some(bar) = self.bar.take() {
                    bar.finish();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ReportError> {
        self.draw(false);
        Ok(())
    }
}

/// A short human duration: `950ms`, `3.2s`, `4m05s`, `2h03m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{}ms", d.as_millis())
    } else if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        let s = s as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = s as u64 / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;

    #[test]
    fn humans() {
        assert_eq!(human(Duration::from_millis(950)), "950ms");
        assert_eq!(human(Duration::from_millis(3200)), "3.2s");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_secs(7380)), "2h03m");
    }

    #[test]
    fn the_total_grows_until_the_input_is_read() {
        let mut p = ProgressReporter::new(None, &Default::default());
        for seq in 1..=3 {
            p.on_event(&RunEvent::JobStarted {
                id: JobId(seq),
                slot: 1,
                place: ":".into(),
                handle: crate::exec::Handle::Pid(1),
                attempt: 1,
                args: "a".into(),
                arg_values: None,
                command: "c".into(),
            })
            .unwrap();
        }
        assert_eq!(p.total(), (3, false));
        assert!(
            p.message().starts_with("0/3+ done, 3 running"),
            "{}",
            p.message()
        );
        assert_eq!(p.parts().total, None, "no fake total for the bar");
        p.on_event(&RunEvent::InputCounted { total: 6 }).unwrap();
        assert_eq!(p.total(), (6, true));
        assert_eq!(p.parts().total, Some(6));
        p.on_event(&RunEvent::InputDone { total: 5 }).unwrap();
        assert_eq!(p.total(), (5, true));
        assert!(p.message().starts_with("0/5 done"), "{}", p.message());
    }
}
