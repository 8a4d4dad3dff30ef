//! How the jobs were spread over the places (`-S`/`--slf` hosts, `:` this machine), for the
//! summary and the log events: the store's per-place counts put in the order the places were
//! given, with the jobs each could not start or lost (from the `PlaceFailed` events), a
//! running tally per place for the `job_finished` events, and their text and JSON.
//! What counts as a job's place is the store's (`JobRecord::place`, the joblog's Host).

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::json;

use super::progress::human;
use crate::summary::{HostSummary, RunSummary};

/// One place's line in the summary and `run_finished`: the store's counts, and the jobs the
/// place could not start or lost with its connection (from the `PlaceFailed` events: the
/// store merges only where a job ended).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Row {
    pub counts: HostSummary,
    pub lost: u64,
}

/// The jobs each place could not start or lost with its connection, counted from the
/// `PlaceFailed` events (each went on to another place, or failed when none was left).
#[derive(Debug, Default)]
pub(crate) struct Lost(Vec<(Arc<str>, u64)>);

impl Lost {
    /// Counts one `PlaceFailed` event.
    pub(crate) fn place_failed(&mut self, place: &Arc<str>) {
        match self.0.iter_mut().find(|(p, _)| p == place) {
            Some((_, n)) => *n += 1,
            None => self.0.push((place.clone(), 1)),
        }
    }

    fn at(&self, place: &str) -> u64 {
        self.0
            .iter()
            .find(|(p, _)| &**p == place)
            .map_or(0, |(_, n)| *n)
    }
}

/// The run's per-place rows: the configured `places` first, in their order (those that
/// ended no job with zeros: an idle or filtered-out host is part of the spread), then any
/// other place that ended a job, by name, then any other that only lost jobs.
pub(crate) fn rows(s: &RunSummary, places: &[Arc<str>], lost: &Lost) -> Vec<Row> {
    let mut counts: Vec<HostSummary> = places
        .iter()
        .map(|p| {
            s.hosts
                .iter()
                .find(|h| h.host == *p)
                .cloned()
                .unwrap_or_else(|| HostSummary {
                    host: p.clone(),
                    ..HostSummary::default()
                })
        })
        .collect();
    counts.extend(
        s.hosts
            .iter()
            .filter(|h| !places.contains(&h.host))
            .cloned(),
    );
    for (p, _) in &lost.0 {
        if !counts.iter().any(|h| h.host == *p) {
            counts.push(HostSummary {
                host: p.clone(),
                ..HostSummary::default()
            });
        }
    }
    counts
        .into_iter()
        .map(|counts| Row {
            lost: lost.at(&counts.host),
            counts,
        })
        .collect()
}

/// Whether the per-place counts say more than the totals: there is more than one place, or
/// one that is not this machine. A local run's text stays as it always was.
pub(crate) fn worth_showing(rows: &[Row]) -> bool {
    match rows {
        [] => false,
        [one] => &*one.counts.host != ":",
        _ => true,
    }
}

/// One line per place for the text summary, names aligned, each worded like the summary's
/// first line: `  host h1 20 jobs: 20 ok, 0 failed, busy 8.1s`; `N lost` when the host
/// could not start or lost some.
pub(crate) fn text(rows: &[Row], paint: impl Fn(&str, &str) -> String) -> String {
    let width = rows.iter().map(|r| r.counts.host.len()).max().unwrap_or(0);
    let count = rows.iter().map(|r| r.counts.done()).max().unwrap_or(0);
    let count_width = count.to_string().len();
    let mut out = String::new();
    for Row { counts: h, lost } in rows {
        let n = h.done();
        let mut parts = vec![paint("32", &format!("{} ok", h.succeeded))];
        let failed = format!("{} failed", h.failed);
        parts.push(if h.failed > 0 {
            paint("31", &failed)
        } else {
            failed
        });
        if h.timed_out > 0 {
            parts.push(paint("31", &format!("{} timed out", h.timed_out)));
        }
        if h.cancelled > 0 {
            parts.push(format!("{} cancelled", h.cancelled));
        }
        if *lost > 0 {
            parts.push(paint("33", &format!("{lost} lost")));
        }
        let _ = writeln!(
            out,
            "  host {:<width$} {n:>count_width$} job{}: {}, busy {}",
            h.host,
            if n == 1 { "" } else { "s" },
            parts.join(", "),
            human(h.busy),
        );
    }
    out
}

