//! The joblog and the results files are safe to point at: one run per joblog at a time (two
//! real fanouts on one joblog), `--resume` refuses a changed input or command before running
//! anything (and `--resume-force` overrides), a fresh run never truncates a file that is not
//! ours nor follows a symlink planted in a world-writable sticky directory, the files are
//! fdatasynced when the run ends or is interrupted, and non-UTF-8 names round-trip byte for
//! byte.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use nix::sys::signal::Signal;

use crate::util::*;

/// A job script that appends its argument to `side` (one line per real execution).
fn side_job(dir: &Dir) -> (std::path::PathBuf, std::path::PathBuf) {
    let side = dir.join("side");
    let job = dir.script("job.sh", &format!("echo \"$1\" >> '{}'", s(&side)));
    (job, side)
}

// ---- 5. one run per joblog ------------------------------------------------------------

#[test]
fn a_second_fanout_on_the_same_joblog_fails_at_start_and_names_the_first() {
    let dir = Dir::new();
    let jl = dir.join("jl");
    let (started, go) = (dir.join("started"), dir.join("go"));
    // Job 1 finishes at once; job 2 holds the first run open until the test says go.
    let job = dir.script(
        "hold.sh",
        &format!(
            "[ \"$1\" = 1 ] && exit 0; : > '{}'; {}",
            s(&started),
            wait_for_file_sh(&go)
        ),
    );
    let first = start(
        dir.path(),
        &[
            "--no-summary",
            "-j2",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
            "1",
            "2",
        ],
    );
    wait_for_files(std::slice::from_ref(&started));
    assert!(
        wait_until(Duration::from_secs(30), || joblog_rows(&jl).len() == 1),
        "job 1 is in the joblog"
    );
    let before = std::fs::read(&jl).unwrap();
    let pid = first.id();
    for resume in [false, true] {
        let mut second = dir.fanout();
        second.args(["--no-summary", "--joblog", s(&jl)]);
        if resume {
            second.arg("--resume");
        }
        let out = second.args([s(&job), ":::", "1", "2"]).assert().code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("in use by another run") && err.contains(&format!("pid {pid}")),
            "names the other run: {err}"
        );
        assert!(err.contains("wait for it to end"), "says what to do: {err}");
        assert!(stdout_of(&out).is_empty(), "no job ran");
        assert_eq!(
            std::fs::read(&jl).unwrap(),
            before,
            "the joblog is untouched"
        );
    }
    std::fs::write(&go, "").unwrap();
    let (status, _) = finish(first, BOUND);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        joblog_seqs(&jl),
        [1, 2].into(),
        "the first run kept every line"
    );
    // The lock went with the first run: the joblog can be resumed now.
    dir.fanout()
        .args([
            "--no-summary",
            "--resume",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
            "1",
            "2",
        ])
        .assert()
        .success();
}

// ---- 6. --resume resumes the same work ------------------------------------------------

