//! The end-of-run summary: text and JSON, hidden by `--no-summary` and `-q`, and what it says
//! about timeouts, halts, retries, signals and a closed stdout.

use std::io::Read;
use std::process::Stdio;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::util::*;

#[test]
fn the_summary_names_counts_and_failed_jobs() {
    let out = fanout()
        .args([
            "-j2",
            "sh",
            "-c",
            "case {} in t) kill -TERM $$;; *) exit {};; esac",
            ":::",
            "0",
            "0",
            "3",
            "t",
        ])
        .assert()
        .code(2);
    let err = stderr_of(&out);
    assert!(err.contains("fanout: 4 jobs: 2 ok, 2 failed in "), "{err}");
    assert!(
        err.contains("job 3 (exit 3): sh -c 'case 3 in t) kill -TERM $$;; *) exit 3;; esac'"),
        "{err}"
    );
    assert!(err.contains("job 4 (killed by SIGTERM): "), "{err}");
    // Four quick jobs: naming the slowest says nothing.
    assert!(!err.contains("slowest:"), "{err}");
    assert!(!err.contains('\x1b'), "{err}");
}

/// The slowest jobs are named when they are a few of many in a run long enough to care, and
/// never a job that did not run.
#[test]
fn the_slowest_jobs_are_named_when_that_says_something() {
    let out = fanout()
        .args([
            "--summary",
            "text",
            "-j5",
            "sleep",
            ":::",
            "1.2",
            "0",
            "0",
            "0",
            "0.1",
        ])
        .assert()
        .success();
    let err = stderr_of(&out);
    let slowest: Vec<&str> = err.lines().filter(|l| l.contains("slowest:")).collect();
    assert_eq!(slowest.len(), 3, "{err}");
    assert!(slowest[0].contains("job 1 took 1.2s: sleep 1.2"), "{err}");
    // Three jobs: all three would be "slowest".
    let out = fanout()
        .args(["--summary", "text", "sleep", ":::", "1.1", "0", "0"])
        .assert()
        .success();
    assert!(!stderr_of(&out).contains("slowest:"), "{}", stderr_of(&out));
}

