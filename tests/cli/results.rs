//! Results files: `--results-json` (one JSON line per job, base64 for bytes that are not
//! UTF-8, appended on resume), `--results DIR`, and a results path that cannot be used or
//! written, which stops the run.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::util::*;

/// The JSON lines of a results file, each parsed.
fn results_of(path: &Path) -> Vec<Value> {
    json_lines(&std::fs::read_to_string(path).expect("results are UTF-8 JSON"))
}

fn by_seq(lines: &[Value], seq: u64) -> &Value {
    lines
        .iter()
        .find(|v| v["seq"] == seq)
        .unwrap_or_else(|| panic!("no line for seq {seq}"))
}

// ---- --results-json -------------------------------------------------------------------

#[test]
fn results_json_has_one_line_per_job_with_every_field() {
    let dir = Dir::new();
    let file = dir.join("r.jsonl");
    fanout()
        .arg("--results-json")
        .arg(&file)
        .args([
            "sh",
            "-c",
            "echo out {}; echo err {} >&2; exit {}",
            ":::",
            "0",
            "1",
            "2",
        ])
        .assert()
        .code(2);
    let lines = results_of(&file);
    assert_eq!(lines.len(), 3);
    for n in 0..3u64 {
        let v = by_seq(&lines, n + 1);
        assert_eq!(v["args"], serde_json::json!([n.to_string()]));
        assert_eq!(v["args_text"], n.to_string());
        assert!(v["command"].as_str().unwrap().contains("echo out"));
        assert_eq!(v["outcome"], if n == 0 { "success" } else { "failed" });
        assert_eq!(v["exit_code"], n);
        assert_eq!(v["signal"], Value::Null);
        assert_eq!(v["stdout"], format!("out {n}\n"));
        assert_eq!(v["stderr"], format!("err {n}\n"));
        assert_eq!(v["stdout_encoding"], "utf8");
        assert_eq!(v["stderr_encoding"], "utf8");
        assert_eq!(v["stdout_bytes"], 6);
        assert_eq!(v["stderr_bytes"], 6);
        assert_eq!(v["attempts"], 1);
        assert!(v["slot"].as_u64().unwrap() >= 1);
        assert!(v["pid"].as_u64().unwrap() > 0);
        assert!(v["start"].as_f64().unwrap() > 1.6e9);
        assert!(v["duration_ms"].as_u64().unwrap() < 60_000);
    }
}

#[test]
fn results_json_records_a_signal_with_a_null_exit_code() {
    let dir = Dir::new();
    let file = dir.join("r.jsonl");
    fanout()
        .arg("--results-json")
        .arg(&file)
        .args(["sh", "-c", "kill -9 $$", ":::", "x"])
        .assert()
        .code(1);
    let lines = results_of(&file);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "signaled");
    assert_eq!(lines[0]["exit_code"], Value::Null);
    assert_eq!(lines[0]["signal"], 9);
}

#[test]
fn non_utf8_output_round_trips_through_base64() {
    let dir = Dir::new();
    let bytes: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let raw = dir.join("raw.bin");
    std::fs::write(&raw, &bytes).unwrap();
    let file = dir.join("r.jsonl");
    fanout()
        .arg("--results-json")
        .arg(&file)
        .args(["sh", "-c", "cat \"$0\"; cat \"$0\" >&2"])
        .arg(":::")
        .arg(&raw)
        .assert()
        .success();
    let lines = results_of(&file);
    let b64 = base64::engine::general_purpose::STANDARD;
    for stream in ["stdout", "stderr"] {
        assert_eq!(lines[0][format!("{stream}_encoding")], "base64");
        let back = b64.decode(lines[0][stream].as_str().unwrap()).unwrap();
        assert_eq!(back, bytes, "{stream} came back byte for byte");
    }
}

#[test]
fn results_json_to_stdout_is_the_only_thing_on_stdout() {
    let out = fanout()
        .args([
            "--results-json",
            "-",
            "-j3",
            "echo",
            "hello",
            ":::",
            "a",
            "b",
        ])
        .args(["c", "d", "e"])
        .assert()
        .success();
    let lines =
        json_lines(std::str::from_utf8(&out.get_output().stdout).expect("results are UTF-8 JSON"));
    assert_eq!(lines.len(), 5);
    let seqs: BTreeSet<u64> = lines.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=5).collect());
    assert_eq!(by_seq(&lines, 2)["stdout"], "hello b\n");
}

#[test]
fn resume_appends_to_results_json_after_cutting_a_torn_line() {
    let dir = Dir::new();
    let (file, log, ok) = (dir.join("r.jsonl"), dir.join("log"), dir.join("ok"));
    let job = format!("[ {{}} != 2 ] || [ -e {} ]", ok.display());
    let run = |extra: &[&str]| {
        let mut cmd = fanout();
        cmd.arg("--results-json")
            .arg(&file)
            .arg("--joblog")
            .arg(&log)
            .args(extra)
            .args(["sh", "-c", &job, ":::", "1", "2", "3"]);
        cmd
    };
    run(&[]).assert().code(1);
    assert_eq!(results_of(&file).len(), 3);
    // A crash mid-line leaves a torn tail; the resumed run cuts it and appends.
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"{\"seq\":2,\"slot\"");
    std::fs::write(&file, &text).unwrap();
    std::fs::write(&ok, "").unwrap();
    run(&["--resume-failed"]).assert().success();
    let lines = results_of(&file);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["seq"], 2);
    assert_eq!(lines[3]["outcome"], "success");
}

