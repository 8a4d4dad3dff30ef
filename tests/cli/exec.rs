//! Running a job: values passed untouched (without a shell) or quoted (with one), what a job
//! inherits (no stdin, its seq and slot, no blocked signal), how a program is found, a job
//! that cannot start (missing, not executable, a directory, an argument too long), and the
//! exit code that counts the failures.

use std::os::unix::ffi::OsStrExt;

use crate::util::*;

const HOSTILE: [&str; 6] = [
    "a b",
    "it's \"quoted\"",
    "$(echo pwned)",
    "x; echo pwned",
    "`id`",
    "two\nlines",
];

#[test]
fn values_reach_the_program_untouched_without_a_shell() {
    let mut cmd = fanout();
    // -q: `[%s]\n` holds shell syntax (a backslash, a glob), which GNU parallel's shell
    // would read; -q keeps every word one argument, as GNU parallel's -q does.
    cmd.args(["--no-summary", "-k", "-q", "printf", "[%s]\\n", "{}", ":::"])
        .args(HOSTILE);
    let out = cmd.assert().success();
    let expected: String = HOSTILE.iter().map(|v| format!("[{v}]\n")).collect();
    assert_eq!(stdout_of(&out), expected);
}

#[test]
fn values_are_quoted_safely_with_a_shell() {
    let mut cmd = fanout();
    cmd.args([
        "--no-summary",
        "-k",
        "--shell",
        "printf '[%s]\\n' {}",
        ":::",
    ])
    .args(HOSTILE);
    let out = cmd.assert().success();
    let expected: String = HOSTILE.iter().map(|v| format!("[{v}]\n")).collect();
    assert_eq!(stdout_of(&out), expected);
    // The same through the automatic shell (the template has a pipe).
    let mut cmd = fanout();
    cmd.args(["--no-summary", "-k", "printf '[%s]\\n' {} | cat", ":::"])
        .args(HOSTILE);
    let out = cmd.assert().success();
    assert_eq!(stdout_of(&out), expected);
}

/// bash's `&>` and `|&` standing alone are refused before any job runs: `sh` (dash) would run
/// `echo a &> f` as `echo a &` plus `> f`, and fail on `|&`.
#[test]
fn bash_only_operators_are_refused_with_the_portable_spelling() {
    let dir = Dir::new();
    let out = dir
        .fanout()
        .args(["echo", "{}", "&>", "f", ":::", "a"])
        .assert()
        .code(255)
        .stdout("");
    assert!(stderr_of(&out).contains("`> FILE 2>&1`"));
    assert!(!dir.join("f").exists());
    let out = fanout()
        .args(["echo", "{}", "|&", "cat", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("`2>&1 |`"));
}

#[test]
fn non_utf8_arguments_and_output_pass_byte_for_byte() {
    let arg = std::ffi::OsStr::from_bytes(b"\xff\xfe-\x80");
    let out = fanout()
        .args(["--no-summary", "-q", "printf", "%s\\000\\377"])
        .arg(":::")
        .arg(arg)
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, b"\xff\xfe-\x80\x00\xff");
}

#[test]
fn children_get_no_stdin_and_see_their_seq_and_slot() {
    let out = fanout()
        .args([
            "--no-summary",
            "-k",
            "-j",
            "1",
            "sh",
            "-c",
            "cat; echo $FANOUT_SEQ $FANOUT_SLOT $PARALLEL_SEQ",
            "_",
            ":::",
            "a",
            "b",
        ])
        .write_stdin("secret\n")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "1 1 1\n2 1 2\n");
}

/// A program named without a `/` is found in the `PATH` fanout was given (looked up once per
/// run) and still sees the name it was given as `argv[0]` (`$0` of `sh -c`).
#[test]
fn a_program_is_found_in_path_and_keeps_its_name_as_argv0() {
    let dir = Dir::new();
    dir.script("fanout-test-tool", "echo \"tool $1\"");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = fanout()
        .env("PATH", &path)
        .args([
            "--no-summary",
            "-k",
            "fanout-test-tool",
            ":::",
            "a",
            "b",
            "c",
        ])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "tool a\ntool b\ntool c\n");
    let out = run_stdout(&["sh", "-c", "echo $0 {}", ":::", "x"]);
    assert_eq!(out, "sh x\n");
}

/// Every job, on whichever scheduler thread it starts, gets no blocked signal and SIGPIPE at
/// its default (fanout blocks signals in its helper threads and ignores SIGPIPE itself).
#[test]
fn jobs_start_with_no_signal_blocked_and_sigpipe_at_default() {
    let values: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
    let mut args = vec![
        "-j",
        "4",
        "sh",
        "-c",
        "grep -E '^Sig(Blk|Ign)' /proc/self/status | tr '\\n' ' '; echo",
        "_",
        ":::",
    ];
    args.extend(values.iter().map(String::as_str));
    let out = run_stdout(&args);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 8, "{out}");
    for line in lines {
        let field = |name: &str| {
            let rest = line.split(name).nth(1).expect("the field is printed");
            u64::from_str_radix(rest.split_whitespace().next().unwrap(), 16).unwrap()
        };
        assert_eq!(field("SigBlk:"), 0, "a signal is blocked: {line}");
        assert_eq!(
            field("SigIgn:") & (1 << (13 - 1)),
            0,
            "SIGPIPE ignored: {line}"
        );
    }
}

