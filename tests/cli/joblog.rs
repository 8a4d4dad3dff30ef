//! The joblog and resume: GNU parallel's format, a line flushed as each job ends, a run killed
//! with SIGKILL resumed without running a finished job twice, a torn last line never trusted,
//! and a joblog that cannot be written stopping the run (a full tmpfs, /dev/full).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::faults::{joblog_rows, lines_of};
use crate::util::*;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

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

#[test]
fn the_joblog_has_gnu_parallels_format_and_a_line_as_each_job_ends() {
    let dir = tempfile::tempdir().unwrap();
    let jl = dir.path().join("jl");
    let job = dir.path().join("job.sh");
    // Job 2 only succeeds once job 1's line is in the joblog, while job 2 still runs.
    script(
        &job,
        &format!(
            "case $1 in
first) exit 0;;
second) i=0; until grep -q '^1\t' {jl}; do sleep 0.05; i=$((i+1)); [ $i -gt 400 ] && exit 9; done; echo seen;;
third) exit 4;;
esac",
            jl = s(&jl)
        ),
    );
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    fanout()
        .args(["--no-summary", "-j2", "--joblog", s(&jl), s(&job)])
        .args([":::", "first", "second", "third"])
        .assert()
        .code(1);
    let text = std::fs::read_to_string(&jl).unwrap();
    assert!(
        text.starts_with(
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n"
        ),
        "{text}"
    );
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 3, "{text}");
    let three_decimals = |f: &str| {
        f.split_once('.').is_some_and(|(a, b)| {
            a.parse::<u64>().is_ok() && b.len() == 3 && b.parse::<u64>().is_ok()
        })
    };
    for r in &rows {
        assert_eq!(r.len(), 9, "{r:?}");
        assert_eq!(r[1], ":");
        assert!(three_decimals(&r[2]) && three_decimals(&r[3]), "{r:?}");
        let start: f64 = r[2].parse().unwrap();
        assert!((start - before).abs() < 60.0, "{r:?}");
        assert_eq!((r[4].as_str(), r[7].as_str()), ("0", "0"), "{r:?}");
    }
    let by_seq = |seq: &str| rows.iter().find(|r| r[0] == seq).unwrap().clone();
    assert_eq!(by_seq("1")[6], "0");
    assert_eq!(by_seq("2")[6], "0", "job 2 saw job 1's line while running");
    assert_eq!(by_seq("2")[5], "5", "Receive counts the output bytes");
    assert_eq!(by_seq("3")[6], "4");
    assert_eq!(by_seq("3")[8], format!("{} third", s(&job)));
}

/// A job that logs `start SEQ` and `done SEQ` around a short sleep.
fn side_job(dir: &Path) -> (PathBuf, PathBuf) {
    let job = dir.join("job.sh");
    let side = dir.join("side");
    script(
        &job,
        &format!(
            "echo \"start $FANOUT_SEQ\" >> {side}; sleep 0.15; echo \"done $FANOUT_SEQ\" >> {side}",
            side = s(&side)
        ),
    );
    (job, side)
}

