//! Replacement strings: GNU parallel's forms, values never expanded again, a bad placeholder
//! (in the command or in `--tagstring`) refused before any job runs, and the commands they
//! render printed by `--dry-run` (quoted, tagged, byte for byte) while nothing runs.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::util::*;

#[test]
fn replacement_strings_follow_gnu_parallel() {
    let out = run_stdout(&[
        "-k",
        "echo",
        "{}",
        "{.}",
        "{/}",
        "{//}",
        "{/.}",
        "{#}",
        ":::",
        "dir/sub/f.tar.gz",
        "plain",
    ]);
    assert_eq!(
        out,
        "dir/sub/f.tar.gz dir/sub/f.tar f.tar.gz dir/sub f.tar 1\nplain plain plain . plain 2\n"
    );
    let out = run_stdout(&["-k", "echo", "{2/.}-{1}", ":::", "a", ":::", "x/y.c"]);
    assert_eq!(out, "y-a\n");
}

#[test]
fn substituted_values_are_never_expanded_again() {
    let out = run_stdout(&["echo", "{}", ":::", "{1} {} {#} {{"]);
    assert_eq!(out, "{1} {} {#} {{\n");
}

#[test]
fn bad_placeholders_fail_before_any_job_runs() {
    let dir = Dir::new();
    let marker = dir.join("ran");
    for bad in ["{1..}", "{3}", "{/..}", "{2"] {
        let out = fanout()
            .args(["touch", s(&marker), bad, ":::", "a", ":::", "b"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert!(err.starts_with("fanout: error:"), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
    }
    assert!(!marker.exists(), "no job may run after a template error");
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

/// A bad `--tagstring` names `--tagstring`, not the command template.
#[test]
fn a_bad_tagstring_names_the_option() {
    let out = fanout()
        .args(["--tagstring", "{3}", "echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("--tagstring"), "{err:?}");
    assert!(!err.contains("command template"), "{err:?}");
}

// ---- --dry-run ------------------------------------------------------------------------------

#[test]
fn dry_run_prints_commands_and_runs_nothing() {
    let dir = Dir::new();
    let marker = dir.join("ran");
    let m = s(&marker);
    let out = run_stdout(&["--dry-run", "-k", "touch", m, "{}", ":::", "a b", "c"]);
    assert_eq!(out, format!("touch {m} 'a b'\ntouch {m} c\n"));
    assert!(!marker.exists());
}

/// `--dry-run` prints a non-UTF-8 value's bytes as they are (GNU parallel does), not U+FFFD.
#[test]
fn dry_run_keeps_non_utf8_bytes() {
    fanout()
        .args(["--dry-run", "echo", "{}", ":::"])
        .arg(OsStr::from_bytes(b"\xff"))
        .assert()
        .success()
        .stdout(&b"echo '\xff'\n"[..]);
    fanout()
        .args(["--dry-run", "--shell", "printf %s {} | od -c", ":::"])
        .arg(OsStr::from_bytes(b"a\xfe"))
        .assert()
        .success()
        .stdout(&b"printf %s 'a\xfe' | od -c\n"[..]);
}

/// `--dry-run --tag` and `--tagstring` print the tag and a tab before the command, as GNU
/// parallel's `a<TAB>echo a`.
#[test]
fn dry_run_prints_the_tag() {
    fanout()
        .args(["--dry-run", "-k", "--tag", "echo", ":::", "a", "b"])
        .assert()
        .success()
        .stdout("a\techo a\nb\techo b\n");
    fanout()
        .args(["--dry-run", "--tagstring", "[{#}]", "echo", ":::", "a"])
        .assert()
        .success()
        .stdout("[1]\techo a\n");
}