#[test]
fn resume_refuses_a_changed_input_or_command_and_resume_force_overrides() {
    let dir = Dir::new();
    let (job, side) = side_job(&dir);
    let jl = dir.join("jl");
    let run = |extra: &[&str], cmd: &[&str], values: &[&str]| {
        let mut c = dir.fanout();
        c.args(["--no-summary", "-j1", "--joblog", s(&jl)])
            .args(extra)
            .args(cmd)
            .arg(":::")
            .args(values);
        c.assert()
    };
    run(&[], &[s(&job), "{}"], &["a", "b", "c"]).success();
    let logged = std::fs::read(&jl).unwrap();

    // The input changed: job 2 is `x` now.
    let out = run(&["--resume"], &[s(&job), "{}"], &["a", "x", "c", "d"]).code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    let (was, now) = (format!("`{} b`", s(&job)), format!("`{} x`", s(&job)));
    assert!(
        err.contains("job 2") && err.contains(&was) && err.contains(&now),
        "{err}"
    );
    assert!(err.contains("--resume-force"), "{err}");
    // The input ended early: the joblog has job 3.
    let err = stderr_of(&run(&["--resume"], &[s(&job), "{}"], &["a", "b"]).code(255));
    assert!(err.contains("job 3") && err.contains("only 2"), "{err}");
    // The command changed.
    let err = stderr_of(&run(&["--resume-failed"], &["echo", "{}"], &["a", "b", "c"]).code(255));
    assert!(err.contains("job 1") && err.contains("`echo a`"), "{err}");
    assert_eq!(lines_of(&side), ["a", "b", "c"], "nothing ran");
    assert_eq!(
        std::fs::read(&jl).unwrap(),
        logged,
        "the joblog is untouched"
    );

    // --resume-force skips by sequence number alone, as GNU parallel does.
    run(
        &["--resume", "--resume-force"],
        &[s(&job), "{}"],
        &["a", "x", "c", "d"],
    )
    .success();
    assert_eq!(lines_of(&side), ["a", "b", "c", "d"]);
    // The same input and command resume as before.
    run(&["--resume"], &[s(&job), "{}"], &["a", "x", "c", "d", "e"]).code(255);
    std::fs::write(&jl, &logged).unwrap();
    run(&["--resume"], &[s(&job), "{}"], &["a", "b", "c", "e"]).success();
    assert_eq!(lines_of(&side), ["a", "b", "c", "d", "e"]);
    // A slot number ({%}) is whatever the slot was: it never counts as a change.
    let jl2 = dir.join("jl2");
    let slots = |n: &[&str]| {
        dir.fanout()
            .args(["--no-summary", "-j3", "--joblog", s(&jl2)])
            .args(n)
            .args(["echo", "{%}", "{}", ":::", "1", "2", "3", "4", "5", "6"])
            .assert()
    };
    slots(&[]).success();
    slots(&["--resume"]).success();
}

#[test]
fn resume_reads_a_streamed_input_only_up_to_the_joblog_and_goes_on_with_the_rest() {
    let dir = Dir::new();
    let (job, side) = side_job(&dir);
    let jl = dir.join("jl");
    dir.fanout()
        .args(["--no-summary", "-j1", "--joblog", s(&jl), s(&job)])
        .write_stdin("a\nb\nc\n")
        .assert()
        .success();
    // A changed stdin is caught like a changed argument.
    let err = stderr_of(
        &dir.fanout()
            .args([
                "--no-summary",
                "-j1",
                "--resume",
                "--joblog",
                s(&jl),
                s(&job),
            ])
            .write_stdin("a\nB\nc\nd\n")
            .assert()
            .code(255),
    );
    assert!(err.contains("job 2"), "{err}");
    // The check reads three values, not the whole stdin: with the pipe still open, job 4
    // runs as soon as its line comes.
    let mut child = fanout_cmd()
        .current_dir(dir.path())
        .args([
            "--no-summary",
            "-j1",
            "--resume",
            "--joblog",
            s(&jl),
            s(&job),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"a\nb\nc\nd\n").unwrap();
    stdin.flush().unwrap();
    let ran = wait_until(Duration::from_secs(30), || lines_of(&side).len() == 4);
    drop(stdin);
    let status = wait_bounded(child, BOUND);
    assert!(ran, "job 4 ran while stdin was open: {:?}", lines_of(&side));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert_eq!(lines_of(&side), ["a", "b", "c", "d"]);
    assert_eq!(joblog_seqs(&jl), [1, 2, 3, 4].into());
}

// ---- 7. no clobbering; durable files --------------------------------------------------

#[test]
fn a_fresh_run_refuses_to_overwrite_a_file_that_is_not_ours_and_leaves_it_intact() {
    let dir = Dir::new();
    let notes = dir.write("notes.txt", "my notes\nsecond line\n");
    let res = dir.join("res");
    std::fs::create_dir(&res).unwrap();
    dir.write("res/report.pdf", "mine");
    for (flag, path, says) in [
        ("--joblog", &notes, "not a joblog"),
        ("--results-json", &notes, "not a fanout results file"),
        ("--results-by-seq", &res, "`report.pdf`"),
    ] {
        let out = dir
            .fanout()
            .args(["--no-summary", flag, s(path), "echo", "ran", ":::", "a"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("refusing") && err.contains(says),
            "{flag}: {err}"
        );
        assert!(
            err.contains("give another") || err.contains("give an empty"),
            "{err}"
        );
        assert!(stdout_of(&out).is_empty(), "{flag}: no job ran");
    }
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "my notes\nsecond line\n"
    );
    assert_eq!(std::fs::read_dir(&res).unwrap().count(), 1);
}

#[test]
fn files_of_ours_are_still_overwritten_by_a_fresh_run() {
    let dir = Dir::new();
    let (jl, json, res) = (dir.join("jl"), dir.join("r.jsonl"), dir.join("res"));
    let run = |values: &[&str]| {
        dir.fanout()
            .args([
                "--no-summary",
                "--joblog",
                s(&jl),
                "--results-json",
                s(&json),
            ])
            .args(["--results-by-seq", s(&res), "echo", ":::"])
            .args(values)
            .assert()
            .success();
    };
    run(&["a", "b", "c"]);
    run(&["z"]);
    assert_eq!(joblog_rows(&jl).len(), 1);
    assert_eq!(joblog_row(&jl, 1)[8], "echo z");
    let lines = json_lines(&std::fs::read_to_string(&json).unwrap());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["args_text"], "z");
    // A joblog torn in its header (a crash at the very start) is a joblog too.
    std::fs::write(&jl, "Seq\tHo").unwrap();
    run(&["y"]);
    assert_eq!(joblog_row(&jl, 1)[8], "echo y");
}

