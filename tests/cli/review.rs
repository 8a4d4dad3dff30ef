//! What a demanding user meets first: GNU parallel's syntax behaving as in GNU parallel, usage
//! errors on one line, and a hint instead of silence when fanout waits for the terminal.

use std::io::Read;
use std::process::Stdio;

use crate::util::{BOUND, fanout, fanout_path, wait_until};

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// `:::+` stops at the shortest linked source, as GNU parallel's `:::+` (only `--link` wraps).
#[test]
fn linked_sources_stop_at_the_shortest_as_in_gnu_parallel() {
    fanout()
        .args(["-j1", "-k", "--no-summary", "echo", "{1}={2}"])
        .args([":::", "a", "b", "c", ":::+", "1", "2"])
        .assert()
        .success()
        .stdout("a=1\nb=2\n");
    fanout()
        .args(["-j1", "-k", "--no-summary", "echo", "{1}{2}{3}"])
        .args([":::", "a", "b", ":::+", "1", "2", "3", ":::", "x", "y"])
        .assert()
        .success()
        .stdout("a1x\na1y\nb2x\nb2y\n");
}

/// Typical mistakes on the command line: one line on stderr that says what is wrong and what
/// to do, and exit 255 as every other setup error.
#[test]
fn a_usage_error_is_one_line_and_exits_255() {
    let cases: &[(&[&str], &str)] = &[
        (&["--keep-ordr", "echo", ":::", "a"], "--keep-order"),
        (&["-j"], "a value is required for '--jobs <N>'"),
        (&["--summary", "xml", "echo", ":::", "a"], "text, json"),
        (&["--timeout", "5x", "echo", ":::", "a"], "write e.g. 30s"),
    ];
    for (args, want) in cases {
        let out = fanout().args(*args).assert().code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err:?}");
        assert!(err.starts_with("fanout: error: "), "{args:?}: {err:?}");
        assert!(err.contains(want), "{args:?}: {err:?} lacks {want:?}");
        assert!(!err.contains("Usage:"), "{args:?}: {err:?}");
    }
    fanout().arg("--help").assert().success();
}

/// A bad switch value from the environment names the variable the user has to fix.
#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let out = fanout()
        .env("FANOUT_KEEP_ORDER", "maybe")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("(set by FANOUT_KEEP_ORDER)"), "{err:?}");
}

/// Runs fanout with `args` (shell words) under a pseudo-terminal (`script`, stdin from
/// /dev/null so the terminal's input ends at once), bounded; returns what the terminal got.
fn under_pty(args: &str) -> String {
    let cmd = format!("{} {args}", fanout_path().display());
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env_remove("CI")
        .env_remove("RUST_LOG")
        .env_remove("FANOUT_QUIET")
        .env_remove("FANOUT_LOG_LEVEL")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
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
    if !wait_until(BOUND, || child.try_wait().unwrap().is_some()) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fanout under a pty did not end within {BOUND:?}");
    }
    String::from_utf8_lossy(&reader.join().unwrap()).into_owned()
}

/// `fanout cmd` with no `:::` on a terminal reads the terminal: it says so instead of
/// waiting in silence.
#[test]
fn reading_input_from_a_terminal_says_so() {
    let out = under_pty("--no-progress --no-summary echo");
    assert!(
        out.contains("reading input from the terminal"),
        "no hint on the terminal: {out:?}"
    );
    // With a pipe there is nothing to say.
    let out = fanout()
        .args(["--no-summary", "echo"])
        .write_stdin("a\n")
        .assert()
        .success();
    assert_eq!(stderr_of(&out), "");
}

/// Every frame of the progress bar shows the counts: none is an empty bar across the line
/// (the message used to be set after the length and position, which draw too).
#[test]
fn every_progress_bar_frame_shows_the_counts() {
    let out = under_pty("--no-summary sleep ::: 0.3");
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
}

/// `--unique` works on whole outputs: with output passed through as it comes it could not keep
/// its promise, so the combination is refused before any job runs.
#[test]
fn unique_with_streamed_output_is_refused() {
    for mode in ["--ungroup", "--line-buffer"] {
        let out = fanout()
            .args(["--unique", mode, "echo", "x", ":::", "a", "b"])
            .assert()
            .code(255)
            .stdout("");
        assert!(stderr_of(&out).contains(mode), "{mode}");
    }
    fanout()
        .args([
            "--unique",
            "--no-summary",
            "sh",
            "-c",
            "echo x",
            "{}",
            ":::",
            "a",
            "b",
        ])
        .assert()
        .success()
        .stdout("x\n");
}

