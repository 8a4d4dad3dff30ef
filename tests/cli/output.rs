//! Output: `--keep-order`, grouped output never interleaved, `--line-buffer`, `--ungroup`,
//! tags, the two streams kept apart, megabytes on both, `--unique`, and a closed stdout.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

#[test]
fn keep_order_holds_when_later_jobs_finish_first() {
    // Marker files order the ends: c ends at once, b once c has, a once b has.
    let dir = Dir::new();
    let d = dir.path().display();
    let job = dir.script(
        "job.sh",
        &format!(
            "cd {d}
case $1 in
a) {wait_b};;
b) {wait_c};;
esac
echo $1; echo $1 >> ended; touch $1.done",
            wait_b = wait_for_file_sh(&dir.join("b.done")),
            wait_c = wait_for_file_sh(&dir.join("c.done")),
        ),
    );
    let out = run_stdout(&["-k", "-j", "3", s(&job), ":::", "a", "b", "c"]);
    assert_eq!(
        lines_of(&dir.join("ended")),
        ["c", "b", "a"],
        "the jobs' ends"
    );
    assert_eq!(out, "a\nb\nc\n");
}

#[test]
fn keep_order_prints_each_job_as_soon_as_the_earlier_ones_are_done() {
    // Job 1 is silent, job 2 prints, job 3 waits for a file the test creates only after
    // seeing job 2's output: so job 2 must be printed while job 3 still runs.
    let dir = Dir::new();
    let go = dir.join("go");
    let job = dir.script(
        "job.sh",
        &format!(
            "case $1 in 1) ;; 2) echo two ;; 3) {}; echo three ;; esac",
            wait_for_file_sh(&go)
        ),
    );
    let mut child = fanout_cmd()
        .args([
            "--no-summary",
            "-k",
            "-j",
            "3",
            s(&job),
            ":::",
            "1",
            "2",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = line_receiver(&mut child);
    let first = lines.recv_timeout(Duration::from_secs(15));
    std::fs::write(&go, "").unwrap();
    let second = lines.recv_timeout(Duration::from_secs(30));
    let _ = wait_bounded(child, BOUND);
    assert_eq!(first.as_deref(), Ok("two"));
    assert_eq!(second.as_deref(), Ok("three"));
}

#[test]
fn grouped_output_is_never_interleaved() {
    let out = run_stdout(&[
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
    let out = run_stdout(&[
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
    let out = run_stdout(&[
        "-k", "-q", "--tag", "printf", "1\\n2\\n", "{}", ":::", "a", "b",
    ]);
    assert_eq!(out, "a\t1\na\t2\nb\t1\nb\t2\n");
    let out = run_stdout(&["-k", "--tagstring", "{#}:{}", "echo", "x", ":::", "a", "b"]);
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
    assert_eq!(stdout_of(&out), "out\n");
    assert!(stderr_of(&out).contains("err\n"));
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
    let out = run_stdout(&[
        "--unique",
        "-j",
        "4",
        "-q",
        "printf",
        "same\\n%s\\nsame\\n",
        ":::",
        "a",
        "b",
        "a",
    ]);
    assert_eq!(sorted_lines(out.as_bytes()), ["a", "b", "same"]);
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

#[test]
fn a_closed_stdout_stops_the_run_quietly() {
    let out = clean_env(&mut Command::new("sh"))
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
