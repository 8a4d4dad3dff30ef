//! At the terminal and in pipelines: lines for people (one status line per failed job, a
//! missing program said once), the automatic summary, pure JSON on stderr with
//! `--log-format json` (and a descriptor of their own for the logs), `args` as an array, the
//! progress bar's truth and its debris read from a real screen (tmux), completions in a real
//! `bash -i`, the man page's sections, and per-job CPU time and memory.

use serde_json::Value;

use crate::util::*;

/// The lines of a terminal's output with the escape codes that only move the cursor or clear
/// taken out (colour codes stay), split at line ends.
fn screen_lines(out: &str) -> Vec<String> {
    out.split('\n')
        .map(|l| after_last_clear(l).trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn a_missing_program_is_said_once_and_each_job_gets_one_status_line() {
    let out = under_pty_env(
        "--no-progress nosuchprog-xyz ::: a b c",
        &[("NO_COLOR", "1")],
    );
    let lines = screen_lines(&out);
    let said = lines
        .iter()
        .filter(|l| l.contains("nosuchprog-xyz: command not found"))
        .count();
    assert_eq!(said, 1, "{lines:#?}");
    let status: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("NOSTART ["))
        .collect();
    assert_eq!(status.len(), 3, "{lines:#?}");
    for l in &status {
        assert!(l.contains("exit 127: nosuchprog-xyz "), "{l}");
    }
    // No tracing lines: no timestamps, no key=value fields.
    assert!(!out.contains("event="), "{out:?}");
    assert!(!out.contains(" WARN "), "{out:?}");
    // Off a terminal, the same: once (grouped and streamed output alike).
    for mode in ["--group", "--line-buffer"] {
        let out = fanout()
            .args([mode, "nosuchprog-xyz", ":::", "a", "b", "c"])
            .assert()
            .code(3);
        let err = stderr_of(&out);
        assert_eq!(
            err.matches("nosuchprog-xyz: command not found").count(),
            1,
            "{mode}: {err}"
        );
        assert_eq!(err.matches("NOSTART [").count(), 3, "{mode}: {err}");
    }
    // The results still hold each job's own copy of the message.
    let dir = Dir::new();
    let r = dir.join("r.jsonl");
    fanout()
        .args(["--results-json", s(&r), "nosuchprog-xyz", ":::", "a", "b"])
        .assert()
        .code(2);
    for v in json_lines(&std::fs::read_to_string(&r).unwrap()) {
        assert!(
            v["stderr"].as_str().unwrap().contains("command not found"),
            "{v}"
        );
    }
}

#[test]
fn status_lines_name_how_each_job_ended_in_colour_on_a_terminal() {
    let out = under_pty(
        "--no-progress -j3 --timeout 1 sh -c 'case {} in k) kill -9 $$;; t) sleep 5;; *) exit {};; esac' ::: 0 3 k t",
    );
    let lines = screen_lines(&out);
    let find = |word: &str| {
        lines
            .iter()
            .find(|l| l.contains(word))
            .unwrap_or_else(|| panic!("no {word} line: {lines:#?}"))
            .clone()
    };
    assert!(
        find("FAIL\x1b[0m [").contains("#2 exit 3: sh -c"),
        "{lines:#?}"
    );
    assert!(
        find("SIGNAL\x1b[0m [").contains("#3 SIGKILL: sh -c"),
        "{lines:#?}"
    );
    assert!(
        find("TIMEOUT\x1b[0m [").contains("#4 SIGTERM: sh -c"),
        "{lines:#?}"
    );
    assert!(find("FAIL").starts_with("\x1b[1;31m   FAIL"), "{lines:#?}");
    // The job that succeeded has no line.
    assert!(!lines.iter().any(|l| l.contains("#1 ")), "{lines:#?}");
}

/// With `--log-format json`, everything fanout writes to stderr parses as JSON: the events,
/// the summary, a job that could not start (its message is in `error`), a setup error.
#[test]
fn json_logs_make_stderr_pure_json() {
    let out = fanout()
        .args([
            "--log-format",
            "json",
            "-j2",
            "nosuchprog-xyz",
            ":::",
            "a",
            "b",
        ])
        .assert()
        .code(2);
    let lines = json_lines(&stderr_of(&out));
    let fin: Vec<&Value> = lines
        .iter()
        .filter(|v| v["event"] == "job_finished")
        .collect();
    assert_eq!(fin.len(), 2);
    for v in fin {
        assert_eq!(v["error"], "nosuchprog-xyz: command not found", "{v}");
    }
    assert_eq!(lines.last().unwrap()["event"], "run_summary");

    // A setup error once the command line is read: JSON too, exit 255.
    let out = fanout()
        .args([
            "--log-format",
            "json",
            "--tmpdir",
            "/nonexistent/dir",
            "true",
            ":::",
            "a",
        ])
        .assert()
        .code(255);
    let lines = json_lines(&stderr_of(&out));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event"], "setup_error");
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(lines[0]["message"].as_str().unwrap().contains("--tmpdir"));

    // The warning that input is read from a terminal, under a real one.
    let out = under_pty("--log-format json echo");
    let text: Vec<&str> = out
        .split(['\r', '\n'])
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!text.is_empty(), "{out:?}");
    for l in &text {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
        assert!(v["event"].is_string(), "{l}");
    }
    assert!(
        text.iter()
            .any(|l| l.contains("\"event\":\"input_from_terminal\"")),
        "{text:?}"
    );
}

