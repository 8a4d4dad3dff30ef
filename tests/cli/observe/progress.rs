//! Progress: no bar without a terminal, the plain progress line, and the bar under a real
//! pseudo-terminal (`script`), with output and log lines arriving whole and `NO_COLOR` obeyed.

use std::time::Duration;

use super::{events, has_fields};
use crate::util::*;

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
    let slow: Vec<&str> = out
        .split('\n')
        .filter(|l| l.contains("still running"))
        .collect();
    assert!(!slow.is_empty(), "{out:?}");
    for l in slow {
        let shown = after_last_clear(l);
        assert!(
            shown.contains("SLOW\x1b[0m [") && shown.contains("still running: sh -c"),
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

/// Every frame of the progress bar shows the counts: none is an empty bar across the line
/// (the message used to be set after the length and position, which draw too).
#[test]
fn every_progress_bar_frame_shows_the_counts() {
    let out = under_pty_env("--no-summary sleep ::: 0.3", &[("NO_COLOR", "1")]);
    let frames: Vec<&str> = out
        .split(['\r', '\n'])
        .flat_map(|l| l.split("\x1b[2K"))
        .filter(|f| f.contains("00:00:"))
        .collect();
    assert!(!frames.is_empty(), "no bar drawn: {out:?}");
    for f in frames {
        assert!(f.contains(" done, "), "a frame without counts: {f:?}");
    }
}

/// With `:::` the input is in memory: `run_started` carries the total, and the progress line
/// has the final total (and an ETA) from the start, not `1/1+`.
#[test]
fn an_in_memory_input_gives_the_total_at_once() {
    let out = fanout()
        .args(["-j1", "--no-summary", "--log-format", "json"])
        .args(["--progress-interval", "100ms", "sleep", "{}"])
        .args([":::", "2", "0", "0"])
        .assert()
        .success();
    let lines = json_lines(&stderr_of(&out));
    let started = events(&lines, "run_started");
    let started = started.first().expect("run_started");
    assert_eq!(started["total"], 3, "{started}");
    // The first job runs 2 s: a line comes before anything is done.
    let progress = events(&lines, "progress");
    let first = progress.first().expect("a progress line");
    assert_eq!(first["done"], 0, "{first}");
    assert_eq!(first["total"], 3, "{first}");
    assert_eq!(first["total_final"], true, "{first}");
    // A streamed input does not know its length at the start.
    let out = fanout()
        .args(["--no-summary", "--log-format", "json", "echo"])
        .write_stdin("a\nb\n")
        .assert()
        .success();
    let err = stderr_of(&out);
    let started = err
        .lines()
        .find(|l| l.contains("\"run_started\""))
        .expect("run_started");
    assert!(!started.contains("\"total\""), "{started}");
}

/// A regular file is counted in the background (`input_counted`), as the jobs will take it:
/// `-N 2` makes pairs, a `--header` line is no job; a pipe and `-X` (jobs filled by length)
/// are not counted.
#[test]
fn a_file_input_is_counted_in_the_background_as_jobs() {
    let dir = Dir::new();
    let list = dir.write("list", "a\nb\nc\nd\ne\n");
    let csv = dir.write("t.csv", "name,n\na,1\nb,2\nc,3\n");
    // The count is a background task stopped with the run: each job lasts long enough for it.
    let job = ["sh", "-c", "sleep 0.3"];
    let counted = |before: &[&str], after: &[&str], stdin: Option<&std::path::Path>| {
        let mut cmd = fanout_cmd();
        cmd.args([
            "--no-summary",
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ])
        .args(before)
        .args(job)
        .args(after)
        .current_dir(dir.path());
        cmd.stdin(match stdin {
            Some(p) => std::process::Stdio::from(std::fs::File::open(p).unwrap()),
            None => std::process::Stdio::null(),
        });
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{before:?} {after:?}: {out:?}");
        let lines = json_lines(&String::from_utf8_lossy(&out.stderr));
        let c = events(&lines, "input_counted");
        c.first().map(|v| v["total"].as_u64().unwrap())
    };
    assert_eq!(counted(&[], &["::::", s(&list)], None), Some(5));
    assert_eq!(counted(&["-a", s(&list)], &[], None), Some(5));
    assert_eq!(counted(&[], &[], Some(&list)), Some(5), "stdin from a file");
    assert_eq!(counted(&["-N", "2"], &["::::", s(&list)], None), Some(3));
    let header = ["--header", ":", "--colsep", ","];
    assert_eq!(
        counted(&header, &["{name}", "::::", s(&csv)], None),
        Some(3)
    );
    assert_eq!(counted(&["-X"], &["::::", s(&list)], None), None);
    // A pipe cannot be counted without being read.
    let out = fanout()
        .args([
            "--no-summary",
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ])
        .args(job)
        .write_stdin("a\nb\n")
        .assert()
        .success();
    assert!(!stderr_of(&out).contains("input_counted"));
}
