//! Results files (`--results-json`, `--results DIR`), configuration from the environment
//! (`FANOUT_<OPTION>`, `NO_COLOR`), shell completions and the man page.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use crate::util::*;

/// The JSON lines of a results file, each parsed.
fn json_lines(text: &[u8]) -> Vec<Value> {
    String::from_utf8(text.to_vec())
        .expect("results are UTF-8 JSON")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn by_seq(lines: &[Value], seq: u64) -> &Value {
    lines
        .iter()
        .find(|v| v["seq"] == seq)
        .unwrap_or_else(|| panic!("no line for seq {seq}"))
}

/// The seqs recorded in a joblog.
fn joblog_seqs(path: &Path) -> BTreeSet<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap().parse().unwrap())
        .collect()
}

// ---- --results-json -------------------------------------------------------------------

#[test]
fn results_json_has_one_line_per_job_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
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
    let lines = json_lines(&std::fs::read(&file).unwrap());
    assert_eq!(lines.len(), 3);
    for n in 0..3u64 {
        let v = by_seq(&lines, n + 1);
        assert_eq!(v["args"], n.to_string());
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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    fanout()
        .arg("--results-json")
        .arg(&file)
        .args(["sh", "-c", "kill -9 $$", ":::", "x"])
        .assert()
        .code(1);
    let lines = json_lines(&std::fs::read(&file).unwrap());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["outcome"], "signaled");
    assert_eq!(lines[0]["exit_code"], Value::Null);
    assert_eq!(lines[0]["signal"], 9);
}

#[test]
fn non_utf8_output_round_trips_through_base64() {
    let dir = tempfile::tempdir().unwrap();
    let bytes: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let raw = dir.path().join("raw.bin");
    std::fs::write(&raw, &bytes).unwrap();
    let file = dir.path().join("r.jsonl");
    fanout()
        .arg("--results-json")
        .arg(&file)
        .args(["sh", "-c", "cat \"$0\"; cat \"$0\" >&2"])
        .arg(":::")
        .arg(&raw)
        .assert()
        .success();
    let lines = json_lines(&std::fs::read(&file).unwrap());
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
    let lines = json_lines(&out.get_output().stdout);
    assert_eq!(lines.len(), 5);
    let seqs: BTreeSet<u64> = lines.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=5).collect());
    assert_eq!(by_seq(&lines, 2)["stdout"], "hello b\n");
}

#[test]
fn resume_appends_to_results_json_after_cutting_a_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    let (file, log, ok) = (
        dir.path().join("r.jsonl"),
        dir.path().join("log"),
        dir.path().join("ok"),
    );
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
    assert_eq!(json_lines(&std::fs::read(&file).unwrap()).len(), 3);
    // A crash mid-line leaves a torn tail; the resumed run cuts it and appends.
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"{\"seq\":2,\"slot\"");
    std::fs::write(&file, &text).unwrap();
    std::fs::write(&ok, "").unwrap();
    run(&["--resume-failed"]).assert().success();
    let lines = json_lines(&std::fs::read(&file).unwrap());
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["seq"], 2);
    assert_eq!(lines[3]["outcome"], "success");
}

// ---- --results DIR --------------------------------------------------------------------

#[test]
fn results_dir_holds_each_jobs_output_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("res");
    let job = "echo out {}; echo err {} >&2; [ {} = k ] && kill -9 $$; exit {}";
    fanout()
        .arg("--results")
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
        .arg("--results")
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
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "").unwrap();
    let marker = dir.path().join("ran");
    let job = format!("touch {}", marker.display());
    for (flag, path) in [
        ("--results", file.join("sub")),
        ("--results-json", dir.path().join("no/such/dir/r.jsonl")),
    ] {
        let out = fanout()
            .arg(flag)
            .arg(&path)
            .args(["sh", "-c", &job, ":::", "1"])
            .assert()
            .code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
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
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
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
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
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
    let dir = tempfile::tempdir().unwrap();
    let (res, log) = (dir.path().join("res"), dir.path().join("log"));
    std::fs::create_dir(&res).unwrap();
    // A regular file where job 1's directory must go.
    std::fs::write(res.join("1"), "in the way").unwrap();
    let started = Instant::now();
    let out = fanout()
        .args(["-j1", "--results"])
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
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains(&res.join("1").display().to_string()) && err.contains("--results"),
        "{err}"
    );
    let seqs = joblog_seqs(&log);
    assert!(seqs.contains(&1) && !seqs.contains(&3), "{seqs:?}");
    assert!(!res.join("3").exists());
}