#[test]
fn the_json_summary_is_one_object_with_the_counts() {
    let out = fanout()
        .args(["--summary", "json", "sh", "-c", "exit {}", ":::", "0", "7"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    let last = err.lines().last().unwrap();
    let v: Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["event"], "run_summary");
    assert_eq!(v["schema_version"], 2);
    assert_eq!(v["total"], 2);
    assert_eq!(v["succeeded"], 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["timed_out"], 0);
    assert_eq!(v["exit_code"], 1);
    assert!(v["wall_ms"].is_number());
    assert_eq!(v["failures"][0]["seq"], 2);
    assert_eq!(v["failures"][0]["exit_code"], 7);
    assert_eq!(v["failures"][0]["command"], "sh -c 'exit 7'");
    assert_eq!(v["failures"][0]["args"], serde_json::json!(["7"]));
    assert_eq!(v["failures"][0]["args_text"], "7");
    assert_eq!(v["cancel_reason"], Value::Null);
    assert!(v["slowest"].is_array());
}

#[test]
fn no_summary_and_quiet_hide_the_summary() {
    for flags in [&["--no-summary"][..], &["--quiet"], &["--summary", "none"]] {
        let out = fanout()
            .args(flags)
            .args(["sh", "-c", "exit {}", ":::", "0", "1"])
            .assert()
            .code(1);
        let err = stderr_of(&out);
        assert!(!err.contains("fanout:"), "{flags:?}: {err}");
        assert!(!err.contains("jobs"), "{flags:?}: {err}");
    }
    // And without the flag, off a terminal, it is there when something failed.
    let out = fanout().args(["false", ":::", "a"]).assert().code(1);
    assert!(stderr_of(&out).contains("fanout: 1 job: 0 ok, 1 failed in "));
}

/// `--summary auto` (the default): off a terminal a run that went well says nothing, one that
/// did not gets the summary; on a terminal there is always one; with JSON logs it is JSON.
#[test]
fn the_automatic_summary_speaks_when_it_helps() {
    let out = fanout().args(["echo", ":::", "a"]).assert().success();
    assert_eq!(stderr_of(&out), "");
    let out = fanout()
        .args(["--summary", "text", "echo", ":::", "a"])
        .assert()
        .success();
    assert!(stderr_of(&out).starts_with("fanout: 1 job: 1 ok, 0 failed in "));
    let out = fanout()
        .args(["--timeout", "0.2", "sleep", ":::", "5"])
        .assert()
        .code(1);
    assert!(
        stderr_of(&out).contains("1 timed out"),
        "{}",
        stderr_of(&out)
    );
    let out = fanout()
        .args(["--log-format", "json", "false", ":::", "a"])
        .assert()
        .code(1);
    let lines = json_lines(&stderr_of(&out));
    assert_eq!(lines.last().unwrap()["event"], "run_summary");
    let out = under_pty_env("echo ::: a", &[("NO_COLOR", "1")]);
    assert!(out.contains("fanout: 1 job: 1 ok, 0 failed in "), "{out:?}");
}

#[test]
fn the_summary_says_timed_out_halted_and_passed_on_retry() {
    let out = fanout()
        .args(["--timeout", "0.3", "sleep", "{}", ":::", "10", "0.1"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(
        err.contains("2 jobs: 1 ok, 0 failed, 1 timed out in "),
        "{err}"
    );
    assert!(
        err.contains("timed out: job 1 (timed out, SIGTERM): sleep 10"),
        "{err}"
    );

    let out = fanout()
        .args([
            "--halt",
            "now,fail=1",
            "-j1",
            "sh",
            "-c",
            "exit {}",
            ":::",
            "0",
            "4",
            "0",
        ])
        .assert()
        .code(4);
    let err = stderr_of(&out);
    assert!(err.ends_with("fanout: halted by --halt\n"), "{err}");

    let dir = Dir::new();
    let flag = dir.join("once");
    let out = fanout()
        .args([
            "--summary",
            "text",
            "--retries",
            "2",
            "sh",
            "-c",
            "test -e {} || { touch {}; exit 1; }",
            ":::",
        ])
        .arg(&flag)
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(
        err.contains("1 job: 1 ok (1 passed on retry), 0 failed"),
        "{err}"
    );
    assert!(
        err.contains("  RETRY [") && err.contains("] #1 exit 1, attempt 1, again in 0.0s: sh -c"),
        "{err}"
    );
}

#[test]
fn the_summary_says_when_a_signal_interrupted_the_run() {
    let dir = Dir::new();
    let marker = dir.join("started");
    let mut child = fanout_cmd()
        .args([
            "--summary",
            "json",
            "-j1",
            "sh",
            "-c",
            "touch {}; sleep 30",
            ":::",
            s(&marker),
            s(&dir.join("never")),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err);
        err
    });
    assert!(
        wait_until(BOUND, || marker.exists()),
        "the job never started"
    );
    signal(&child, Signal::SIGTERM);
    let status = wait_bounded(child, BOUND).expect("fanout did not end after SIGTERM");
    assert_eq!(status.code(), Some(143));
    let err = reader.join().unwrap();
    let v: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["cancel_reason"], "signal", "{err}");
    assert_eq!(v["interrupted_by"], "SIGTERM", "{err}");
    assert_eq!(v["cancelled"], 1, "{err}");
    assert_eq!(v["exit_code"], 143, "{err}");
    // The scheduler was waiting for a slot for the second job: it logs that it stops.
    assert!(err.contains("starting no new jobs"), "{err}");
    assert!(!dir.join("never").exists());
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::BufRead;
    // Job 1 prints at once; the others wait until the test has read that line and closed its
    // end of the pipe (the `go` marker), so job 1's line comes first and theirs find no reader.
    let dir = Dir::new();
    let go = dir.join("go");
    let job = format!(
        "if [ {{}} != 1 ]; then {}; fi; echo {{}}",
        wait_for_file_sh(&go)
    );
    let mut child = fanout_cmd()
        .args(["-j2", "sh", "-c", &job, ":::", "1", "3", "5", "7", "9"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "1\n");
    // The reader is gone (`| head -1`).
    std::fs::write(&go, "").unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let status = wait_bounded(child, BOUND).expect("fanout did not end");
    assert_eq!(status.code(), Some(141));
    assert_eq!(reader.join().unwrap(), "", "no summary, no warnings");
}

/// Past 20 failures the text summary counts the rest, without pointing at a joblog that the
/// run may not have written.
#[test]
fn the_summary_does_not_promise_a_joblog_that_was_not_asked_for() {
    let values: Vec<String> = (1..=22).map(|i| i.to_string()).collect();
    let out = fanout()
        .args(["--log-level", "error", "-j2", "false", ":::"])
        .args(&values)
        .assert()
        .code(22);
    let err = stderr_of(&out);
    assert!(
        err.contains("  ... and 2 more (--joblog or --results-json lists every job)"),
        "{err}"
    );
    assert!(!err.contains("the joblog has them all"), "{err}");
}