/// The README's recipe: JSON logs on a descriptor of their own (`--log-file /dev/fd/3`), the
/// jobs' stdout and stderr where they were.
#[test]
fn json_logs_on_a_descriptor_of_their_own() {
    let dir = Dir::new();
    let cmd = format!(
        "'{}' --log-format json --log-file /dev/fd/3 sh -c 'echo out{{}}; echo err{{}} >&2; exit {{}}' ::: 0 1 3>'{}' >'{}' 2>'{}'",
        fanout_path().display(),
        dir.join("logs").display(),
        dir.join("out").display(),
        dir.join("err").display(),
    );
    let mut sh = std::process::Command::new("sh");
    clean_env(&mut sh).args(["-c", &cmd]);
    let status = sh.status().unwrap();
    assert_eq!(status.code(), Some(1));
    let logs = json_lines(&std::fs::read_to_string(dir.join("logs")).unwrap());
    let fin = logs.iter().filter(|v| v["event"] == "job_finished").count();
    assert_eq!(fin, 2, "{logs:?}");
    assert!(logs.iter().any(|v| v["event"] == "run_finished"));
    let out = sorted_lines(&std::fs::read(dir.join("out")).unwrap());
    assert_eq!(out, ["out0", "out1"]);
    // stderr: the jobs' own lines as they wrote them, and the summary as one JSON object.
    let err = std::fs::read_to_string(dir.join("err")).unwrap();
    let mut err_lines: Vec<&str> = err.lines().collect();
    let summary: Value = serde_json::from_str(err_lines.pop().unwrap()).unwrap();
    assert_eq!(summary["event"], "run_summary", "{err}");
    err_lines.sort();
    assert_eq!(err_lines, ["err0", "err1"], "{err}");
}

/// `args` is the array of a job's values (schema version 2), in the logs and the results; the
/// joined text is `args_text`.
#[test]
fn args_are_an_array_of_the_values() {
    let dir = Dir::new();
    let r = dir.join("r.jsonl");
    let out = fanout()
        .args(["--log-format", "json", "--results-json", s(&r), "-j1"])
        .args(["echo", ":::", "a", ":::", "b c"])
        .assert()
        .success();
    let logs = json_lines(&stderr_of(&out));
    let started = logs.iter().find(|v| v["event"] == "run_started").unwrap();
    assert_eq!(started["schema_version"], 2);
    let fin = logs.iter().find(|v| v["event"] == "job_finished").unwrap();
    assert_eq!(fin["args"], serde_json::json!(["a", "b c"]), "{fin}");
    assert_eq!(fin["args_text"], "a b c", "{fin}");
    let res = json_lines(&std::fs::read_to_string(&r).unwrap());
    assert_eq!(res[0]["args"], serde_json::json!(["a", "b c"]));
    assert_eq!(res[0]["args_text"], "a b c");
}
