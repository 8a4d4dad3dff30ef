//! Structured logs: the JSON event schema, levels and filters (`-v`, `-q`, `--log-level`,
//! `RUST_LOG`), `--log-file`, stdout kept clean, and `--slow` lines.

use super::{COMMON, events, has_fields};
use crate::util::*;

#[test]
fn every_json_log_line_parses_and_carries_the_documented_fields() {
    let out = fanout()
        .args([
            "--log-format",
            "json",
            "-v",
            "--summary",
            "json",
            "-j2",
            "sh",
            "-c",
            "case {} in k) kill -9 $$;; *) exit {};; esac",
            ":::",
            "0",
            "3",
            "k",
        ])
        .assert()
        .code(2);
    let lines = json_lines(&stderr_of(&out));
    for v in &lines {
        if v.get("event").is_some() {
            has_fields(v, COMMON);
        }
    }
    let started = events(&lines, "run_started");
    assert_eq!(started.len(), 1);
    has_fields(
        started[0],
        &[
            ("version", 's'),
            ("schema_version", 'n'),
            ("slots", 'n'),
            ("command", 's'),
        ],
    );
    assert_eq!(started[0]["schema_version"], 2);
    assert_eq!(started[0]["slots"], 2);
    assert_eq!(started[0]["level"], "INFO");

    let jobs = events(&lines, "job_started");
    assert_eq!(jobs.len(), 3);
    for j in &jobs {
        has_fields(
            j,
            &[
                ("seq", 'n'),
                ("slot", 'n'),
                ("pid", 'n'),
                ("attempt", 'n'),
                ("args_text", 's'),
                ("command", 's'),
            ],
        );
        // `args` is the array of the job's values (schema 2).
        assert_eq!(j["args"], serde_json::json!([j["args_text"]]), "{j}");
        assert_eq!(j["level"], "DEBUG");
    }

    let fin = events(&lines, "job_finished");
    assert_eq!(fin.len(), 3);
    for j in &fin {
        has_fields(
            j,
            &[
                ("seq", 'n'),
                ("slot", 'n'),
                ("pid", 'n'),
                ("outcome", 's'),
                ("duration_ms", 'n'),
                ("attempt", 'n'),
                ("stdout_bytes", 'n'),
                ("stderr_bytes", 'n'),
                ("args_text", 's'),
                ("command", 's'),
            ],
        );
        assert!(j["args"].is_array(), "{j}");
    }
    let by_args = |a: &str| *fin.iter().find(|j| j["args"][0] == a).unwrap();
    assert_eq!(by_args("0")["outcome"], "success");
    assert_eq!(by_args("0")["exit_code"], 0);
    assert_eq!(by_args("0")["level"], "INFO");
    assert_eq!(by_args("3")["outcome"], "failed");
    assert_eq!(by_args("3")["exit_code"], 3);
    assert_eq!(by_args("3")["level"], "WARN");
    let k = by_args("k");
    assert_eq!(k["outcome"], "signaled");
    assert_eq!(k["signal"], 9);
    assert_eq!(k["signal_name"], "SIGKILL");
    assert!(k.get("exit_code").is_none(), "{k}");

    let end = events(&lines, "run_finished");
    assert_eq!(end.len(), 1);
    has_fields(
        end[0],
        &[
            ("total", 'n'),
            ("succeeded", 'n'),
            ("failed", 'n'),
            ("timed_out", 'n'),
            ("cancelled", 'n'),
            ("flaky", 'n'),
            ("skipped", 'n'),
            ("wall_ms", 'n'),
            ("exit_code", 'n'),
        ],
    );
    assert_eq!(end[0]["total"], 3);
    assert_eq!(end[0]["succeeded"], 1);
    assert_eq!(end[0]["failed"], 2);
    assert_eq!(end[0]["exit_code"], 2);

    // The JSON summary is the last line, one object, named as an event.
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "run_summary", "{summary}");
    assert_eq!(summary["total"], 3);
}

#[test]
fn logs_never_go_to_stdout() {
    for format in ["text", "json"] {
        let out = fanout()
            .args([
                "-vvv",
                "--log-format",
                format,
                "-k",
                "--slow",
                "0.05",
                "sh",
                "-c",
                "sleep 0.2; echo {}",
                ":::",
                "a",
                "b",
                "c",
            ])
            .assert()
            .success();
        assert_eq!(stdout_of(&out), "a\nb\nc\n");
        let err = stderr_of(&out);
        assert!(err.contains("job_finished"), "{format}: {err}");
        assert!(err.contains("SLOW job"), "{format}: {err}");
    }
}

