//! Merging a crowded row's bars into runs of busy time. A picture of 100,000 jobs cannot hold
//! 100,000 bars (the file would be tens of megabytes and a browser would crawl), nor show them:
//! most would be under a pixel. At merge width `r`, a bar thinner than `r` pixels joins the run
//! before it when the gap between them is under `r` pixels, and a run takes the colour of its
//! worst job ([`Outcome`]'s order). A run of one colour grows freely; a job of another colour
//! starts a new run unless both are thin, so a failure among thousands of successes still shows
//! as a sliver of about `r` pixels in its own colour. A run of one job is that job's own bar.
//! The layout picks `r`; this file only merges.

use super::layout::{Geometry, MIN_BAR_PX, Mark};
use super::{Job, Outcome};

/// The runs of busy time at merge width `r`, row by row (`lanes` holds each row's jobs in
/// start order).
pub(super) fn merged(jobs: &[Job], lanes: &[Vec<usize>], geo: &Geometry, r: f64) -> Vec<Mark> {
    let mut marks = Vec::new();
    for (row, lane) in lanes.iter().enumerate() {
        let mut acc: Option<Acc> = None;
        for &i in lane {
            let job = &jobs[i];
            let (x0, x1) = (geo.x(job.start), geo.x(job.end()));
            if let Some(a) = acc.as_mut() {
                let thin = x1 - x0 < r;
                let thin_run = a.x1 - a.x0 < r;
                if x0 - a.x1 < r
                    && (thin || thin_run)
                    && (job.outcome == a.worst || (thin && thin_run))
                {
                    a.add(job, x1);
                    continue;
                }
                marks.push(acc.take().expect("just matched").finish(jobs, geo, row));
            }
            acc = Some(Acc::new(i, job, x0, x1));
        }
        if let Some(a) = acc {
            marks.push(a.finish(jobs, geo, row));
        }
    }
    marks
}

/// A run being merged.
struct Acc {
    first: usize,
    x0: f64,
    x1: f64,
    worst: Outcome,
    count: usize,
    counts: [usize; 5],
    busy: f64,
    seqs: (u64, u64),
}

impl Acc {
    fn new(i: usize, job: &Job, x0: f64, x1: f64) -> Acc {
        let mut counts = [0; 5];
        counts[job.outcome as usize] += 1;
        Acc {
            first: i,
            x0,
            x1,
            worst: job.outcome,
            count: 1,
            counts,
            busy: job.duration,
            seqs: (job.seq, job.seq),
        }
    }

    fn add(&mut self, job: &Job, x1: f64) {
        self.x1 = self.x1.max(x1);
        self.worst = self.worst.max(job.outcome);
        self.count += 1;
        self.counts[job.outcome as usize] += 1;
        self.busy += job.duration;
        self.seqs = (self.seqs.0.min(job.seq), self.seqs.1.max(job.seq));
    }

    fn finish(self, jobs: &[Job], geo: &Geometry, row: usize) -> Mark {
        if self.count == 1 {
            return geo.single(&jobs[self.first], row);
        }
        let parts: Vec<String> = Outcome::ALL
            .iter()
            .filter(|&&o| self.counts[o as usize] > 0)
            .map(|&o| format!("{} {}", self.counts[o as usize], o.label()))
            .collect();
        let (from, to) = (self.x0 / geo.px_per_s, self.x1 / geo.px_per_s);
        Mark {
            row,
            x: self.x0,
            w: (self.x1 - self.x0).max(MIN_BAR_PX),
            outcome: self.worst,
            seq: None,
            jobs: self.count,
            title: format!(
                "{} jobs (seq {} to {}): {}\nbusy {:.3} s between {from:.3} s and {to:.3} s",
                self.count,
                self.seqs.0,
                self.seqs.1,
                parts.join(", "),
                self.busy
            ),
        }
    }
}