// ---- the environment ------------------------------------------------------------------

#[test]
fn fanout_jobs_from_the_environment_sets_the_slots() {
    let out = fanout()
        .env("FANOUT_JOBS", "1")
        .args(["sh", "-c", "sleep 0.1; echo {%}", ":::", "a", "b", "c"])
        .assert()
        .success();
    assert_eq!(sorted_lines(&out.get_output().stdout), ["1", "1", "1"]);
}

#[test]
fn fanout_jobs_from_the_environment_runs_more_than_the_default() {
    // cpus+1 jobs that can only all succeed if they all run at once.
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
    let dir = tempfile::tempdir().unwrap();
    let job = format!(
        "cd {}; touch {{}}; i=0; while [ $(ls | wc -l) -lt {n} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ $(ls | wc -l) -ge {n} ]",
        dir.path().display()
    );
    let args: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    fanout()
        .env("FANOUT_JOBS", n.to_string())
        .args(["sh", "-c", &job, ":::"])
        .args(&args)
        .assert()
        .success();
}

#[test]
fn the_command_line_beats_the_environment() {
    let out = fanout()
        .env("FANOUT_JOBS", "8")
        .args([
            "-j1",
            "sh",
            "-c",
            "sleep 0.2; echo {%}",
            ":::",
            "a",
            "b",
            "c",
        ])
        .assert()
        .success();
    assert_eq!(sorted_lines(&out.get_output().stdout), ["1", "1", "1"]);
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    fanout()
        .current_dir(dir.path())
        .env("FANOUT_JOBS", "")
        .env("FANOUT_JOBLOG", "")
        .env("FANOUT_RETRIES", "")
        .args(["echo", ":::", "a"])
        .assert()
        .success()
        .stdout("a\n");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no joblog"
    );
}

#[test]
fn the_joblog_and_results_json_cannot_be_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let both = dir.path().join("both");
    let out = fanout()
        .arg("--joblog")
        .arg(&both)
        .env("FANOUT_RESULTS_JSON", &both)
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("different paths"), "{err}");
    assert!(!both.exists());
}

/// Job 1 ends only after the joblog shows job 2 done, so job 2 always finishes first.
fn order_run(keep_order: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let job = format!(
        "if [ {{}} = 1 ]; then i=0; while ! grep -q '^2\t' {0} && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; fi; echo {{}}",
        log.display()
    );
    let mut cmd = fanout();
    if let Some(v) = keep_order {
        cmd.env("FANOUT_KEEP_ORDER", v);
    }
    let out = cmd
        .args(["-j2", "--joblog"])
        .arg(&log)
        .args(["sh", "-c", &job, ":::", "1", "2"])
        .assert()
        .success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn a_switch_from_the_environment_takes_true_and_false() {
    assert_eq!(order_run(None), "2\n1\n");
    for on in ["true", "1", "yes"] {
        assert_eq!(order_run(Some(on)), "1\n2\n", "FANOUT_KEEP_ORDER={on}");
    }
    for off in ["false", "0", "no", ""] {
        assert_eq!(order_run(Some(off)), "2\n1\n", "FANOUT_KEEP_ORDER={off}");
    }
    let out = fanout()
        .env("FANOUT_KEEP_ORDER", "maybe")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("--keep-order") && err.contains("true or false"),
        "{err}"
    );
}

/// Runs a job that prints `start`, then waits (2 s at most) to see it in fanout's stdout:
/// it does at once when output passes through (`--ungroup`), never when it is grouped.
fn passes_through(env: &[(&str, &str)], flags: &[&str]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = format!(
        "echo start; i=0; while ! grep -q start {0} && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; grep -q start {0} && echo seen || echo unseen",
        out.display()
    );
    let status = std::process::Command::new(fanout_path())
        .env_remove("FANOUT_UNGROUP")
        .env_remove("FANOUT_GROUP")
        .envs(env.iter().copied())
        .args(flags)
        .args(["sh", "-c", &job, ":::", "x"])
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    match std::fs::read_to_string(&out).unwrap().as_str() {
        "start\nseen\n" => true,
        "start\nunseen\n" => false,
        other => panic!("unexpected output {other:?}"),
    }
}

