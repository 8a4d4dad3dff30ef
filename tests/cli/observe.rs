//! Observability: structured logs (text and JSON, levels and filters, log file), the
//! end-of-run summary (text and JSON), `--slow` lines, the plain progress line, and the
//! progress bar under a real pseudo-terminal.

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::util::{BOUND, fanout, fanout_path, wait_until};

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// Every stderr line parsed as JSON (panics on a line that is not).
fn json_lines(err: &str) -> Vec<Value> {
    err.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == name).collect()
}

/// Asserts that `v` has each field, of the JSON type given (`n` number, `s` string, `b` bool).
fn has_fields(v: &Value, fields: &[(&str, char)]) {
    for (f, t) in fields {
        let ok = match t {
            'n' => v[f].is_number(),
            's' => v[f].is_string(),
            'b' => v[f].is_boolean(),
            _ => unreachable!(),
        };
        assert!(ok, "field `{f}` ({t}) missing or mistyped in {v}");
    }
}

const COMMON: &[(&str, char)] = &[
    ("timestamp", 's'),
    ("level", 's'),
    ("message", 's'),
    ("event", 's'),
];

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
    assert_eq!(started[0]["schema_version"], 1);
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
                ("args", 's'),
                ("command", 's'),
            ],
        );
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
                ("args", 's'),
                ("command", 's'),
            ],
        );
    }
    let by_args = |a: &str| *fin.iter().find(|j| j["args"] == a).unwrap();
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

    // The JSON summary is the last line, one object.
    let summary = lines.last().unwrap();
    assert!(summary.get("event").is_none(), "{summary}");
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
        assert_eq!(
            String::from_utf8_lossy(&out.get_output().stdout),
            "a\nb\nc\n"
        );
        let err = stderr_of(&out);
        assert!(err.contains("job_finished"), "{format}: {err}");
        assert!(err.contains("SLOW job"), "{format}: {err}");
    }
}

#[test]
fn the_log_file_gets_the_lines_and_stderr_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("fanout.log");
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
    let tlog = dir.path().join("text.log");
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
    // Text defaults to warn: the failed job, not the successful one nor the run events.
    let err = run(&[], None);
    assert!(err.contains("job failed"), "{err}");
    assert!(!err.contains("job finished"), "{err}");
    assert!(!err.contains("run started"), "{err}");
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
    // -q: errors only.
    assert!(!run(&["-q"], None).contains("job failed"));
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
    assert!(err.contains("slowest: job "), "{err}");
    assert!(!err.contains('\x1b'), "{err}");
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
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["total"], 2);
    assert_eq!(v["succeeded"], 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["timed_out"], 0);
    assert_eq!(v["exit_code"], 1);
    assert!(v["wall_ms"].is_number());
    assert_eq!(v["failures"][0]["seq"], 2);
    assert_eq!(v["failures"][0]["exit_code"], 7);
    assert_eq!(v["failures"][0]["command"], "sh -c 'exit 7'");
    assert_eq!(v["cancel_reason"], Value::Null);
    assert!(v["slowest"].is_array());
}

#[test]
fn no_summary_and_quiet_hide_the_summary() {
    for flag in ["--no-summary", "-q"] {
        let out = fanout()
            .args([flag, "sh", "-c", "exit {}", ":::", "0", "1"])
            .assert()
            .code(1);
        let err = stderr_of(&out);
        assert!(!err.contains("fanout:"), "{flag}: {err}");
        assert!(!err.contains("jobs"), "{flag}: {err}");
    }
    // And without the flag it is there.
    let out = fanout().args(["true", ":::", "a"]).assert().success();
    assert!(stderr_of(&out).starts_with("fanout: 1 job: 1 ok, 0 failed in "));
}

#[test]
fn slow_prints_a_slow_line_at_the_default_level() {
    let out = fanout()
        .args(["--no-summary", "--slow", "0.3", "sleep", "{}", ":::", "1.5"])
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(err.contains("SLOW job 1 running for "), "{err}");
    assert!(err.contains("s: sleep 1.5"), "{err}");
}

