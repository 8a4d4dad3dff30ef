//! The joblog: GNU parallel's format, a line written as each job ends (not held back by a
//! stdout nobody reads), and a joblog that cannot be opened or written stopping the run (a
//! full tmpfs, /dev/full) without losing a job. Resuming from it is in `resume.rs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::joblog::HEADER;
use crate::util::*;

#[test]
fn the_joblog_has_gnu_parallels_format_and_a_line_as_each_job_ends() {
    let dir = Dir::new();
    let jl = dir.join("jl");
    // Job 2 only succeeds once job 1's line is in the joblog, while job 2 still runs.
    let job = dir.script(
        "job.sh",
        &format!(
            "case $1 in
first) exit 0;;
second) i=0; until grep -q '^1\t' {jl}; do sleep 0.05; i=$((i+1)); [ $i -gt 400 ] && exit 9; done; echo seen; echo not-counted >&2;;
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
    assert!(text.starts_with(HEADER), "{text}");
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
    assert_eq!(joblog_row(&jl, 1)[6], "0");
    assert_eq!(
        joblog_row(&jl, 2)[6],
        "0",
        "job 2 saw job 1's line while running"
    );
    assert_eq!(
        joblog_row(&jl, 2)[5],
        "5",
        "Receive counts the bytes of stdout (not stderr), as GNU parallel"
    );
    assert_eq!(joblog_row(&jl, 3)[6], "4");
    assert_eq!(joblog_row(&jl, 3)[8], format!("{} third", s(&job)));
}

#[test]
fn joblog_lines_do_not_wait_for_a_stdout_nobody_reads() {
    let dir = Dir::new();
    let jl = dir.join("jl");
    // Each job prints more than a pipe holds; nobody reads fanout's stdout, so printing the
    // first one blocks. The joblog must still get every line as its job ends.
    let seqs: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    let mut child = fanout_cmd()
        .args(["--no-summary", "-j2", "--joblog", s(&jl)])
        .args(["sh", "-c", "head -c 200000 /dev/zero", ":::"])
        .args(&seqs)
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

// ---- a joblog that cannot be opened or written ---------------------------------------------

#[test]
fn a_joblog_on_a_full_device_stops_before_any_job() {
    let dir = Dir::new();
    let side = dir.join("side");
    let out = fanout()
        .args(["--no-summary", "--joblog", "/dev/full", "sh", "-c"])
        .arg(format!("echo ran >> {}", s(&side)))
        .args([":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("joblog `/dev/full`") && err.contains("No space left"),
        "{err}"
    );
    assert!(!side.exists(), "no job ran");
}

#[test]
fn a_joblog_that_cannot_be_opened_is_a_setup_error() {
    let dir = Dir::new();
    for path in [dir.join("no/such/dir/jl"), dir.path().to_path_buf()] {
        let out = fanout()
            .args(["--no-summary", "--joblog", s(&path), "true", ":::", "a"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
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
    let dir = Dir::new();
    let mnt = dir.join("mnt");
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
    let seqs: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
    let run = |jl: &Path, resume: bool| {
        let mut cmd = fanout();
        cmd.args(["--no-summary", "-j4", "--joblog", s(jl)]);
        if resume {
            cmd.arg("--resume");
        }
        cmd.args(["echo", "{}", &pad, ":::"]).args(&seqs);
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
    let copy = dir.join("jl");
    std::fs::copy(&jl, &copy).unwrap();
    drop(guard);
    // Whole lines only: a line torn by the full disk is not trusted.
    let logged: HashSet<String> = joblog_complete_rows(&copy)
        .into_iter()
        .map(|r| r[0].clone())
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
