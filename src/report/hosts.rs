//! How the jobs were spread over the places (`-S`/`--slf` hosts, `:` this machine), for the
//! summary and the log events: the store's per-place counts put in the order the places were
//! given, a running tally per place for the `job_finished` events, and their text and JSON.
//! What counts as a job's place is the store's (`JobRecord::place`, the joblog's Host).

use std::fmt::Write as _;
use std::sync::Arc;

use serde_json::json;

use super::progress::human;
use crate::summary::{HostSummary, RunSummary};

/// The run's per-place counts: the configured `places` first, in their order (those that
/// ended no job with zeros: an idle or filtered-out host is part of the spread), then any
/// other place that ended a job, by name.
pub(crate) fn in_order(s: &RunSummary, places: &[Arc<str>]) -> Vec<HostSummary> {
    let mut out: Vec<HostSummary> = places
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
    out.extend(
        s.hosts
            .iter()
            .filter(|h| !places.contains(&h.host))
            .cloned(),
    );
    out
}

/// Whether the per-place counts say more than the totals: there is more than one place, or
/// one that is not this machine. A local run's text stays as it always was.
pub(crate) fn worth_showing(hosts: &[HostSummary]) -> bool {
    match hosts {
        [] => false,
        [one] => &*one.host != ":",
        _ => true,
    }
}

/// One line per place for the text summary, names aligned, each worded like the summary's
/// first line: `  host h1   20 jobs: 20 ok, 0 failed, busy 8.1s`.
pub(crate) fn text(hosts: &[HostSummary], paint: impl Fn(&str, &str) -> String) -> String {
    let width = hosts.iter().map(|h| h.host.len()).max().unwrap_or(0);
    let count = hosts.iter().map(|h| h.done()).max().unwrap_or(0);
    let count_width = count.to_string().len();
    let mut out = String::new();
    for h in hosts {
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
pub(crate) fn json(hosts: &[HostSummary]) -> serde_json::Value {
    hosts
        .iter()
        .map(|h| {
            json!({
                "host": &*h.host,
                "done": h.done(),
                "succeeded": h.succeeded,
                "failed": h.failed,
                "timed_out": h.timed_out,
                "cancelled": h.cancelled,
                "busy_ms": u64::try_from(h.busy.as_millis()).unwrap_or(u64::MAX),
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

    #[test]
    fn configured_places_come_first_in_their_order_idle_ones_with_zeros() {
        let s = RunSummary {
            hosts: vec![host(":", 1, 0, 1), host("h1", 2, 0, 1), host("x", 1, 0, 1)],
            ..RunSummary::default()
        };
        let given: Vec<Arc<str>> = vec!["h2".into(), "h1".into(), ":".into()];
        let names: Vec<(String, u64)> = in_order(&s, &given)
            .iter()
            .map(|h| (h.host.to_string(), h.done()))
            .collect();
        assert_eq!(
            names,
            [
                ("h2".to_string(), 0),
                ("h1".into(), 2),
                (":".into(), 1),
                ("x".into(), 1)
            ]
        );
    }

    #[test]
    fn only_this_machine_is_not_worth_a_line() {
        assert!(!worth_showing(&[]));
        assert!(!worth_showing(&[host(":", 3, 0, 0)]));
        assert!(worth_showing(&[host("h1", 3, 0, 0)]));
        assert!(worth_showing(&[host(":", 3, 0, 0), host("h1", 0, 0, 0)]));
    }

    #[test]
    fn text_aligns_names_and_counts() {
        let mut h2 = host("h2", 9, 1, 2500);
        h2.timed_out = 1;
        let t = text(
            &[host("h1", 12, 0, 8100), h2, host(":", 1, 0, 40)],
            |_, s| s.to_string(),
        );
        assert_eq!(
            t,
            "  host h1 12 jobs: 12 ok, 0 failed, busy 8.1s\n  \
             host h2 11 jobs: 9 ok, 1 failed, 1 timed out, busy 2.5s\n  \
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
