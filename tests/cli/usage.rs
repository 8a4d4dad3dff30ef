//! The command line: fanout's options told apart from the command's, and every usage error
//! (a misspelt option, a bad duration, count, sequence, halt or slot value) one line on
//! stderr with exit 255, while `--help` and `--version` exit 0.

use crate::util::*;

#[test]
fn attached_option_values_and_command_options_are_told_apart() {
    // `-j2` is fanout's option; `-n` after the command word belongs to the command.
    let out = fanout()
        .args([
            "--no-summary",
            "-j2",
            "-k",
            "echo",
            "-n",
            "{}",
            ":::",
            "a",
            "b",
        ])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "ab");
}

#[test]
fn a_usage_error_exits_255_and_help_exits_0() {
    let out = fanout().args(["--no-such-flag"]).assert().code(255);
    let err = stderr_of(&out);
    assert!(err.contains("--no-such-flag"), "{err}");
    fanout().arg("--help").assert().success();
    fanout().arg("--version").assert().success();
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

#[test]
fn bad_durations_sequences_halts_and_slots_are_usage_errors() {
    for args in [
        &["--timeout", "soon"][..],
        &["--timeout=-1"],
        &["--slow", "x"],
        &["--retry-delay", "1 parsec"],
        &["--grace", "forever"],
        &["--termseq", "FOO,100"],
        &["--termseq", "TERM,x"],
        &["--termseq", ""],
        &["--halt", "later,fail=1"],
        &["--halt", "now,fail=0"],
        &["--halt", "soon,fail=200%"],
        &["--halt", "now,oops=1"],
        &["--retries=-1"],
        &["-j", "x"],
        &["-j", "-x"],
    ] {
        let out = fanout()
            .args(args)
            .args(["true", ":::", "a"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert!(err.contains("invalid"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("fanout: error: "), "{args:?}: {err}");
        assert!(out.get_output().stdout.is_empty(), "{args:?}");
    }
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
