//! Puts a run's jobs on rows and into pixels: the [`Chart`] the writers draw, with no markup
//! in it. Rows are the results file's (host, slot) pairs; a joblog has no slot column, so its
//! jobs are packed per host into the fewest lanes that hold them without overlap (greedy by
//! start time, each job into the lowest lane free by then: interval partitioning, which is
//! optimal). Each job is one bar from its start to its end, at least [`MIN_BAR_PX`] wide.
//!
//! When the jobs are more than [`BUDGET`], or a row has more bars than pixels, neighbouring
//! bars are merged into runs of busy time (`merge`), at a merge width that starts at 2 pixels
//! and doubles until the shapes fit the budget.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::merge;
use super::{Job, Outcome, Run, Source};

/// The most shapes (bars and runs) a picture holds, which keeps it under about 3 MB.
pub(crate) const BUDGET: usize = 8_000;
/// The narrowest a bar is drawn, so a job of a millisecond is still seen.
pub(crate) const MIN_BAR_PX: f64 = 1.0;
/// The width of the plot area.
const PLOT_W: f64 = 1200.0;
/// Commands are cut to this many characters in titles.
const COMMAND_CHARS: usize = 100;

/// One row of the chart.
#[derive(Debug)]
pub(crate) struct Row {
    /// The place its jobs ran on.
    pub host: String,
    /// Its slot (results files) or lane (joblogs), counted from 1.
    pub number: u32,
}

/// One shape: a job's bar, or a run of merged jobs.
#[derive(Debug)]
pub(crate) struct Mark {
    /// The row it is on.
    pub row: usize,
    /// Its left edge and width, in pixels from the plot's left edge.
    pub x: f64,
    /// Its width in pixels.
    pub w: f64,
    /// Its colour: the job's outcome, or the worst of the run.
    pub outcome: Outcome,
    /// The job's seq, for a single job; `None` for a run.
    pub seq: Option<u64>,
    /// How many jobs it stands for.
    pub jobs: usize,
    /// Its tooltip text (plain text; the writers escape it).
    pub title: String,
}

/// The whole picture, in pixels and plain text.
#[derive(Debug)]
pub(crate) struct Chart {
    /// The input's name.
    pub name: String,
    /// Where the jobs came from.
    pub source: Source,
    /// The rows, top to bottom, grouped by host.
    pub rows: Vec<Row>,
    /// Whether the rows are slots (else packed lanes).
    pub slots: bool,
    /// Whether more than one host ran jobs.
    pub hosts: usize,
    /// The bars and runs.
    pub marks: Vec<Mark>,
    /// The plot's width in pixels.
    pub plot_w: f64,
    /// Pixels per second.
    pub px_per_s: f64,
    /// Seconds from the first start to the last end.
    pub span: f64,
    /// The first start, seconds since the Unix epoch.
    pub t0: f64,
    /// Axis ticks: seconds since `t0`.
    pub ticks: Vec<f64>,
    /// Decimals for tick labels.
    pub tick_decimals: usize,
    /// Jobs drawn, per outcome (in [`Outcome::ALL`]'s order, zero counts left out).
    pub counts: Vec<(Outcome, usize)>,
    /// All jobs drawn.
    pub total: usize,
    /// Jobs in the file that never started.
    pub not_started: usize,
    /// The merge width in pixels, when bars were merged.
    pub merged_px: Option<f64>,
}

