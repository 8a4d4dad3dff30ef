//! The core: inputs, replacement strings, execution, slots, output modes, exit codes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::*;

fn stdout_of(args: &[&str]) -> String {
    let out = fanout().arg("--no-summary").args(args).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

// ---- inputs ---------------------------------------------------------------------------

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
    let out = stdout_of(&[
        "-k", "echo", "{1}{2}", ":::", "a", "b", ":::", "1", "2", "3",
    ]);
    assert_eq!(out, "a1\na2\na3\nb1\nb2\nb3\n");
}

#[test]
fn linked_groups_go_element_by_element() {
    let out = stdout_of(&[
        "-k", "echo", "{1}={2}", ":::", "a", "b", "c", ":::+", "1", "2", "3",
    ]);
    assert_eq!(out, "a=1\nb=2\nc=3\n");
}

#[test]
fn files_and_arg_files_give_one_value_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.txt");
    std::fs::write(&f, "x\ny\n").unwrap();
    let f = f.to_str().unwrap();
    assert_eq!(stdout_of(&["-k", "echo", "{}", "::::", f]), "x\ny\n");
    assert_eq!(stdout_of(&["-k", "-a", f, "echo", "{}"]), "x\ny\n");
    assert_eq!(
        stdout_of(&["-k", "echo", "{1}{2}", "::::", f, ":::", "1", "2"]),
        "x1\nx2\ny1\ny2\n"
    );
}

#[test]
fn stdin_lines_and_nul_separated_input() {
    let out = fanout()
        .args(["--no-summary", "-k", "echo", "<{}>"])
        .write_stdin("a b\nc\n")
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "<a b>\n<c>\n"
    );
    let out = fanout()
        .args(["--no-summary", "-k", "-0", "printf", "[%s]\\n"])
        .write_stdin("line1\nline2\0two\0")
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "[line1\nline2]\n[two]\n"
    );
}

#[test]
fn without_a_command_each_line_is_a_command() {
    let out = fanout()
        .args(["--no-summary", "-k"])
        .write_stdin("echo one\necho two | tr a-z A-Z\n")
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "one\nTWO\n"
    );
}

