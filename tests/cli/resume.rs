//! `--resume` and `--resume-failed` from the joblog: a run killed with SIGKILL resumed
//! without running a finished job twice, a torn last line never trusted, failed jobs run
//! again on request, and jobs that fanout itself ended (a signal) run again.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::*;

fn seqs(n: u32) -> Vec<String> {
    (1..=n).map(|i| i.to_string()).collect()
}

/// How many times each seq appears in a side file with lines `WHAT SEQ`.
fn counts(side: &Path, what: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for l in lines_of(side) {
        if let Some(seq) = l.strip_prefix(what).and_then(|r| r.trim().parse().ok()) {
            *m.entry(seq).or_default() += 1;
        }
    }
    m
}

/// A job that logs `start SEQ` and `done SEQ` around a short sleep.
fn side_job(dir: &Dir) -> (PathBuf, PathBuf) {
    let side = dir.join("side");
    let job = dir.script(
        "job.sh",
        &format!(
            "echo \"start $FANOUT_SEQ\" >> {side}; sleep 0.15; echo \"done $FANOUT_SEQ\" >> {side}",
            side = s(&side)
        ),
    );
    (job, side)
}

/// fanout in the background, its output discarded.
fn start_quiet(args: &[&str], values: &[String]) -> Child {
    fanout_cmd()
        .args(args)
        .args(values)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_run_killed_with_sigkill_resumes_and_runs_no_finished_job_twice() {
    let dir = Dir::new();
    let (job, side) = side_job(&dir);
    let jl = dir.join("jl");
    let mut child = start_quiet(
        &["--no-summary", "-j4", "--joblog", s(&jl), s(&job), ":::"],
        &seqs(40),
    );
    let started = wait_until(Duration::from_secs(30), || joblog_rows(&jl).len() >= 10);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "ten jobs finished");
    // The jobs running at the kill are ended by fanout's guard (orphans.rs), and the resume
    // waits until nothing of the killed run is left.
    let first: HashSet<String> = joblog_rows(&jl).into_iter().map(|r| r[0].clone()).collect();
    assert!(first.len() >= 10 && first.len() < 40, "{first:?}");

    fanout()
        .args([
            "--no-summary",
            "-j4",
            "--resume",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
        ])
        .args(seqs(40))
        .assert()
        .success();
    let done = counts(&side, "done");
    let start = counts(&side, "start");
    for seq in 1..=40u64 {
        assert!(
            done.get(&seq).is_some_and(|&n| n >= 1),
            "job {seq} completed"
        );
        if first.contains(&seq.to_string()) {
            assert_eq!(start[&seq], 1, "job {seq} was in the joblog and ran again");
        }
    }
    let mut logged: Vec<u64> = joblog_rows(&jl)
        .iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    logged.sort();
    assert_eq!(
        logged,
        (1..=40).collect::<Vec<_>>(),
        "each job once in the joblog"
    );
}

#[test]
fn a_torn_last_line_is_cut_and_its_job_runs_again() {
    let dir = Dir::new();
    let (job, side) = side_job(&dir);
    let jl = dir.join("jl");
    let run = |resume: bool| {
        let mut cmd = fanout();
        cmd.args(["--no-summary", "-j1", "--joblog", s(&jl)]);
        if resume {
            cmd.arg("--resume");
        }
        cmd.args([s(&job), ":::"]).args(seqs(5)).assert().success();
    };
    run(false);
    // A crash in the middle of writing job 5's line.
    let text = std::fs::read_to_string(&jl).unwrap();
    let cut = text.trim_end().len() - 6;
    std::fs::write(&jl, &text[..cut]).unwrap();
    run(true);
    assert_eq!(counts(&side, "start")[&5], 2, "job 5 ran again");
    assert!((1..5).all(|seq| counts(&side, "start")[&seq] == 1));
    let after = std::fs::read_to_string(&jl).unwrap();
    assert!(after.starts_with(&text[..text.rfind("\n5\t").unwrap() + 1]));
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 5, "{after}");
    assert!(
        rows.iter().all(|r| r.len() == 9),
        "no torn line left: {after}"
    );

    // A header torn before any job ended: nothing is done, everything runs.
    std::fs::write(&jl, "Seq\tHost\tStart").unwrap();
    std::fs::remove_file(&side).unwrap();
    run(true);
    assert_eq!(counts(&side, "done").len(), 5);
    assert_eq!(joblog_rows(&jl).len(), 5);
}

#[test]
fn resume_skips_logged_jobs_and_resume_failed_reruns_the_failed_ones() {
    let dir = Dir::new();
    let side = dir.join("side");
    // Fails the first time it runs for an odd value.
    let job = dir.script(
        "job.sh",
        &format!(
            "echo \"start $1\" >> {side}; [ $(( $1 % 2 )) = 0 ] || [ $(grep -c \"^start $1$\" {side}) -gt 1 ]",
            side = s(&side)
        ),
    );
    let jl = dir.join("jl");
    let run = |flag: Option<&str>, code: i32| {
        let mut cmd = fanout();
        cmd.args(["--no-summary", "--joblog", s(&jl)]);
        cmd.args(flag);
        cmd.args([s(&job), ":::"]).args(seqs(4)).assert().code(code);
    };
    // A first run may already say --resume: a missing joblog means nothing is done yet.
    run(Some("--resume"), 2);
    run(Some("--resume"), 0);
    assert_eq!(
        counts(&side, "start").values().sum::<usize>(),
        4,
        "--resume ran nothing"
    );
    run(Some("--resume-failed"), 0);
    let c = counts(&side, "start");
    assert_eq!((c[&1], c[&2], c[&3], c[&4]), (2, 1, 2, 1));
    // --resume needs the joblog.
    fanout()
        .args(["--resume", "true", ":::", "a"])
        .assert()
        .code(255);
}

#[test]
fn jobs_ended_by_a_signal_run_again_on_resume() {
    let dir = Dir::new();
    let side = dir.join("side");
    let job = dir.script(
        "job.sh",
        &format!(
            "echo \"start $1\" >> {side}; [ \"$1\" = 1 ] || exec sleep 60; echo \"done $1\" >> {side}",
            side = s(&side)
        ),
    );
    let jl = dir.join("jl");
    let values = seqs(3);
    let child = start_quiet(
        &["--no-summary", "-j2", "--joblog", s(&jl), s(&job), ":::"],
        &values,
    );
    let ready = wait_until(Duration::from_secs(30), || {
        counts(&side, "start").len() == 3 && !joblog_rows(&jl).is_empty()
    });
    signal(&child, Signal::SIGTERM);
    let status = wait_bounded(child, Duration::from_secs(30));
    assert!(ready && status.is_some());
    assert_eq!(status.unwrap().code(), Some(143));
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 1, "only the finished job is logged: {rows:?}");
    // The resumed run starts the two ended jobs again (and is interrupted the same way).
    let child = start_quiet(
        &[
            "--no-summary",
            "-j2",
            "--resume",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
        ],
        &values,
    );
    let rerun = wait_until(Duration::from_secs(30), || {
        counts(&side, "start").values().sum::<usize>() == 5
    });
    // SIGTERM, not SIGKILL: fanout ends its jobs rather than leaving them behind.
    signal(&child, Signal::SIGTERM);
    let _ = wait_bounded(child, Duration::from_secs(30));
    assert!(rerun, "{:?}", counts(&side, "start"));
    assert_eq!(counts(&side, "start")[&1], 1);
}