/// Lays out `run`.
pub(crate) fn layout(run: &Run) -> Chart {
    let t0 = run
        .jobs
        .iter()
        .map(|j| j.start)
        .fold(f64::INFINITY, f64::min);
    let t1 = run
        .jobs
        .iter()
        .map(Job::end)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = (t1 - t0).max(0.001);
    let px_per_s = PLOT_W / span;
    let slots = run.jobs.iter().all(|j| j.slot.is_some());
    let (rows, lanes) = assign_rows(&run.jobs, slots);
    let hosts = rows
        .iter()
        .map(|r| r.host.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let geo = Geometry { t0, px_per_s };
    let crowded = run.jobs.len() > BUDGET || lanes.iter().any(|l| l.len() as f64 > PLOT_W);
    let (marks, merged_px) = if crowded {
        let mut r = 2.0;
        loop {
            let marks = merge::merged(&run.jobs, &lanes, &geo, r);
            if marks.len() <= BUDGET || r >= PLOT_W {
                break (marks, Some(r));
            }
            r *= 2.0;
        }
    } else {
        let marks = lanes
            .iter()
            .enumerate()
            .flat_map(|(row, lane)| lane.iter().map(move |&i| (row, i)))
            .map(|(row, i)| geo.single(&run.jobs[i], row))
            .collect();
        (marks, None)
    };
    let (ticks, tick_decimals) = ticks(span);
    let counts = Outcome::ALL
        .iter()
        .map(|&o| (o, run.jobs.iter().filter(|j| j.outcome == o).count()))
        .filter(|&(_, n)| n > 0)
        .collect();
    Chart {
        name: run.name.clone(),
        source: run.source,
        rows,
        slots,
        hosts,
        marks,
        plot_w: PLOT_W,
        px_per_s,
        span,
        t0,
        ticks,
        tick_decimals,
        counts,
        total: run.jobs.len(),
        not_started: run.not_started,
        merged_px,
    }
}

/// The rows, and per row the indices of its jobs in start order.
fn assign_rows(jobs: &[Job], slots: bool) -> (Vec<Row>, Vec<Vec<usize>>) {
    let mut by_host: BTreeMap<(bool, &str), Vec<usize>> = BTreeMap::new();
    for (i, j) in jobs.iter().enumerate() {
        // This machine (`:`) first, then the hosts by name.
        by_host.entry((j.host != ":", &j.host)).or_default().push(i);
    }
    let mut rows = Vec::new();
    let mut lanes = Vec::new();
    for ((_, host), mut idx) in by_host {
        idx.sort_by(|&a, &b| jobs[a].start.total_cmp(&jobs[b].start));
        let host_lanes: BTreeMap<u32, Vec<usize>> = if slots {
            let mut m: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for i in idx {
                m.entry(jobs[i].slot.unwrap_or(0)).or_default().push(i);
            }
            m
        } else {
            pack(jobs, &idx)
        };
        for (number, lane) in host_lanes {
            rows.push(Row {
                host: host.to_owned(),
                number,
            });
            lanes.push(lane);
        }
    }
    (rows, lanes)
}

/// Packs jobs (in start order) into the fewest lanes without overlap, numbered from 1: each
/// job goes into the lowest-numbered lane free at its start. Joblog times are rounded to the
/// millisecond, so a job may seem to start up to a millisecond before its slot's last job
/// ended; that still counts as free.
fn pack(jobs: &[Job], idx: &[usize]) -> BTreeMap<u32, Vec<usize>> {
    const SLACK: f64 = 0.0015;
    let mut lanes: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    let mut busy: BinaryHeap<Reverse<(OrdF64, u32)>> = BinaryHeap::new();
    let mut free: BTreeSet<u32> = BTreeSet::new();
    for &i in idx {
        let job = &jobs[i];
        while let Some(Reverse((end, lane))) = busy.peek().copied()
            && end.0 <= job.start + SLACK
        {
            busy.pop();
            free.insert(lane);
        }
        let lane = free.pop_first().unwrap_or(lanes.len() as u32 + 1);
        lanes.entry(lane).or_default().push(i);
        busy.push(Reverse((OrdF64(job.end()), lane)));
    }
    lanes
}

/// An `f64` that sorts (times are finite: the parser drops the others).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Seconds to pixels.
pub(super) struct Geometry {
    /// The first start, seconds since the Unix epoch: x = 0.
    pub t0: f64,
    /// Pixels per second.
    pub px_per_s: f64,
}

impl Geometry {
    /// The x of time `t` (epoch seconds).
    pub(super) fn x(&self, t: f64) -> f64 {
        (t - self.t0) * self.px_per_s
    }

    /// One job's bar.
    pub(super) fn single(&self, job: &Job, row: usize) -> Mark {
        Mark {
            row,
            x: self.x(job.start),
            w: (job.duration * self.px_per_s).max(MIN_BAR_PX),
            outcome: job.outcome,
            seq: Some(job.seq),
            jobs: 1,
            title: job_title(job, job.start - self.t0),
        }
    }
}

/// The text of a job's tooltip: seq, outcome, exit code or signal, duration, command.
fn job_title(job: &Job, at: f64) -> String {
    let how = match (job.outcome, job.exit_code, job.signal) {
        (Outcome::Ok, _, _) => "ok (exit 0)".to_owned(),
        (o, _, Some(sig)) => format!("{} ({})", o.label(), signal_name(sig)),
        (o, Some(code), None) => format!("{} (exit {code})", o.label()),
        (o, None, None) => o.label().to_owned(),
    };
    let mut command: String = job.command.chars().take(COMMAND_CHARS).collect();
    if command.len() < job.command.len() {
        command.push('…');
    }
    format!(
        "job {}: {how}, {:.3} s, from {at:.3} s, on {}\n{command}",
        job.seq, job.duration, job.host
    )
}

/// `SIGTERM` for 15; the number for a signal this system does not name.
fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map_or_else(|_| format!("signal {sig}"), |s| s.as_str().to_owned())
}