#[test]
fn no_bar_and_no_escape_codes_without_a_terminal() {
    let out = fanout()
        .args(["-v", "sh", "-c", "sleep 0.6; exit {}", ":::", "0", "1"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(!err.contains(" running, "), "{err}");
    // --progress forces the bar: escape codes then, as asked.
    let out = fanout()
        .args(["--progress", "--no-summary", "sleep", "{}", ":::", "0.6"])
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(
        err.contains(" running, ") && err.contains('\x1b'),
        "{err:?}"
    );
}

#[test]
fn a_plain_progress_line_is_logged_every_interval() {
    let out = fanout()
        .args([
            "-v",
            "--no-summary",
            "--progress-interval",
            "0.2",
            "sleep",
            "{}",
            ":::",
            "1.2",
        ])
        .assert()
        .success();
    let err = stderr_of(&out);
    assert!(err.contains("progress: 0/1 done, 1 running"), "{err}");
    assert!(err.contains("event=\"progress\""), "{err}");

    let out = fanout()
        .args([
            "--log-format",
            "json",
            "--no-summary",
            "--progress-interval",
            "0.2",
            "sleep",
            "{}",
            ":::",
            "1.2",
        ])
        .assert()
        .success();
    let lines = json_lines(&stderr_of(&out));
    let p = events(&lines, "progress");
    assert!(!p.is_empty(), "{lines:?}");
    has_fields(
        p[0],
        &[
            ("done", 'n'),
            ("total", 'n'),
            ("total_final", 'b'),
            ("running", 'n'),
            ("failed", 'n'),
            ("elapsed_ms", 'n'),
        ],
    );

    // At the default level (warn) the line is not shown.
    let out = fanout()
        .args([
            "--no-summary",
            "--progress-interval",
            "0.2",
            "sleep",
            "{}",
            ":::",
            "0.8",
        ])
        .assert()
        .success();
    assert_eq!(stderr_of(&out), "");
}

/// Runs fanout with `args` (shell words) under a pseudo-terminal (`script`), bounded, and
/// returns everything the terminal received.
fn under_pty(args: &str) -> String {
    under_pty_env(args, &[])
}

fn under_pty_env(args: &str, env: &[(&str, &str)]) -> String {
    let cmd = format!("{} {args}", fanout_path().display());
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env_remove("CI")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (bsdutils) is installed");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let ended = wait_until(BOUND, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fanout under a pty did not end within {BOUND:?}");
    }
    String::from_utf8_lossy(&reader.join().unwrap()).into_owned()
}

/// What a terminal line shows last: the text after its last clear-line code.
fn after_last_clear(line: &str) -> &str {
    line.rsplit("\x1b[2K").next().unwrap()
}

#[test]
fn the_bar_under_a_pty_leaves_output_and_log_lines_whole() {
    let out = under_pty("-j2 --slow 0.15 sh -c 'sleep 0.4; echo out-{}-$((6*7))' ::: 1 2 3 4 5 6");
    // The bar was drawn, with its counts.
    assert!(
        out.contains(" done, ") && out.contains(" running, "),
        "{out:?}"
    );
    assert!(out.contains("/6 done"), "{out:?}");
    // Each output line arrives whole, on a line of its own once the bar is cleared.
    for n in 1..=6 {
        // The command shows `$((6*7))`, the output `42`: only output lines match.
        let want = format!("out-{n}-42");
        let line = out
            .split('\n')
            .find(|l| l.contains(&want))
            .unwrap_or_else(|| panic!("{want} missing: {out:?}"));
        assert_eq!(
            after_last_clear(line).trim_end_matches('\r'),
            want,
            "{out:?}"
        );
    }
    // The SLOW log lines went through the bar too, each whole.
    let slow: Vec<&str> = out.split('\n').filter(|l| l.contains("SLOW job")).collect();
    assert!(!slow.is_empty(), "{out:?}");
    for l in slow {
        let shown = after_last_clear(l);
        assert!(
            shown.contains("SLOW job") && shown.contains("$((6*7))'"),
            "{l:?}"
        );
        assert!(!shown.contains(" done, "), "{l:?}");
    }
    // The summary comes after the bar is cleared.
    assert!(out.contains("6 ok"), "{out:?}");

    // --no-progress: no bar on the terminal.
    let out = under_pty("--no-progress -j2 sh -c 'sleep 0.3; echo x{}' ::: 1 2");
    assert!(out.contains("x1") && out.contains("x2"), "{out:?}");
    assert!(!out.contains(" running, "), "{out:?}");
}