/// The per-place counts as the JSON summary's and `run_finished`'s `hosts` array.
pub(crate) fn json(rows: &[Row]) -> serde_json::Value {
    rows.iter()
        .map(|Row { counts: h, lost }| {
            json!({
                "host": &*h.host,
                "done": h.done(),
                "succeeded": h.succeeded,
                "failed": h.failed,
                "timed_out": h.timed_out,
                "cancelled": h.cancelled,
                "busy_ms": u64::try_from(h.busy.as_millis()).unwrap_or(u64::MAX),
                "lost": lost,
            })
        })
        .collect()
}

/// Each place's jobs so far, counted from the `job_finished` events in the order they are
/// logged, so a log pipeline reads a place's progress off its last `job_finished` line: the
/// numbers only grow, line after line, which a count taken at the store (merged in a
/// slightly different order than the events are delivered) would not promise.
#[derive(Debug, Default)]
pub(crate) struct Running {
    places: Vec<(Arc<str>, u64, u64)>,
}

impl Running {
    /// Counts a finished job at `place`; returns that place's jobs done and not successful
    /// (failed, timed out or cancelled: what the bar and the `progress` event call failed),
    /// this one included.
    pub(crate) fn finished(&mut self, place: &Arc<str>, success: bool) -> (u64, u64) {
        let i = match self.places.iter().position(|(p, ..)| p == place) {
            Some(i) => i,
            None => {
                self.places.push((place.clone(), 0, 0));
                self.places.len() - 1
            }
        };
        let (_, done, failed) = &mut self.places[i];
        *done += 1;
        *failed += u64::from(!success);
        (*done, *failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn host(name: &str, ok: u64, failed: u64, busy_ms: u64) -> HostSummary {
        HostSummary {
            host: name.into(),
            succeeded: ok,
            failed,
            busy: Duration::from_millis(busy_ms),
            ..HostSummary::default()
        }
    }

    fn row(counts: HostSummary) -> Row {
        Row { counts, lost: 0 }
    }

    #[test]
    fn configured_places_come_first_in_their_order_idle_ones_with_zeros() {
        let s = RunSummary {
            hosts: vec![host(":", 1, 0, 1), host("h1", 2, 0, 1), host("x", 1, 0, 1)],
            ..RunSummary::default()
        };
        let given: Vec<Arc<str>> = vec!["h2".into(), "h1".into(), ":".into()];
        let mut lost = Lost::default();
        lost.place_failed(&"h2".into());
        lost.place_failed(&"h2".into());
        lost.place_failed(&"y".into());
        let names: Vec<(String, u64, u64)> = rows(&s, &given, &lost)
            .iter()
            .map(|r| (r.counts.host.to_string(), r.counts.done(), r.lost))
            .collect();
        assert_eq!(
            names,
            [
                ("h2".to_string(), 0, 2),
                ("h1".into(), 2, 0),
                (":".into(), 1, 0),
                ("x".into(), 1, 0),
                ("y".into(), 0, 1)
            ]
        );
    }

    #[test]
    fn only_this_machine_is_not_worth_a_line() {
        assert!(!worth_showing(&[]));
        assert!(!worth_showing(&[row(host(":", 3, 0, 0))]));
        assert!(worth_showing(&[row(host("h1", 3, 0, 0))]));
        assert!(worth_showing(&[
            row(host(":", 3, 0, 0)),
            row(host("h1", 0, 0, 0))
        ]));
    }

    #[test]
    fn text_aligns_names_and_counts() {
        let mut h2 = host("h2", 9, 1, 2500);
        h2.timed_out = 1;
        let t = text(
            &[
                row(host("h1", 12, 0, 8100)),
                Row {
                    counts: h2,
                    lost: 3,
                },
                row(host(":", 1, 0, 40)),
            ],
            |_, s| s.to_string(),
        );
        assert_eq!(
            t,
            "  host h1 12 jobs: 12 ok, 0 failed, busy 8.1s\n  \
             host h2 11 jobs: 9 ok, 1 failed, 1 timed out, 3 lost, busy 2.5s\n  \
             host :   1 job: 1 ok, 0 failed, busy 40ms\n"
        );
    }

    #[test]
    fn running_counts_grow_per_place() {
        let mut r = Running::default();
        let (a, b): (Arc<str>, Arc<str>) = ("h1".into(), ":".into());
        assert_eq!(r.finished(&a, true), (1, 0));
        assert_eq!(r.finished(&b, false), (1, 1));
        assert_eq!(r.finished(&a, false), (2, 1));
        assert_eq!(r.finished(&a, true), (3, 1));
    }
}