/// About ten round ticks (1, 2 or 5 times a power of ten seconds) from 0 to `span`, and the
/// decimals their labels need.
fn ticks(span: f64) -> (Vec<f64>, usize) {
    let raw = span / 10.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    // The epsilon keeps a tick at the very end (0.35 / 0.05 is 6.999...).
    let n = (span / step + 1e-9).floor() as usize;
    ((0..=n).map(|k| k as f64 * step).collect(), decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(seq: u64, start: f64, duration: f64, outcome: Outcome) -> Job {
        Job {
            seq,
            host: ":".into(),
            slot: None,
            start,
            duration,
            outcome,
            exit_code: None,
            signal: None,
            command: format!("job {seq}"),
        }
    }

    fn run(jobs: Vec<Job>) -> Run {
        Run {
            source: Source::Joblog,
            name: "t".into(),
            jobs,
            not_started: 0,
        }
    }

    #[test]
    fn packing_uses_the_fewest_lanes_and_the_lowest_free_one() {
        // Two at a time: 1 and 2 overlap, 3 starts when 1 has ended (a millisecond early, as
        // rounding may have it), 4 when 2 has.
        let r = run(vec![
            job(1, 100.0, 1.0, Outcome::Ok),
            job(2, 100.5, 1.0, Outcome::Ok),
            job(3, 100.999, 1.0, Outcome::Ok),
            job(4, 101.6, 0.1, Outcome::Ok),
        ]);
        let c = layout(&r);
        assert_eq!(c.rows.len(), 2);
        let row_of = |seq| c.marks.iter().find(|m| m.seq == Some(seq)).unwrap().row;
        assert_eq!([row_of(1), row_of(2), row_of(3), row_of(4)], [0, 1, 0, 1]);
        assert!(c.merged_px.is_none());
    }

    #[test]
    fn bars_are_placed_by_start_and_duration() {
        let c = layout(&run(vec![
            job(1, 10.0, 2.0, Outcome::Ok),
            job(2, 11.0, 1.0, Outcome::Failed),
        ]));
        let b = c.marks.iter().find(|m| m.seq == Some(2)).unwrap();
        assert!((c.px_per_s - PLOT_W / 2.0).abs() < 1e-9);
        assert!((b.x - PLOT_W / 2.0).abs() < 1e-9 && (b.w - PLOT_W / 2.0).abs() < 1e-9);
        assert!(b.title.starts_with("job 2: failed"), "{}", b.title);
    }

    #[test]
    fn many_jobs_merge_into_runs_that_keep_a_failure_visible() {
        let mut jobs: Vec<Job> = (0..50_000)
            .map(|k| job(k + 1, 1000.0 + k as f64 * 0.01, 0.01, Outcome::Ok))
            .collect();
        jobs[25_000].outcome = Outcome::Failed;
        let c = layout(&run(jobs));
        assert_eq!(c.rows.len(), 1);
        assert!(c.merged_px.is_some());
        assert!(c.marks.len() <= 5, "{} marks", c.marks.len());
        assert_eq!(c.marks.iter().map(|m| m.jobs).sum::<usize>(), 50_000);
        let red: Vec<_> = c
            .marks
            .iter()
            .filter(|m| m.outcome == Outcome::Failed)
            .collect();
        assert_eq!(red.len(), 1);
        assert!(
            red[0].w < 3.0,
            "the failure is a sliver, not the whole row: {}",
            red[0].w
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(ticks(10.0), ((0..=10).map(f64::from).collect(), 0));
        let (t, d) = ticks(0.35);
        assert_eq!(d, 2);
        assert_eq!(t.len(), 8);
        assert_eq!(ticks(95.0).0[1], 10.0);
    }
}
