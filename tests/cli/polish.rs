//! Defects found in review and fixed one by one: each test runs the real binary and fails
//! without its fix.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::util::fanout;

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
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

/// A halt triggered by `success=N` exits 0 even when jobs failed before it (GNU parallel: the
/// success condition was met); `done=N` still counts the failures.
#[test]
fn a_halt_on_success_exits_0() {
    fanout()
        .args([
            "-q",
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
        .args(["-q", "-j1", "--halt", "soon,success=2", "exit {}"])
        .args([":::", "3", "0", "4", "0", "5"])
        .assert()
        .code(0);
    fanout()
        .args([
            "-q",
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

/// A directory given as the program is reported as a directory (exit 126, as a shell), not as
/// a permission problem.
#[test]
fn a_directory_as_the_program_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = fanout()
        .args(["-q", "--joblog"])
        .arg(dir.path().join("log"))
        .arg(dir.path())
        .args([":::", "a"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(err.contains("is a directory"), "{err:?}");
    assert!(!err.contains("permission denied"), "{err:?}");
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let line = log.lines().nth(1).expect("a joblog line");
    assert_eq!(line.split('\t').nth(6), Some("126"), "{line:?}");
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

/// A 3 MB argument: the job cannot start (E2BIG) and says why, and no log line or summary
/// line carries the 3 MB (results keep it).
#[test]
fn a_huge_argument_is_capped_in_logs_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("h");
    std::fs::write(&input, format!("{}\n", "x".repeat(3_000_000))).unwrap();
    let results = dir.path().join("r.jsonl");
    let out = fanout()
        .args(["--log-format", "json", "--results-json"])
        .arg(&results)
        .args(["echo", "::::"])
        .arg(&input)
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

/// A `--log-file` that cannot be opened says what to do; one that cannot be written
/// (`/dev/full`) is reported once, on one line, and the jobs still run.
#[test]
fn log_file_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = fanout()
        .arg("--log-file")
        .arg(dir.path().join("missing/x.log"))
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.contains("give a writable path to --log-file"),
        "{err:?}"
    );

    if !std::path::Path::new("/dev/full").exists() {
        eprintln!("skipped the /dev/full half: no /dev/full here");
        return;
    }
    let out = fanout()
        .args(["--log-file", "/dev/full", "-vv", "--no-summary", "-k"])
        .args(["echo", ":::", "a", "b", "c"])
        .assert()
        .success()
        .stdout("a\nb\nc\n");
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(
        err.contains("cannot write to log file `/dev/full`"),
        "{err:?}"
    );
    assert!(!err.contains("tracing-subscriber"), "{err:?}");
}

/// A signal that comes after all the input was read (the scheduler only waits for the running
/// jobs) is still announced by a `run_cancelling` event, once.
#[test]
fn a_signal_while_draining_logs_run_cancelling() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("log.jsonl");
    // More slots than jobs: the input runs out while both jobs run.
    let mut child = std::process::Command::new(crate::util::fanout_path())
        .env_remove("RUST_LOG")
        .env_remove("CI")
        .args([
            "-j3",
            "-v",
            "--no-summary",
            "--log-format",
            "json",
            "--log-file",
        ])
        .arg(&log)
        .arg(format!("touch {}/started.{{}}; sleep 30", d.display()))
        .args([":::", "a", "b"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = crate::util::wait_until(Duration::from_secs(30), || {
        d.join("started.a").exists()
            && d.join("started.b").exists()
            && std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\"input_done\""))
    });
    if !started {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the jobs did not start");
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    let exited = crate::util::wait_until(Duration::from_secs(30), || {
        child.try_wait().unwrap().is_some()
    });
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fanout did not exit after SIGTERM");
    }
    assert_eq!(child.wait().unwrap().code(), Some(143));
    let log = std::fs::read_to_string(&log).unwrap();
    let cancelling: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"event\":\"run_cancelling\""))
        .collect();
    assert_eq!(cancelling.len(), 1, "{log}");
    assert!(cancelling[0].contains("\"reason\":\"signal\""), "{log}");
    assert!(
        cancelling[0].contains("\"signal_name\":\"SIGTERM\""),
        "{log}"
    );
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
    let err = stderr_of(&out);
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let started = events
        .iter()
        .find(|e| e["event"] == "run_started")
        .expect("run_started");
    assert_eq!(started["total"], 3, "{started}");
    // The first job runs 2 s: a line comes before anything is done.
    let first = events
        .iter()
        .find(|e| e["event"] == "progress")
        .expect("a progress line");
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