#[test]
fn the_first_job_starts_before_the_input_ends() {
    let mut child = Command::new(fanout_path())
        .args(["--no-summary", "echo", "got"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    drop(stdin);
    let _ = child.wait();
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

#[test]
fn a_missing_input_file_is_a_setup_error() {
    let out = fanout()
        .args(["echo", "::::", "/nonexistent/in.txt"])
        .assert()
        .code(255);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("/nonexistent/in.txt"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

// ---- replacement strings ---------------------------------------------------------------

#[test]
fn replacement_strings_follow_gnu_parallel() {
    let out = stdout_of(&[
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
    let out = stdout_of(&["-k", "echo", "{2/.}-{1}", ":::", "a", ":::", "x/y.c"]);
    assert_eq!(out, "y-a\n");
}

#[test]
fn substituted_values_are_never_expanded_again() {
    let out = stdout_of(&["echo", "{}", ":::", "{1} {} {#} {{"]);
    assert_eq!(out, "{1} {} {#} {{\n");
}

#[test]
fn bad_placeholders_fail_before_any_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    for bad in ["{1..}", "{3}", "{/..}", "{2"] {
        let out = fanout()
            .args([
                "touch",
                marker.to_str().unwrap(),
                bad,
                ":::",
                "a",
                ":::",
                "b",
            ])
            .assert()
            .code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.starts_with("fanout: error:"), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
    }
    assert!(!marker.exists(), "no job may run after a template error");
}

// ---- execution -------------------------------------------------------------------------

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
    cmd.args(["--no-summary", "-k", "printf", "[%s]\\n", "{}", ":::"])
        .args(HOSTILE);
    let out = cmd.assert().success();
    let expected: String = HOSTILE.iter().map(|v| format!("[{v}]\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), expected);
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
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), expected);
    // The same through the automatic shell (the template has a pipe).
    let mut cmd = fanout();
    cmd.args(["--no-summary", "-k", "printf '[%s]\\n' {} | cat", ":::"])
        .args(HOSTILE);
    let out = cmd.assert().success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), expected);
}

#[test]
fn non_utf8_arguments_and_output_pass_byte_for_byte() {
    let arg = std::ffi::OsStr::from_bytes(b"\xff\xfe-\x80");
    let out = fanout()
        .args(["--no-summary", "printf", "%s\\000\\377"])
        .arg(":::")
        .arg(arg)
        .assert()
        .success();
    assert_eq!(out.get_output().stdout, b"\xff\xfe-\x80\x00\xff");
}

#[test]
fn dry_run_prints_commands_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let m = marker.to_str().unwrap();
    let out = stdout_of(&["--dry-run", "-k", "touch", m, "{}", ":::", "a b", "c"]);
    assert_eq!(out, format!("touch {m} 'a b'\ntouch {m} c\n"));
    assert!(!marker.exists());
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
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "1 1 1\n2 1 2\n"
    );
}

/// A program named without a `/` is found in the `PATH` fanout was given (looked up once per
/// run) and still sees the name it was given as `argv[0]` (`$0` of `sh -c`).
#[test]
fn a_program_is_found_in_path_and_keeps_its_name_as_argv0() {
    let dir = tempfile::tempdir().unwrap();
    let tool = dir.path().join("fanout-test-tool");
    script(&tool, "echo \"tool $1\"");
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
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "tool a\ntool b\ntool c\n"
    );
    let out = stdout_of(&["sh", "-c", "echo $0 {}", ":::", "x"]);
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
    let out = stdout_of(&args);
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

#[test]
fn a_missing_program_is_a_failed_job_not_a_crash() {
    let out = fanout()
        .args(["--no-summary", "no-such-program-xyz", ":::", "a", "b"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("no-such-program-xyz: command not found"),
        "{err}"
    );
}

#[test]
fn a_non_executable_file_is_a_failed_job() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notexec");
    std::fs::write(&f, "echo hi\n").unwrap();
    let out = fanout()
        .args(["--no-summary", f.to_str().unwrap(), ":::", "a"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("permission denied"), "{err}");
}

// ---- exit codes ------------------------------------------------------------------------

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

// ---- job slots -------------------------------------------------------------------------

#[test]
fn jobs_really_run_in_parallel() {
    // Every value is 0, appended: `sleep 0.2 0` sleeps 0.2 s.
    let args: Vec<&str> = vec!["0"; 100];
    let t = Instant::now();
    fanout()
        .args(["--no-summary", "-j", "50", "sleep", "0.2", ":::"])
        .args(&args)
        .assert()
        .success();
    // One after another this is 20 s; with 50 slots about 0.4 s.
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
}

/// Each job records when it started and ended, and in which slot; returns (start, end, slot).
fn observed_intervals(slots: &str, jobs: usize) -> Vec<(u128, u128, u32)> {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let job = dir.path().join("job.sh");
    script(
        &job,
        &format!(
            "echo \"$(date +%s%N) + $1\" >> {log}; sleep 0.05; echo \"$(date +%s%N) - $1\" >> {log}",
            log = log.display()
        ),
    );
    let args: Vec<String> = (0..jobs).map(|i| i.to_string()).collect();
    fanout()
        .args([
            "--no-summary",
            "-j",
            slots,
            job.to_str().unwrap(),
            "{%}",
            ":::",
        ])
        .args(&args)
        .assert()
        .success();
    let text = std::fs::read_to_string(&log).unwrap();
    let mut open: std::collections::HashMap<u32, u128> = Default::default();
    let mut intervals = Vec::new();
    let mut events: Vec<(u128, bool, u32)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[1] == "+", f[2].parse().unwrap())
        })
        .collect();
    events.sort();
    for (t, start, slot) in events {
        if start {
            assert!(
                open.insert(slot, t).is_none(),
                "slot {slot} given to two running jobs"
            );
        } else {
            intervals.push((open.remove(&slot).unwrap(), t, slot));
        }
    }
    assert_eq!(intervals.len(), jobs);
    intervals
}

#[test]
fn never_more_running_than_the_slots_and_slots_are_distinct() {
    let intervals = observed_intervals("3", 30);
    let mut points: Vec<(u128, i32)> = Vec::new();
    for (s, e, slot) in &intervals {
        assert!((1..=3).contains(slot), "slot {slot} out of 1..=3");
        points.push((*s, 1));
        points.push((*e, -1));
    }
    points.sort();
    let (mut running, mut max) = (0, 0);
    for (_, d) in points {
        running += d;
        max = max.max(running);
    }
    assert!(max <= 3, "{max} jobs ran at once with -j 3");
    assert!(max >= 2, "jobs did not overlap at all with -j 3");
}

#[test]
fn slot_forms_are_accepted_and_bad_ones_rejected() {
    for j in ["2", "50%", "+1", "-1", "0"] {
        fanout()
            .args(["--no-summary", "-j", j, "true", ":::", "a"])
            .assert()
            .success();
    }
    for j in ["x", "-", "1.5", "%"] {
        let out = fanout()
            .args(["-j", j, "true", ":::", "a"])
            .assert()
            .code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains("--jobs"), "{j}: {err}");
    }
}

#[test]
fn a_hundred_thousand_jobs_complete() {
    let input: String = (0..100_000).map(|_| "x\n").collect();
    fanout()
        .args(["--no-summary", "-j", "4", "true"])
        .write_stdin(input)
        .timeout(Duration::from_secs(600))
        .assert()
        .success();
}

// ---- output ----------------------------------------------------------------------------

