//! Inputs: `:::` values and their product, linked sources (`:::+`, `::::+`), files and
//! `-a`, stdin lines and NUL-separated values, a command per line, jobs that start before the
//! input ends, and input that is missing, unreadable or a terminal.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

#[test]
fn runs_one_job_per_argument() {
    let out = fanout()
        .args(["--no-summary", "echo", "hi", ":::", "a", "b", "c"])
        .assert()
        .success();
    assert_eq!(
        sorted_lines(&out.get_output().stdout),
        ["hi a", "hi b", "hi c"]
    );
}

#[test]
fn several_groups_give_the_product_first_slowest() {
    let out = run_stdout(&[
        "-k", "echo", "{1}{2}", ":::", "a", "b", ":::", "1", "2", "3",
    ]);
    assert_eq!(out, "a1\na2\na3\nb1\nb2\nb3\n");
}

#[test]
fn linked_groups_go_element_by_element() {
    let out = run_stdout(&[
        "-k", "echo", "{1}={2}", ":::", "a", "b", "c", ":::+", "1", "2", "3",
    ]);
    assert_eq!(out, "a=1\nb=2\nc=3\n");
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

#[test]
fn files_and_arg_files_give_one_value_per_line() {
    let dir = Dir::new();
    let f = dir.write("in.txt", "x\ny\n");
    let f = s(&f);
    assert_eq!(run_stdout(&["-k", "echo", "{}", "::::", f]), "x\ny\n");
    assert_eq!(run_stdout(&["-k", "-a", f, "echo", "{}"]), "x\ny\n");
    assert_eq!(
        run_stdout(&["-k", "echo", "{1}{2}", "::::", f, ":::", "1", "2"]),
        "x1\nx2\ny1\ny2\n"
    );
}

/// `::::+ FILE` links to the source before it even when that is a file too, and every file
/// after `::::+` is linked, as in GNU parallel.
#[test]
fn files_after_the_linking_separator_are_all_linked() {
    let dir = Dir::new();
    dir.write("a", "a1\na2\n");
    dir.write("b", "b1\nb2\n");
    dir.write("c", "c1\nc2\nc3\n");
    dir.fanout()
        .args(["-j1", "-k", "--no-summary", "echo"])
        .args(["::::", "a", "::::+", "b"])
        .assert()
        .success()
        .stdout("a1 b1\na2 b2\n");
    dir.fanout()
        .args(["-j1", "-k", "--no-summary", "echo"])
        .args([":::", "x", "y", "::::+", "b", "c"])
        .assert()
        .success()
        .stdout("x b1 c1\ny b2 c2\n");
}

/// `-a FILE` is the first input source, so `:::+` right after the command links to it (it
/// used to be refused: "there is none").
#[test]
fn linking_to_an_arg_file_works() {
    let dir = Dir::new();
    dir.write("f", "f1\nf2\n");
    dir.fanout()
        .args(["-j1", "-k", "--no-summary", "-a", "f", "echo"])
        .args([":::+", "x", "y"])
        .assert()
        .success()
        .stdout("f1 x\nf2 y\n");
}

#[test]
fn stdin_lines_and_nul_separated_input() {
    let out = fanout()
        .args(["--no-summary", "-k", "-q", "echo", "<{}>"])
        .write_stdin("a b\nc\n")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "<a b>\n<c>\n");
    let out = fanout()
        .args(["--no-summary", "-k", "-q", "-0", "printf", "[%s]\\n"])
        .write_stdin("line1\nline2\0two\0")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "[line1\nline2]\n[two]\n");
}

#[test]
fn without_a_command_each_line_is_a_command() {
    let out = fanout()
        .args(["--no-summary", "-k"])
        .write_stdin("echo one\necho two | tr a-z A-Z\n")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "one\nTWO\n");
}

#[test]
fn the_first_job_starts_before_the_input_ends() {
    let mut child = fanout_cmd()
        .args(["--no-summary", "echo", "got"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let lines = line_receiver(&mut child);
    let first = lines.recv_timeout(Duration::from_secs(20));
    drop(stdin);
    let _ = wait_bounded(child, BOUND);
    assert_eq!(
        first.as_deref(),
        Ok("got first"),
        "the job ran while stdin was still open"
    );
}

#[test]
fn an_empty_input_runs_nothing_and_succeeds() {
    let out = fanout()
        .args(["--no-summary", "echo"])
        .write_stdin("")
        .assert()
        .success();
    assert!(out.get_output().stdout.is_empty());
}

/// `fanout cmd` with no `:::` on a terminal reads the terminal: it says so instead of
/// waiting in silence.
#[test]
fn reading_input_from_a_terminal_says_so() {
    let out = under_pty_env("--no-progress --no-summary echo", &[("NO_COLOR", "1")]);
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

// ---- input that cannot be read -------------------------------------------------------------

#[test]
fn a_missing_input_file_is_a_setup_error() {
    let out = fanout()
        .args(["echo", "::::", "/nonexistent/in.txt"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(err.contains("/nonexistent/in.txt"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A missing input file: one line that names it and says where to fix it.
#[test]
fn a_missing_input_file_says_what_to_check() {
    let dir = Dir::new();
    let out = dir
        .fanout()
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

#[test]
fn unreadable_and_directory_inputs_are_one_line_setup_errors() {
    let dir = Dir::new();
    let check = |out: &std::process::Output, what: &str| {
        assert_eq!(out.status.code(), Some(255), "{what}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.starts_with("fanout: error: "), "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}");
    };
    let out = fanout()
        .args(["--no-summary", "echo", "::::", s(dir.path())])
        .output()
        .unwrap();
    check(&out, "a directory");
    assert!(String::from_utf8_lossy(&out.stderr).contains(s(dir.path())));

    // Unreadable: as root every file is readable, so fanout runs as `nobody` there.
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = dir.write("secret", "a\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = fanout_cmd();
    cmd.args(["--no-summary", "echo", "::::", s(&f)]);
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        cmd.uid(65534).gid(65534);
    }
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(BOUND);
    let out = match cmd.output() {
        Ok(out) => out,
        // The binary lies where `nobody` may not go (a build under /root).
        Err(e) => {
            eprintln!("note: cannot run fanout as nobody ({e}); unreadable-file case skipped");
            return;
        }
    };
    check(&out, "an unreadable file");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("secret") && err.contains("ermission denied"),
        "{err}"
    );
}