#[test]
fn a_symlink_planted_in_a_sticky_world_writable_directory_is_refused() {
    let dir = Dir::new();
    let victim = dir.write("victim", "another user's file\n");
    let victim_dir = dir.join("victim_dir");
    std::fs::create_dir(&victim_dir).unwrap();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for name in ["jl", "r.jsonl", "r.csv"] {
        std::os::unix::fs::symlink(&victim, tmp.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(&victim_dir, tmp.join("res")).unwrap();
    for (flag, name) in [
        ("--joblog", "jl"),
        ("--results-json", "r.jsonl"),
        ("--results", "res"),
        ("--results-by-seq", "res"),
        ("--results", "r.csv"),
    ] {
        let path = tmp.join(name);
        let out = dir
            .fanout()
            .args(["--no-summary", flag, s(&path), "echo", "ran", ":::", "a"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("symbolic link") && err.contains(s(&tmp)),
            "{flag}: {err}"
        );
        assert!(err.contains("give a path outside"), "{err}");
        assert!(stdout_of(&out).is_empty(), "{flag}: no job ran");
    }
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "another user's file\n"
    );
    assert_eq!(std::fs::read_dir(&victim_dir).unwrap().count(), 0);
    // A new file there is fine, and so is a symlink in a directory that is not world-writable.
    dir.fanout()
        .args([
            "--no-summary",
            "--joblog",
            s(&tmp.join("new")),
            "true",
            ":::",
            "a",
        ])
        .assert()
        .success();
    let mine = dir.join("mine");
    std::fs::create_dir(&mine).unwrap();
    let real = dir.join("real.log");
    std::os::unix::fs::symlink(&real, mine.join("jl")).unwrap();
    dir.fanout()
        .args([
            "--no-summary",
            "--joblog",
            s(&mine.join("jl")),
            "true",
            ":::",
            "a",
        ])
        .assert()
        .success();
    assert_eq!(joblog_rows(&real).len(), 1);
}

/// `strace` recording fdatasync and fsync calls, with the paths of their descriptors.
fn traced(trace: &Path) -> Option<Command> {
    let ok = Command::new("strace")
        .args(["-o", "/dev/null", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("note: strace cannot run here; the fdatasync test is skipped");
        return None;
    }
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-y",
        "-e",
        "trace=fdatasync,fsync",
        "-e",
        "signal=none",
    ])
    .arg("-o")
    .arg(trace)
    .arg(fanout_path());
    Some(cmd)
}

/// Whether the trace has an fdatasync of `file`.
fn synced(trace: &Path, file: &Path) -> bool {
    let text = std::fs::read_to_string(trace).unwrap_or_default();
    let fd_of_file = format!("<{}>", file.display());
    text.lines()
        .any(|l| l.contains("fdatasync(") && l.contains(&fd_of_file))
}

#[test]
fn the_joblog_and_json_results_are_fdatasynced_when_the_run_ends_or_is_interrupted() {
    let dir = Dir::new();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let (jl, json) = (root.join("jl"), root.join("r.jsonl"));
    let trace = root.join("trace");
    let Some(cmd) = traced(&trace) else { return };
    let child = start_with(
        cmd,
        &root,
        &[
            "--no-summary",
            "--joblog",
            s(&jl),
            "--results-json",
            s(&json),
            "true",
            ":::",
            "a",
        ],
    );
    assert_eq!(finish(child, BOUND).0.code(), Some(0));
    assert!(
        synced(&trace, &jl) && synced(&trace, &json),
        "{}",
        std::fs::read_to_string(&trace).unwrap()
    );

    // Interrupted: job 1 finished, job 2 runs until fanout is sent SIGTERM. Job 2 names its
    // parent (fanout, under strace) in a file that appears whole (written, then renamed).
    std::fs::remove_file(&trace).unwrap();
    let ppid = root.join("ppid");
    let job = dir.script(
        "job.sh",
        &format!(
            "[ \"$1\" = 1 ] && exit 0; echo $PPID > '{p}.tmp'; mv '{p}.tmp' '{p}'; exec sleep 60",
            p = s(&ppid)
        ),
    );
    let child = start_with(
        traced(&trace).unwrap(),
        &root,
        &[
            "--no-summary",
            "-j2",
            "--joblog",
            s(&jl),
            "--results-json",
            s(&json),
            s(&job),
            ":::",
            "1",
            "2",
        ],
    );
    wait_for_files(std::slice::from_ref(&ppid));
    assert!(wait_until(Duration::from_secs(30), || joblog_rows(&jl)
        .len()
        == 1));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(read_pid(&ppid)), Signal::SIGTERM).unwrap();
    assert_eq!(finish(child, BOUND).0.code(), Some(143));
    assert!(
        synced(&trace, &jl) && synced(&trace, &json),
        "{}",
        std::fs::read_to_string(&trace).unwrap()
    );
}