// ---- --results DIR --------------------------------------------------------------------

#[test]
fn results_dir_holds_each_jobs_output_and_status() {
    let dir = Dir::new();
    let res = dir.join("res");
    let job = "echo out {}; echo err {} >&2; [ {} = k ] && kill -9 $$; exit {}";
    fanout()
        .arg("--results-by-seq")
        .arg(&res)
        .args(["sh", "-c", job, ":::", "0", "3", "k"])
        .assert()
        .code(2);
    let read = |seq: u32, name: &str| {
        std::fs::read_to_string(res.join(seq.to_string()).join(name)).unwrap()
    };
    for (seq, v, status) in [(1, "0", "0"), (2, "3", "3"), (3, "k", "137")] {
        assert_eq!(read(seq, "stdout"), format!("out {v}\n"));
        assert_eq!(read(seq, "stderr"), format!("err {v}\n"));
        assert_eq!(read(seq, "exitval"), format!("{status}\n"));
        assert_eq!(read(seq, "args"), format!("{v}\n"));
        assert!(read(seq, "cmd").contains("echo out"));
        let meta: Value = serde_json::from_str(&read(seq, "result.json")).unwrap();
        assert_eq!(meta["seq"], seq);
    }
    let names: BTreeSet<String> = std::fs::read_dir(res.join("1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let want = ["args", "cmd", "exitval", "result.json", "stderr", "stdout"];
    assert_eq!(names, want.iter().map(|s| s.to_string()).collect());

    // A rerun overwrites.
    fanout()
        .arg("--results-by-seq")
        .arg(&res)
        .args(["echo", "again", ":::", "z"])
        .assert()
        .success();
    assert_eq!(read(1, "stdout"), "again z\n");
    assert_eq!(read(1, "stderr"), "");
    assert_eq!(read(1, "exitval"), "0\n");
}

#[test]
fn an_unusable_results_path_is_a_setup_error_and_runs_nothing() {
    let dir = Dir::new();
    let file = dir.join("plain-file");
    std::fs::write(&file, "").unwrap();
    let marker = dir.join("ran");
    let job = format!("touch {}", marker.display());
    for (flag, path) in [
        ("--results", file.join("sub")),
        ("--results-by-seq", file.join("sub")),
        ("--results-json", dir.join("no/such/dir/r.jsonl")),
    ] {
        let out = fanout()
            .arg(flag)
            .arg(&path)
            .args(["sh", "-c", &job, ":::", "1"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(flag), "says which option to fix: {err}");
        assert!(!marker.exists(), "no job ran");
    }
}

// ---- write errors ---------------------------------------------------------------------

/// Job 1 ends at once; the others would run for a long time unless the run is stopped.
const STOPPABLE: &str = "echo {}; [ {} = 1 ] || sleep 30";

#[test]
fn a_results_json_write_error_stops_the_run_and_the_joblog_keeps_the_job() {
    let dir = Dir::new();
    let log = dir.join("log");
    let started = Instant::now();
    let out = fanout()
        .args(["-j1", "--results-json", "/dev/full", "--joblog"])
        .arg(&log)
        .args(["sh", "-c", STOPPABLE, ":::", "1", "2", "3"])
        .assert()
        .code(255);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the run stopped"
    );
    let err = stderr_of(&out);
    let line = err
        .lines()
        .find(|l| l.starts_with("fanout: error:"))
        .unwrap_or_else(|| panic!("no error line in {err}"));
    assert!(
        line.contains("/dev/full") && line.contains("--results-json"),
        "{line}"
    );
    let seqs = joblog_seqs(&log);
    assert!(seqs.contains(&1), "the finished job is in the joblog");
    assert!(!seqs.contains(&3), "no job started after the error");
}

#[test]
fn a_results_dir_write_error_stops_the_run() {
    let dir = Dir::new();
    let (res, log) = (dir.join("res"), dir.join("log"));
    std::fs::create_dir(&res).unwrap();
    // A regular file where job 1's directory must go.
    std::fs::write(res.join("1"), "in the way").unwrap();
    let started = Instant::now();
    let out = fanout()
        .args(["-j1", "--results-by-seq"])
        .arg(&res)
        .arg("--joblog")
        .arg(&log)
        .args(["sh", "-c", STOPPABLE, ":::", "1", "2", "3"])
        .assert()
        .code(255);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the run stopped"
    );
    let err = stderr_of(&out);
    assert!(
        err.contains(&res.join("1").display().to_string()) && err.contains("--results"),
        "{err}"
    );
    let seqs = joblog_seqs(&log);
    assert!(seqs.contains(&1) && !seqs.contains(&3), "{seqs:?}");
    assert!(!res.join("3").exists());
}