#[test]
fn the_command_line_beats_an_overriding_option_from_the_environment() {
    assert!(passes_through(&[("FANOUT_UNGROUP", "1")], &[]));
    assert!(!passes_through(&[("FANOUT_UNGROUP", "1")], &["--group"]));
    assert!(!passes_through(&[], &[]));
}

/// Runs `fanout ARGS` under a pseudo-terminal (util-linux `script`) and returns what it printed.
fn on_a_terminal(no_color: Option<&str>, args: &str) -> String {
    let mut cmd = std::process::Command::new("script");
    cmd.env_remove("NO_COLOR");
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let out = cmd
        .args([
            "-qec",
            &format!("{} {args}", fanout_path().display()),
            "/dev/null",
        ])
        .output()
        .expect("util-linux `script` runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let coloured = on_a_terminal(None, "--no-such-option");
    assert!(coloured.contains("no-such-option"), "{coloured}");
    assert!(coloured.contains('\x1b'), "colour on a terminal by default");
    let plain = on_a_terminal(Some("1"), "--no-such-option");
    assert!(plain.contains("no-such-option"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1: {plain:?}");
    // NO_COLOR is accepted by a real run too.
    fanout()
        .env("NO_COLOR", "1")
        .args(["echo", ":::", "a"])
        .assert()
        .success()
        .stdout("a\n");
}

// ---- completions and the man page -----------------------------------------------------

fn stdout_text(args: &[&str]) -> String {
    let out = fanout().args(args).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn completions_for_each_shell_know_the_options() {
    assert!(stdout_text(&["completions", "bash"]).contains("--keep-order"));
    assert!(stdout_text(&["completions", "zsh"]).contains("--keep-order"));
    assert!(stdout_text(&["completions", "fish"]).contains("-l keep-order"));
}

#[test]
fn an_unknown_shell_is_a_one_line_error() {
    for args in [&["completions", "tcsh"][..], &["completions"][..]] {
        let out = fanout().args(args).assert().code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("unknown shell") && err.contains("bash"),
            "{err}"
        );
        assert!(out.get_output().stdout.is_empty());
    }
}

#[test]
fn man_prints_a_roff_page_with_the_options_and_their_environment() {
    let man = stdout_text(&["man"]);
    assert!(man.contains(".TH fanout 1"), "roff title");
    assert!(man.contains(".SH OPTIONS"));
    assert!(man.contains(r"\-\-keep\-order"));
    assert!(man.contains("FANOUT_KEEP_ORDER"));
}

/// The long options `--help` lists.
fn help_options() -> BTreeSet<String> {
    let help = stdout_text(&["--help"]);
    let mut opts = BTreeSet::new();
    for line in help.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        for word in line.split([' ', ',', '<', '[']) {
            if let Some(name) = word.trim_end_matches('.').strip_prefix("--")
                && !name.is_empty()
            {
                opts.insert(format!("--{name}"));
            }
        }
    }
    opts
}

#[test]
fn help_completions_and_man_page_never_disagree() {
    let opts = help_options();
    assert!(opts.len() >= 30, "{opts:?}");
    assert!(opts.contains("--results-json") && opts.contains("--keep-order"));
    let man = stdout_text(&["man"]).replace(r"\-", "-");
    let bash = stdout_text(&["completions", "bash"]);
    let fish = stdout_text(&["completions", "fish"]);
    for opt in &opts {
        assert!(man.contains(opt.as_str()), "{opt} is in the man page");
        assert!(
            bash.contains(opt.as_str()),
            "{opt} is in the bash completion"
        );
        let long = opt.trim_start_matches("--");
        assert!(
            fish.contains(&format!("-l {long} ")) || fish.contains(&format!("-l {long}\n")),
            "{opt} is in the fish completion"
        );
        let env = format!("FANOUT_{}", long.to_uppercase().replace('-', "_"));
        if !["--help", "--version"].contains(&opt.as_str()) {
            assert!(man.contains(&env), "{env} is in the man page");
        }
    }
}