// ---- 9. names round-trip --------------------------------------------------------------

#[test]
fn a_non_utf8_argument_is_written_byte_for_byte_and_resumes() {
    let dir = Dir::new();
    let (jl, json, res) = (dir.join("jl"), dir.join("r.jsonl"), dir.join("res"));
    let name = OsStr::from_bytes(b"caf\xe9 au lait");
    let run = |extra: &[&str], first: &OsStr| {
        let mut c = dir.fanout();
        c.args([
            "--no-summary",
            "-j1",
            "--joblog",
            s(&jl),
            "--results-json",
            s(&json),
        ])
        .args(["--results-by-seq", s(&res)])
        .args(extra)
        .args(["echo", ":::"])
        .arg(first)
        .arg("plain");
        c.assert()
    };
    let out = run(&[], name).success();
    assert_eq!(
        sorted_lines(&out.get_output().stdout),
        sorted_lines(b"caf\xe9 au lait\nplain\n")
    );
    let command: &[u8] = b"echo 'caf\xe9 au lait'";
    let joblog = std::fs::read(&jl).unwrap();
    let row = joblog
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"1\t"))
        .unwrap();
    assert!(
        row.ends_with(&[b"\t", command].concat()),
        "{}",
        row.escape_ascii()
    );
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let lines = json_lines(&std::fs::read_to_string(&json).unwrap());
    let first = lines.iter().find(|l| l["seq"] == 1).unwrap();
    assert_eq!(b64(&first["args_base64"]), b"caf\xe9 au lait");
    assert_eq!(b64(&first["command_base64"]), command);
    assert_eq!(first["args_text"], "caf\u{fffd} au lait");
    assert_eq!(first["args"], serde_json::json!(["caf\u{fffd} au lait"]));
    let plain = lines.iter().find(|l| l["seq"] == 2).unwrap();
    assert!(plain.get("args_base64").is_none() && plain.get("command_base64").is_none());
    assert_eq!(
        std::fs::read(res.join("1/cmd")).unwrap(),
        [command, b"\n"].concat()
    );
    assert_eq!(
        std::fs::read(res.join("1/args")).unwrap(),
        b"caf\xe9 au lait\n"
    );
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("1/result.json")).unwrap()).unwrap();
    assert_eq!(b64(&meta["command_base64"]), command);

    // Resumed with the same bytes: nothing runs again. With one byte changed: refused, and
    // the message shows the bytes that differ.
    let out = run(&["--resume"], name).success();
    assert!(out.get_output().stdout.is_empty());
    let err = stderr_of(&run(&["--resume"], OsStr::from_bytes(b"caf\xe8 au lait")).code(255));
    assert!(
        err.contains("job 1") && err.contains(r"caf\xe9") && err.contains(r"caf\xe8"),
        "{err}"
    );
}