#[test]
fn json_logs_on_stderr_keep_the_bar_away_unless_forced() {
    // Under a pty with JSON logs on stderr, an automatic bar would tear the JSON lines.
    let out = under_pty("--log-format json --no-summary sleep {} ::: 0.6");
    assert!(!out.contains(" running, "), "{out:?}");
    assert!(out.contains("\"event\":\"run_finished\""), "{out:?}");
}

#[test]
fn progress_bar_tick_does_not_delay_the_end() {
    // The ticker is stopped with the run: a quick run ends quickly even with a long interval.
    let t0 = std::time::Instant::now();
    fanout()
        .args(["--progress-interval", "30s", "true", ":::", "a"])
        .assert()
        .success();
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
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

    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("once");
    let out = fanout()
        .args([
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
    assert!(err.contains("job will be retried"), "{err}");
}

#[test]
fn the_summary_says_when_a_signal_interrupted_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let child = std::process::Command::new(fanout_path())
        .args([
            "--summary",
            "json",
            "-j1",
            "sh",
            "-c",
            "touch {}; sleep 30",
            ":::",
        ])
        .arg(&marker)
        .arg(dir.path().join("never"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_until(BOUND, || marker.exists()),
        "the job never started"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut child = child;
    let mut err = String::new();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let mut status = None;
    assert!(
        wait_until(BOUND, || {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "fanout did not end after SIGTERM"
    );
    assert_eq!(status.unwrap().code(), Some(143));
    let err = reader.join().unwrap();
    let v: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(v["cancel_reason"], "signal", "{err}");
    assert_eq!(v["interrupted_by"], "SIGTERM", "{err}");
    assert_eq!(v["cancelled"], 1, "{err}");
    assert_eq!(v["exit_code"], 143, "{err}");
    // The scheduler was waiting for a slot for the second job: it logs that it stops.
    assert!(err.contains("starting no new jobs"), "{err}");
    assert!(!dir.path().join("never").exists());
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(fanout_path())
        .args([
            "-j2",
            "sh",
            "-c",
            "sleep 0.{}; echo {}",
            ":::",
            "1",
            "3",
            "5",
            "7",
            "9",
        ])
        .env_remove("RUST_LOG")
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
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = pipe.read_to_string(&mut err);
        err
    });
    let mut status = None;
    assert!(wait_until(BOUND, || {
        status = child.try_wait().unwrap();
        status.is_some()
    }));
    assert_eq!(status.unwrap().code(), Some(141));
    assert_eq!(reader.join().unwrap(), "", "no summary, no warnings");
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let args = "-j2 sh -c 'sleep 0.4; exit {}' ::: 0 1";
    // With colour: the summary's counts and the bar are coloured.
    let out = under_pty(args);
    assert!(out.contains("\x1b[32m1 ok"), "{out:?}");
    assert!(out.contains(" running, "), "{out:?}");
    // NO_COLOR: the bar is still there, but no colour (SGR) codes anywhere.
    let out = under_pty_env(args, &[("NO_COLOR", "1")]);
    assert!(out.contains(" running, "), "{out:?}");
    assert!(out.contains("1 ok, 1 failed"), "{out:?}");
    assert!(
        !out.contains("m\x1b[0m") && !out.contains("\x1b[3"),
        "{out:?}"
    );
}