#[test]
fn a_run_killed_with_sigkill_resumes_and_runs_no_finished_job_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (job, side) = side_job(dir.path());
    let jl = dir.path().join("jl");
    let mut child = Command::new(fanout_path())
        .args(["--no-summary", "-j4", "--joblog", s(&jl), s(&job), ":::"])
        .args(seqs(40))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = wait_until(Duration::from_secs(30), || joblog_rows(&jl).len() >= 10);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(started, "ten jobs finished");
    // The jobs running at the kill were orphaned, not ended (SIGKILL cannot be caught): let
    // them finish before resuming.
    assert!(wait_until(Duration::from_secs(10), || {
        counts(&side, "start").len() == counts(&side, "done").len()
    }));
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
    let dir = tempfile::tempdir().unwrap();
    let (job, side) = side_job(dir.path());
    let jl = dir.path().join("jl");
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
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    let side = dir.path().join("side");
    // Fails the first time it runs for an odd value.
    script(
        &job,
        &format!(
            "echo \"start $1\" >> {side}; [ $(( $1 % 2 )) = 0 ] || [ $(grep -c \"^start $1$\" {side}) -gt 1 ]",
            side = s(&side)
        ),
    );
    let jl = dir.path().join("jl");
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
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    let side = dir.path().join("side");
    script(
        &job,
        &format!(
            "echo \"start $1\" >> {side}; [ \"$1\" = 1 ] || exec sleep 60; echo \"done $1\" >> {side}",
            side = s(&side)
        ),
    );
    let jl = dir.path().join("jl");
    let mut child = Command::new(fanout_path())
        .args([
            "--no-summary",
            "-j2",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
            "1",
            "2",
            "3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = wait_until(Duration::from_secs(30), || {
        counts(&side, "start").len() == 3 && !joblog_rows(&jl).is_empty()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let exited = wait_until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    assert!(ready && exited);
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 1, "only the finished job is logged: {rows:?}");
    // The resumed run starts the two ended jobs again (and is interrupted the same way).
    let mut child = Command::new(fanout_path())
        .args([
            "--no-summary",
            "-j2",
            "--resume",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
            "1",
            "2",
            "3",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rerun = wait_until(Duration::from_secs(30), || {
        counts(&side, "start").values().sum::<usize>() == 5
    });
    // SIGTERM, not SIGKILL: fanout ends its jobs rather than leaving them behind.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    if !wait_until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    }) {
        let _ = child.kill();
    }
    let _ = child.wait();
    assert!(rerun, "{:?}", counts(&side, "start"));
    assert_eq!(counts(&side, "start")[&1], 1);
}

#[test]
fn a_joblog_on_a_full_device_stops_before_any_job() {
    let dir = tempfile::tempdir().unwrap();
    let side = dir.path().join("side");
    let out = fanout()
        .args(["--no-summary", "--joblog", "/dev/full", "sh", "-c"])
        .arg(format!("echo ran >> {}", s(&side)))
        .args([":::", "a"])
        .assert()
        .code(255);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("joblog `/dev/full`") && err.contains("No space left"),
        "{err}"
    );
    assert!(!side.exists(), "no job ran");
}

#[test]
fn a_joblog_that_cannot_be_opened_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().join("no/such/dir/jl"), dir.path().to_path_buf()] {
        let out = fanout()
            .args(["--no-summary", "--joblog", s(&path), "true", ":::", "a"])
            .assert()
            .code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("joblog") && err.contains(s(&path)), "{err}");
    }
}

/// Unmounts the test's tmpfs however the test ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_joblog_that_fills_the_disk_stops_the_run_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs", s(&mnt)])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("note: cannot mount a tmpfs here; full-disk joblog test skipped");
        return;
    }
    let guard = Mount(mnt.clone());
    let jl = mnt.join("jl");
    let pad = "x".repeat(100);
    let run = |jl: &Path, resume: bool| {
        let mut cmd = fanout();
        cmd.args(["--no-summary", "-j4", "--joblog", s(jl)]);
        if resume {
            cmd.arg("--resume");
        }
        cmd.args(["echo", "{}", &pad, ":::"]).args(seqs(1000));
        cmd.output().unwrap()
    };
    let out = run(&jl, false);
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("failed to write joblog") && err.contains("No space left"),
        "{err}"
    );
    let first: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert!(
        first.len() < 1000,
        "the run stopped: {} jobs ran",
        first.len()
    );

    // Carry the joblog to a disk with room and resume there: every job gets done, and none
    // that the joblog holds runs again.
    let copy = dir.path().join("jl");
    std::fs::copy(&jl, &copy).unwrap();
    drop(guard);
    // Whole lines only: a line torn by the full disk is not trusted.
    let logged: HashSet<String> = std::fs::read_to_string(&copy)
        .unwrap()
        .split_inclusive('\n')
        .skip(1)
        .filter(|l| l.ends_with('\n'))
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    assert!(logged.len() > 20, "{}", logged.len());
    let out = run(&copy, true);
    assert_eq!(out.status.code(), Some(0));
    let second: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert!(second.iter().all(|seq| !logged.contains(seq)));
    let all: HashSet<String> = first.into_iter().chain(second).collect();
    assert_eq!(all.len(), 1000);
}

#[test]
fn joblog_lines_do_not_wait_for_a_stdout_nobody_reads() {
    let dir = tempfile::tempdir().unwrap();
    let jl = dir.path().join("jl");
    // Each job prints more than a pipe holds; nobody reads fanout's stdout, so printing the
    // first one blocks. The joblog must still get every line as its job ends.
    let mut child = Command::new(fanout_path())
        .args([
            "--no-summary",
            "-j2",
            "--joblog",
            s(&jl),
            "sh",
            "-c",
            "head -c 200000 /dev/zero",
        ])
        .args([":::"])
        .args(seqs(10))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _unread = child.stdout.take();
    let all = wait_until(Duration::from_secs(30), || joblog_rows(&jl).len() == 10);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(all, "{} of 10 lines", joblog_rows(&jl).len());
}
