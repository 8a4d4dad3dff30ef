//! Reads a run's record into [`Job`]s: a joblog (fanout's or GNU parallel's: a header, then
//! `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`, tab-separated) or
//! fanout's `--results-json` lines. The kind is told by the first line. A torn last line (a
//! crash mid-write) is left out; a bad line anywhere else is an error naming it. When a seq
//! appears more than once (a `--resume` run appends), its last line wins.
//!
//! A joblog says less than a results file: it has no slot, and a job killed by a signal has
//! Exitval -1 (fanout) or 0 (GNU parallel) and the signal, whether or not a timeout sent it;
//! Exitval -1 with Signal 0 is fanout's timed-out job that exited by itself once signalled.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::{Job, Outcome, Run, Source, TimelineError};

/// Reads and parses `path`.
pub(crate) fn read(path: &Path) -> Result<Run, TimelineError> {
    let bytes = std::fs::read(path).map_err(|source| TimelineError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    let (source, parsed) = if text.starts_with("Seq\tHost\tStarttime") {
        (Source::Joblog, joblog(text, path)?)
    } else if text.trim_start().starts_with('{') {
        (Source::Results, results(text, path)?)
    } else {
        return Err(TimelineError::Unrecognised {
            path: path.to_owned(),
        });
    };
    let mut not_started = 0;
    let mut jobs = Vec::with_capacity(parsed.len());
    for job in last_per_seq(parsed) {
        // A job that never started has no place on the time axis (results files give it
        // start 0, the Unix epoch).
        if job.start > 0.0 && job.start.is_finite() && job.duration.is_finite() {
            jobs.push(job);
        } else {
            not_started += 1;
        }
    }
    if jobs.is_empty() {
        return Err(TimelineError::NoJobs {
            path: path.to_owned(),
        });
    }
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    Ok(Run {
        source,
        name,
        jobs,
        not_started,
    })
}

/// Keeps the last record of each seq, in the order of those last records.
fn last_per_seq(jobs: Vec<Job>) -> Vec<Job> {
    let mut last: HashMap<u64, usize> = HashMap::with_capacity(jobs.len());
    for (i, j) in jobs.iter().enumerate() {
        last.insert(j.seq, i);
    }
    if last.len() == jobs.len() {
        return jobs;
    }
    jobs.into_iter()
        .enumerate()
        .filter(|(i, j)| last.get(&j.seq) == Some(i))
        .map(|(_, j)| j)
        .collect()
}

/// The lines after the first that hold something, numbered from 1, and whether each is the
/// file's last.
fn body_lines(text: &str, skip: usize) -> impl Iterator<Item = (usize, &str, bool)> {
    let complete = text.ends_with('\n');
    let count = text.lines().count();
    text.lines()
        .enumerate()
        .skip(skip)
        .map(move |(i, l)| (i + 1, l.trim_end_matches('\r'), i + 1 == count && !complete))
        .filter(|(_, l, _)| !l.trim().is_empty())
}

fn joblog(text: &str, path: &Path) -> Result<Vec<Job>, TimelineError> {
    let mut jobs = Vec::new();
    for (line, body, torn) in body_lines(text, 1) {
        match joblog_line(body) {
            Some(job) => jobs.push(job),
            None if torn => {}
            None => {
                return Err(TimelineError::MalformedJoblog {
                    path: path.to_owned(),
                    line,
                });
            }
        }
    }
    Ok(jobs)
}

/// One joblog line; `None` when its fields are wrong.
fn joblog_line(line: &str) -> Option<Job> {
    let f: Vec<&str> = line.splitn(9, '\t').collect();
    if f.len() != 9 {
        return None;
    }
    let seq = f[0].trim().parse().ok()?;
    let start: f64 = f[2].trim().parse().ok()?;
    let duration: f64 = f[3].trim().parse().ok()?;
    let exitval: i32 = f[6].trim().parse().ok()?;
    let signal: i32 = f[7].trim().parse().ok()?;
    let outcome = match (exitval, signal) {
        (0, 0) => Outcome::Ok,
        (-1, 0) => Outcome::TimedOut,
        (_, 0) => Outcome::Failed,
        _ => Outcome::Signal,
    };
    Some(Job {
        seq,
        host: f[1].trim().to_owned(),
        slot: None,
        start,
        duration: duration.max(0.0),
        outcome,
        exit_code: (exitval >= 0 && signal == 0).then_some(exitval),
        signal: (signal != 0).then_some(signal),
        command: f[8].to_owned(),
    })
}

/// The fields of a `--results-json` line the picture uses; the others (output, args...) are
/// skipped, so the reader keeps working as fields are added.
#[derive(Deserialize)]
struct ResultLine {
    seq: u64,
    #[serde(default)]
    slot: u32,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    start: f64,
    #[serde(default)]
    duration_ms: f64,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    signal: Option<i32>,
    #[serde(default)]
    command: String,
}

fn results(text: &str, path: &Path) -> Result<Vec<Job>, TimelineError> {
    let mut jobs = Vec::new();
    for (line, body, torn) in body_lines(text, 0) {
        match serde_json::from_str::<ResultLine>(body) {
            Ok(r) => jobs.push(Job {
                seq: r.seq,
                host: r.host.unwrap_or_else(|| ":".to_owned()),
                slot: (r.slot > 0).then_some(r.slot),
                start: r.start,
                duration: r.duration_ms.max(0.0) / 1000.0,
                outcome: outcome_named(&r.outcome, r.exit_code),
                exit_code: r.exit_code,
                signal: r.signal,
                command: r.command,
            }),
            Err(_) if torn => {}
            Err(source) => {
                return Err(TimelineError::MalformedResults {
                    path: path.to_owned(),
                    line,
                    source,
                });
            }
        }
    }
    Ok(jobs)
}

/// A results file's `outcome`; one this version does not know is told by its exit code.
fn outcome_named(name: &str, exit_code: Option<i32>) -> Outcome {
    match name {
        "success" => Outcome::Ok,
        "failed" | "spawn_failed" => Outcome::Failed,
        "signaled" => Outcome::Signal,
        "timed_out" => Outcome::TimedOut,
        "cancelled" => Outcome::Cancelled,
        _ if exit_code == Some(0) => Outcome::Ok,
        _ => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

    fn write(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("in");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn a_gnu_parallel_joblog_with_padding_and_a_torn_last_line() {
        let text = format!(
            "{HEADER}1\t:\t1700000000.000\t     1.500\t0\t2\t0\t0\techo a\n\
             2\tserver1\t1700000000.250\t     0.100\t0\t0\t3\t0\tfalse\tx\n\
             3\t:\t1700000001.000\t     2.000\t0\t0\t-1\t15\tsleep 9\n\
             4\t:\t1700000001"
        );
        let (_d, p) = write(&text);
        let run = read(&p).unwrap();
        assert_eq!(run.source, Source::Joblog);
        assert_eq!(run.jobs.len(), 3);
        let j = &run.jobs[1];
        assert_eq!(
            (j.seq, j.host.as_str(), j.exit_code),
            (2, "server1", Some(3))
        );
        assert_eq!(j.outcome, Outcome::Failed);
        assert_eq!(j.command, "false\tx", "the command keeps its tabs");
        assert_eq!(run.jobs[2].outcome, Outcome::Signal);
        assert_eq!(run.jobs[2].signal, Some(15));
        assert!((run.jobs[0].duration - 1.5).abs() < 1e-9);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_named() {
        let text = format!(
            "{HEADER}1\t:\t1.0\t1.0\t0\t0\t0\t0\ta\nnonsense\n2\t:\t1.0\t1.0\t0\t0\t0\t0\tb\n"
        );
        let (_d, p) = write(&text);
        let e = read(&p).unwrap_err();
        assert!(
            matches!(e, TimelineError::MalformedJoblog { line: 3, .. }),
            "{e}"
        );
    }

    #[test]
    fn results_lines_keep_the_last_per_seq_and_count_jobs_that_never_ran() {
        let text = "{\"seq\":1,\"slot\":1,\"host\":\":\",\"start\":100.5,\"duration_ms\":250,\"outcome\":\"failed\",\"exit_code\":1,\"signal\":null,\"command\":\"x\",\"stdout\":\"\"}\n\
                    {\"seq\":2,\"slot\":0,\"start\":0,\"duration_ms\":0,\"outcome\":\"cancelled\",\"exit_code\":null,\"signal\":null,\"command\":\"y\"}\n\
                    {\"seq\":1,\"slot\":2,\"host\":\":\",\"start\":101.0,\"duration_ms\":10,\"outcome\":\"success\",\"exit_code\":0,\"signal\":null,\"command\":\"x\"}\n";
        let (_d, p) = write(text);
        let run = read(&p).unwrap();
        assert_eq!(run.source, Source::Results);
        assert_eq!(run.not_started, 1);
        assert_eq!(run.jobs.len(), 1);
        assert_eq!(run.jobs[0].slot, Some(2));
        assert_eq!(run.jobs[0].outcome, Outcome::Ok);
        assert!((run.jobs[0].duration - 0.01).abs() < 1e-9);
    }

    #[test]
    fn other_files_are_refused() {
        let (_d, p) = write("hello\n");
        assert!(matches!(read(&p), Err(TimelineError::Unrecognised { .. })));
        let (_d, p) = write(HEADER);
        assert!(matches!(read(&p), Err(TimelineError::NoJobs { .. })));
    }
}