#[test]
fn keep_order_holds_when_later_jobs_finish_first() {
    let out = stdout_of(&[
        "-k",
        "-j",
        "3",
        "sh",
        "-c",
        "sleep $1; echo $1",
        "_",
        "{}",
        ":::",
        "0.6",
        "0.3",
        "0",
    ]);
    assert_eq!(out, "0.6\n0.3\n0\n");
}

#[test]
fn keep_order_prints_each_job_as_soon_as_the_earlier_ones_are_done() {
    // Job 1 is silent, job 2 prints, job 3 waits for a file the test creates only after
    // seeing job 2's output: so job 2 must be printed while job 3 still runs.
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let job = dir.path().join("job.sh");
    script(
        &job,
        &format!(
            "case $1 in 1) ;; 2) echo two ;; 3) i=0; while [ ! -e {go} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo three ;; esac",
            go = go.display()
        ),
    );
    let mut child = Command::new(fanout_path())
        .args([
            "--no-summary",
            "-k",
            "-j",
            "3",
            job.to_str().unwrap(),
            ":::",
            "1",
            "2",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(15));
    std::fs::write(&go, "").unwrap();
    let second = rx.recv_timeout(Duration::from_secs(30));
    let _ = child.wait();
    assert_eq!(first.as_deref(), Ok("two"));
    assert_eq!(second.as_deref(), Ok("three"));
}

#[test]
fn grouped_output_is_never_interleaved() {
    let out = stdout_of(&[
        "-j",
        "4",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do echo $1-$i; sleep 0.01; done",
        "_",
        "{}",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 32);
    for chunk in lines.chunks(8) {
        let job = chunk[0].split('-').next().unwrap();
        for (i, l) in chunk.iter().enumerate() {
            assert_eq!(*l, format!("{job}-{}", i + 1), "{out}");
        }
    }
}

#[test]
fn line_buffer_passes_whole_lines_as_they_come() {
    let out = stdout_of(&[
        "--line-buffer",
        "-j",
        "4",
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do printf '%s-' $1; sleep 0.01; echo $i; done",
        "_",
        "{}",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 20);
    for l in lines {
        let (job, n) = l.split_once('-').unwrap();
        assert!(
            ["a", "b", "c", "d"].contains(&job) && n.parse::<u32>().is_ok(),
            "torn line {l:?}"
        );
    }
}

#[test]
fn ungroup_passes_bytes_through() {
    let out = fanout()
        .args(["--no-summary", "-u", "printf", "%s", ":::", "x", "y"])
        .assert()
        .success();
    let mut got = out.get_output().stdout.clone();
    got.sort();
    assert_eq!(got, b"xy");
}

#[test]
fn tags_prefix_every_line() {
    let out = stdout_of(&["-k", "--tag", "printf", "1\\n2\\n", "{}", ":::", "a", "b"]);
    assert_eq!(out, "a\t1\na\t2\nb\t1\nb\t2\n");
    let out = stdout_of(&["-k", "--tagstring", "{#}:{}", "echo", "x", ":::", "a", "b"]);
    assert_eq!(out, "1:a\tx a\n2:b\tx b\n");
}

#[test]
fn stdout_and_stderr_go_to_their_own_streams() {
    let out = fanout()
        .args([
            "--no-summary",
            "sh",
            "-c",
            "echo out; echo err >&2",
            ":::",
            "a",
        ])
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("err\n"));
}

#[test]
fn megabytes_on_both_streams_do_not_deadlock() {
    let out = fanout()
        .args([
            "--no-summary",
            "sh",
            "-c",
            "head -c 5000000 /dev/zero & head -c 5000000 /dev/zero >&2; wait",
            ":::",
            "a",
        ])
        .assert()
        .success();
    assert_eq!(out.get_output().stdout.len(), 5_000_000);
    assert!(out.get_output().stderr.len() >= 5_000_000);
}

#[test]
fn unique_prints_each_distinct_line_once() {
    let out = stdout_of(&[
        "--unique",
        "-j",
        "4",
        "printf",
        "same\\n%s\\nsame\\n",
        ":::",
        "a",
        "b",
        "a",
    ]);
    assert_eq!(sorted_lines(out.as_bytes()), ["a", "b", "same"]);
}

#[test]
fn a_closed_stdout_stops_the_run_quietly() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "seq 100000 | {} --no-summary -j 2 echo | head -n 1; echo \"rc=${{PIPESTATUS:-}}\"",
            fanout_path().display()
        ))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1\n") || text.starts_with("2\n"), "{text}");
}

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
    assert_eq!(String::from_utf8_lossy(&out.get_output().stdout), "ab");
}

#[test]
fn a_usage_error_exits_255_and_help_exits_0() {
    let out = fanout().args(["--no-such-flag"]).assert().code(255);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("--no-such-flag"), "{err}");
    fanout().arg("--help").assert().success();
    fanout().arg("--version").assert().success();
}