/// `--help` shows the usage with the input separators, options by theme, and examples.
#[test]
fn help_shows_the_input_syntax_themes_and_examples() {
    let out = fanout().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(help.contains("Usage: fanout [OPTIONS] [COMMAND [ARGS...]] [::: VALUES | :::+ VALUES"));
    for heading in ["Output:", "Joblog and results:", "Examples:"] {
        assert!(help.contains(heading), "{heading} missing");
    }
}

/// An unclosed `{2` is named as such, not as an unknown replacement string.
#[test]
fn an_unclosed_replacement_string_says_so() {
    let out = fanout()
        .args(["echo", "x{2", ":::", "a", ":::", "b"])
        .assert()
        .code(255)
        .stdout("");
    let err = stderr_of(&out);
    assert!(err.contains("unclosed replacement string `{2`"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A bad `FANOUT_JOBS` is named, as the other options' variables are.
#[test]
fn a_bad_jobs_variable_is_named() {
    let out = fanout()
        .env("FANOUT_JOBS", "x")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("(set by FANOUT_JOBS)"));
}

/// `::::+ FILE` links to the source before it even when that is a file too, and every file
/// after `::::+` is linked, as in GNU parallel.
#[test]
fn files_after_the_linking_separator_are_all_linked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), "a1\na2\n").unwrap();
    std::fs::write(dir.path().join("b"), "b1\nb2\n").unwrap();
    std::fs::write(dir.path().join("c"), "c1\nc2\nc3\n").unwrap();
    fanout()
        .current_dir(dir.path())
        .args(["-j1", "-k", "--no-summary", "echo"])
        .args(["::::", "a", "::::+", "b"])
        .assert()
        .success()
        .stdout("a1 b1\na2 b2\n");
    fanout()
        .current_dir(dir.path())
        .args(["-j1", "-k", "--no-summary", "echo"])
        .args([":::", "x", "y", "::::+", "b", "c"])
        .assert()
        .success()
        .stdout("x b1 c1\ny b2 c2\n");
}

/// bash's `&>` and `|&` standing alone are refused before any job runs: `sh` (dash) would run
/// `echo a &> f` as `echo a &` plus `> f`, and fail on `|&`.
#[test]
fn bash_only_operators_are_refused_with_the_portable_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let out = fanout()
        .current_dir(dir.path())
        .args(["echo", "{}", "&>", "f", ":::", "a"])
        .assert()
        .code(255)
        .stdout("");
    assert!(stderr_of(&out).contains("`> FILE 2>&1`"));
    assert!(!dir.path().join("f").exists());
    let out = fanout()
        .args(["echo", "{}", "|&", "cat", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("`2>&1 |`"));
}

/// A missing input file: one line that names it and says where to fix it.
#[test]
fn a_missing_input_file_says_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = fanout()
        .current_dir(dir.path())
        .args(["echo", "::::", "nofile.txt"])
        .assert()
        .code(255)
        .stdout("");
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("`nofile.txt`"), "{err}");
    assert!(
        err.contains("check the path given after :::: or to -a"),
        "{err}"
    );
}

/// `-a FILE` is the first input source, so `:::+` right after the command links to it (it
/// used to be refused: "there is none").
#[test]
fn linking_to_an_arg_file_works() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "f1\nf2\n").unwrap();
    fanout()
        .current_dir(dir.path())
        .args(["-j1", "-k", "--no-summary", "-a", "f", "echo"])
        .args([":::+", "x", "y"])
        .assert()
        .success()
        .stdout("f1 x\nf2 y\n");
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

/// `--slow 0` used to log SLOW lines in a busy loop (tens of thousands in 0.2 s) and
/// `--timeout 0` ended every job at once: zero is refused, before any job runs.
#[test]
fn a_zero_slow_or_timeout_is_refused() {
    for opt in ["--slow", "--timeout"] {
        let out = fanout()
            .args([opt, "0", "sleep", ":::", "0.2"])
            .assert()
            .code(255)
            .stdout("");
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{opt}: {err}");
        assert!(err.contains("above zero"), "{opt}: {err}");
    }
}

/// A negative count or duration is a bad value of its option, not "an unexpected argument"
/// with clap's advice to write `-- -1` (which would make `-1` the command).
#[test]
fn a_negative_value_is_named_as_a_bad_value() {
    for (opt, value) in [("--retries", "-1"), ("--timeout", "-5"), ("--grace", "-1s")] {
        let out = fanout()
            .args([opt, value, "true", ":::", "a"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert!(
            err.contains(&format!("invalid value '{value}' for '{opt}")),
            "{err}"
        );
        assert!(!err.contains("use '--"), "{err}");
    }
}