#[test]
fn the_log_file_gets_the_lines_and_stderr_does_not() {
    let dir = Dir::new();
    let log = dir.join("fanout.log");
    let out = fanout()
        .args(["--log-format", "json", "--log-file"])
        .arg(&log)
        .args(["--no-summary", "sh", "-c", "exit {}", ":::", "0", "4"])
        .assert()
        .code(1);
    assert_eq!(stderr_of(&out), "");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines = json_lines(&text);
    assert_eq!(events(&lines, "run_started").len(), 1);
    assert_eq!(events(&lines, "job_finished").len(), 2);
    assert_eq!(events(&lines, "run_finished").len(), 1);

    // Text to a file: no colour codes, even at a high level.
    let tlog = dir.join("text.log");
    fanout()
        .args(["-vv", "--log-file"])
        .arg(&tlog)
        .args(["--no-summary", "true", ":::", "a"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&tlog).unwrap();
    assert!(text.contains("job started"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
}

#[test]
fn log_level_and_rust_log_filter_the_events() {
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = fanout();
        if let Some(e) = env {
            cmd.env("RUST_LOG", e);
        }
        let out = cmd
            .args(args)
            .args(["--no-summary", "sh", "-c", "exit {}", ":::", "0", "5"])
            .assert()
            .code(1);
        stderr_of(&out)
    };
    // Text defaults to warn, in lines for people: the failed job, not the successful one nor
    // the run events.
    let err = run(&[], None);
    assert!(err.contains("   FAIL ["), "{err}");
    assert!(err.contains("] #2 exit 5: sh -c 'exit 5'"), "{err}");
    assert!(!err.contains("#1"), "{err}");
    assert!(!err.contains("run started"), "{err}");
    // --log-level warn: the same events as tracing's key=value lines.
    let err = run(&["--log-level", "warn"], None);
    assert!(err.contains("job failed") && err.contains("seq=2"), "{err}");
    // -v: info.
    let err = run(&["-v"], None);
    assert!(
        err.contains("job finished") && err.contains("run started"),
        "{err}"
    );
    assert!(!err.contains("job started"), "{err}");
    // --log-level debug and RUST_LOG=debug: debug.
    assert!(run(&["--log-level", "debug"], None).contains("job started"));
    assert!(run(&[], Some("debug")).contains("job started"));
    // RUST_LOG-style directives work; --log-level wins over RUST_LOG.
    assert!(run(&["--log-level", "fanout=debug"], None).contains("job started"));
    let err = run(&["--log-level", "error"], Some("debug"));
    assert!(!err.contains("job"), "{err}");
    // --quiet: errors only.
    let err = run(&["--quiet"], None);
    assert!(
        !err.contains("job failed") && !err.contains("FAIL"),
        "{err}"
    );
    // JSON defaults to info.
    let err = run(&["--log-format", "json"], None);
    let lines = json_lines(&err);
    assert_eq!(events(&lines, "job_finished").len(), 2);
    assert!(events(&lines, "job_started").is_empty());
}

#[test]
fn a_bad_log_filter_is_a_setup_error() {
    let out = fanout()
        .args(["--log-level", "fanout=loud", "true", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(
        err.starts_with("fanout: error:") && err.contains("log filter"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn slow_prints_a_slow_line_at_the_default_level() {
    let out = fanout()
        .args(["--no-summary", "--slow", "0.3", "sleep", "{}", ":::", "1.5"])
        .assert()
        .success();
    let err = stderr_of(&out);
    // For people: `   SLOW [  0.301s] #1 still running: sleep 1.5`.
    assert!(err.contains("   SLOW ["), "{err}");
    assert!(err.contains("s] #1 still running: sleep 1.5"), "{err}");
    // With -v, tracing's line with its message and fields.
    let out = fanout()
        .args([
            "-v",
            "--no-summary",
            "--slow",
            "0.3",
            "sleep",
            "{}",
            ":::",
            "1.5",
        ])
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(err.contains("SLOW job 1 running for "), "{err}");
    assert!(err.contains("s: sleep 1.5"), "{err}");
}

/// A misspelt level is an error, not a filter that silently turns every log line off.
#[test]
fn a_misspelt_log_level_is_an_error() {
    let out = fanout()
        .args(["--log-level", "warning", "false", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(err.contains("unknown log level `warning`"), "{err}");
    let out = fanout()
        .args(["--no-summary", "--log-level", "warn", "false", ":::", "a"])
        .assert()
        .code(1);
    assert!(stderr_of(&out).contains("job failed"));
    // The default level is warn too, in the lines for people.
    let out = fanout()
        .args(["--no-summary", "false", ":::", "a"])
        .assert()
        .code(1);
    assert!(stderr_of(&out).contains("   FAIL ["));
}

/// A `--log-file` that cannot be opened says what to do; one that cannot be written
/// (`/dev/full`) is reported once, on one line, and the jobs still run.
#[test]
fn log_file_errors_are_one_clear_line() {
    let dir = Dir::new();
    let out = fanout()
        .args(["--log-file", s(&dir.join("missing/x.log"))])
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.contains("give a writable path to --log-file"),
        "{err:?}"
    );

    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped the /dev/full half: no /dev/full here");
        return;
    }
    let out = fanout()
        .args(["--log-file", "/dev/full", "-vv", "--no-summary", "-k"])
        .args(["echo", ":::", "a", "b", "c"])
        .assert()
        .success()
        .stdout("a\nb\nc\n");
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.contains("cannot write to log file `/dev/full`"),
        "{err:?}"
    );
    assert!(!err.contains("tracing-subscriber"), "{err:?}");
}