// ---- jobs that cannot start ----------------------------------------------------------------

#[test]
fn a_missing_program_is_a_failed_job_not_a_crash() {
    let out = fanout()
        .args(["--no-summary", "no-such-program-xyz", ":::", "a", "b"])
        .assert()
        .code(2);
    let err = stderr_of(&out);
    assert!(
        err.contains("no-such-program-xyz: command not found"),
        "{err}"
    );
}

#[test]
fn a_non_executable_file_is_a_failed_job() {
    let dir = Dir::new();
    let f = dir.write("notexec", "echo hi\n");
    let out = fanout()
        .args(["--no-summary", s(&f), ":::", "a"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(err.contains("permission denied"), "{err}");
}

#[test]
fn a_missing_program_and_a_non_executable_file_are_failed_jobs_in_the_joblog() {
    let dir = Dir::new();
    let f = dir.write("notexec", "echo hi\n");
    let jl = dir.join("jl");
    fanout()
        .args(["--no-summary", "--joblog", s(&jl), "{}", ":::"])
        .args(["no-such-program-xyz", s(&f), "true"])
        .assert()
        .code(2);
    assert_eq!(joblog_row(&jl, 1)[6], "127");
    assert_eq!(joblog_row(&jl, 2)[6], "126");
    assert_eq!(joblog_row(&jl, 3)[6], "0");
}

/// A directory given as the program is reported as a directory (exit 126, as a shell), not as
/// a permission problem.
#[test]
fn a_directory_as_the_program_says_so() {
    let dir = Dir::new();
    let log = dir.join("log");
    let out = fanout()
        .args(["--quiet", "--joblog", s(&log), s(dir.path()), ":::", "a"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(err.contains("is a directory"), "{err:?}");
    assert!(!err.contains("permission denied"), "{err:?}");
    let rows = joblog_rows(&log);
    let row = rows.first().expect("a joblog line");
    assert_eq!(row.get(6).map(String::as_str), Some("126"), "{row:?}");
}

/// A 3 MB argument: the job cannot start (E2BIG) and says why, and no log line or summary
/// line carries the 3 MB (results keep it).
#[test]
fn a_huge_argument_is_capped_in_logs_and_explained() {
    let dir = Dir::new();
    let input = dir.write("h", format!("{}\n", "x".repeat(3_000_000)));
    let results = dir.join("r.jsonl");
    let out = fanout()
        .args(["--log-format", "json", "--results-json", s(&results)])
        .args(["echo", "::::", s(&input)])
        .output()
        .unwrap();
    // Not `assert()`: a failure would print megabytes.
    assert_eq!(out.status.code(), Some(1));
    let err = &out.stderr;
    let longest = err.split(|&b| b == b'\n').map(<[u8]>::len).max();
    assert!(longest < Some(4096), "a log line of {longest:?} bytes");
    let err = String::from_utf8_lossy(err);
    let head: String = err.chars().take(2000).collect();
    assert!(err.contains("argument list too long"), "{head}");
    assert!(err.contains("128 KiB") && err.contains("ARG_MAX"));
    assert!(err.contains("… (3000000 bytes)"), "the marker");
    let line = std::fs::read_to_string(&results).unwrap();
    assert!(line.len() > 3_000_000, "results keep the whole args");
}

// ---- exit codes ------------------------------------------------------------------------------

#[test]
fn exit_code_counts_failed_jobs_up_to_101() {
    fanout()
        .args([
            "--no-summary",
            "sh",
            "-c",
            "exit {}",
            ":::",
            "0",
            "3",
            "4",
            "0",
        ])
        .assert()
        .code(2);
    let many: Vec<String> = (0..150).map(|i| i.to_string()).collect();
    fanout()
        .args(["--no-summary", "-j", "8", "false", ":::"])
        .args(&many)
        .assert()
        .code(101);
}

/// A halt triggered by `success=N` exits 0 even when jobs failed before it (GNU parallel: the
/// success condition was met); `done=N` still counts the failures.
#[test]
fn a_halt_on_success_exits_0() {
    fanout()
        .args([
            "--quiet",
            "-j1",
            "--halt",
            "now,success=1",
            "exit {}",
            ":::",
            "1",
            "0",
            "1",
        ])
        .assert()
        .code(0);
    fanout()
        .args(["--quiet", "-j1", "--halt", "soon,success=2", "exit {}"])
        .args([":::", "3", "0", "4", "0", "5"])
        .assert()
        .code(0);
    fanout()
        .args([
            "--quiet",
            "-j1",
            "--halt",
            "now,done=2",
            "exit {}",
            ":::",
            "1",
            "0",
            "1",
        ])
        .assert()
        .code(1);
}
