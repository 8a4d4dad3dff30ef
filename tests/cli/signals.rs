//! Real signals sent to the real binary: the first one forwarded to the jobs (exit 128+N),
//! the grace before jobs that ignore it are killed, a second signal killing at once, a stdout
//! nobody reads or a retry delay that cannot hold the run, and the `run_cancelling` event.
//! What a job's process tree leaves behind is in `process_tree.rs`.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::util::*;

/// A job script that records its pid in `pid.$1`, writes `sig.$1` with the name of the first
/// signal it gets, then exits 0; it would write `done.$1` after a minute.
fn catching_job(dir: &Path) -> PathBuf {
    let job = dir.join("job.sh");
    script(
        &job,
        &format!(
            "cd {}
for sig in TERM INT HUP; do trap \"echo $sig > sig.$1; exit 0\" $sig; done
echo started > \"started.$1\"
sleep 60 & echo $! > \"pid.$1\"; wait; echo done > \"done.$1\"",
            s(dir)
        ),
    );
    job
}

#[test]
fn the_first_signal_is_forwarded_and_the_exit_code_is_128_plus_it() {
    for (sig, name, code) in [
        (Signal::SIGTERM, "TERM", 143),
        (Signal::SIGINT, "INT", 130),
        (Signal::SIGHUP, "HUP", 129),
    ] {
        let dir = Dir::new();
        let d = dir.path();
        let job = catching_job(d);
        let jl = d.join("jl");
        let child = start(
            d,
            &[
                "--no-summary",
                "-j2",
                "--joblog",
                s(&jl),
                s(&job),
                ":::",
                "a",
                "b",
                "c",
                "d",
            ],
        );
        wait_for_files(&[d.join("pid.a"), d.join("pid.b")]);
        signal(&child, sig);
        let (st, took) = finish(child, Duration::from_secs(30));
        assert_eq!(st.code(), Some(code), "{name}");
        assert!(
            took < Duration::from_secs(4),
            "{name}: within the grace: {took:?}"
        );
        for j in ["a", "b"] {
            assert_eq!(lines_of(&d.join(format!("sig.{j}"))), [name], "{name}");
            let pid = read_pid(&d.join(format!("pid.{j}")));
            assert!(wait_until(Duration::from_secs(5), || !alive(pid)), "{name}");
            assert!(!d.join(format!("done.{j}")).exists());
        }
        assert!(!d.join("started.c").exists() && !d.join("started.d").exists());
        // Both jobs exited (0) after the signal: their lines are in the joblog, complete.
        let mut seqs: Vec<String> = joblog_rows(&jl).into_iter().map(|r| r[0].clone()).collect();
        seqs.sort();
        assert_eq!(seqs, ["1", "2"], "{name}");
    }
}

#[test]
fn jobs_that_ignore_the_signal_are_killed_after_the_grace() {
    let dir = Dir::new();
    let d = dir.path();
    let job = d.join("job.sh");
    script(&job, "trap '' TERM; echo $$ > \"$1\"; exec sleep 60");
    let pidf = d.join("pid");
    let child = start(
        d,
        &["--no-summary", "--grace", "1.5", s(&job), ":::", s(&pidf)],
    );
    wait_for_files(std::slice::from_ref(&pidf));
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    signal(&child, Signal::SIGTERM);
    let (st, _) = finish(child, Duration::from_secs(30));
    let took = t0.elapsed();
    assert_eq!(st.code(), Some(143));
    assert!(
        took >= Duration::from_millis(1400),
        "waited the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(!alive(read_pid(&pidf)));
}

#[test]
fn a_second_signal_kills_at_once() {
    let dir = Dir::new();
    let d = dir.path();
    let job = d.join("job.sh");
    script(&job, "trap '' TERM INT; echo $$ > \"$1\"; exec sleep 60");
    let pidf = d.join("pid");
    let child = start(
        d,
        &["--no-summary", "--grace", "60", s(&job), ":::", s(&pidf)],
    );
    wait_for_files(std::slice::from_ref(&pidf));
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    signal(&child, Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        alive(child.id() as i32),
        "fanout waits out the grace after one signal"
    );
    signal(&child, Signal::SIGINT);
    let (st, _) = finish(child, Duration::from_secs(30));
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert_eq!(st.code(), Some(130));
    assert!(!alive(read_pid(&pidf)));
}

/// A signal that comes after all the input was read (the scheduler only waits for the running
/// jobs) is still announced by a `run_cancelling` event, once.
#[test]
fn a_signal_while_draining_logs_run_cancelling() {
    let dir = Dir::new();
    let d = dir.path();
    let log = d.join("log.jsonl");
    // More slots than jobs: the input runs out while both jobs run.
    let child = start(
        d,
        &[
            "-j3",
            "-v",
            "--no-summary",
            "--log-format",
            "json",
            "--log-file",
            s(&log),
            &format!("touch {}/started.{{}}; sleep 30", d.display()),
            ":::",
            "a",
            "b",
        ],
    );
    let started = wait_until(Duration::from_secs(30), || {
        d.join("started.a").exists()
            && d.join("started.b").exists()
            && std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\"input_done\""))
    });
    if !started {
        let _ = wait_bounded(child, Duration::ZERO);
        panic!("the jobs did not start");
    }
    signal(&child, Signal::SIGTERM);
    let (st, _) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(143));
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

// ---- a reader that stops reading ---------------------------------------------------------

/// Starts fanout with its stdout on a pipe that nobody reads (the read end is kept open, so
/// writes block rather than fail), running `job` once per value.
fn start_unread(dir: &Path, args: &[&str]) -> (Child, std::process::ChildStdout) {
    let mut child = fanout_cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    (child, out)
}

#[test]
fn a_reader_that_stops_reading_cannot_keep_fanout_alive_after_a_signal() {
    let dir = Dir::new();
    let d = dir.path();
    // Streamed: many small lines, so the events back up while stdout is stuck.
    let chatty = d.join("chatty.sh");
    script(&chatty, "echo > \"$1\"; while :; do echo x; done");
    // Grouped: a megabyte kept whole, printed when the job ends.
    let bulky = d.join("bulky.sh");
    script(
        &bulky,
        "head -c 1000000 /dev/zero; echo > \"$1\"; exec sleep 60",
    );
    for (mode, job, signals) in [
        ("--line-buffer", &chatty, 1),
        ("--group", &bulky, 1),
        ("--line-buffer", &chatty, 2),
    ] {
        let (m1, m2) = (d.join("m1"), d.join("m2"));
        let _ = std::fs::remove_file(&m1);
        let _ = std::fs::remove_file(&m2);
        let (child, _unread) = start_unread(
            d,
            &[
                "--no-summary",
                mode,
                "--grace",
                "1",
                "-j2",
                s(job),
                ":::",
                s(&m1),
                s(&m2),
            ],
        );
        wait_for_files(&[m1, m2]);
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        for _ in 0..signals {
            signal(&child, Signal::SIGTERM);
            std::thread::sleep(Duration::from_millis(100));
        }
        let (st, _) = finish(child, Duration::from_secs(30));
        let took = t0.elapsed();
        assert_eq!(st.code(), Some(143), "{mode} {signals}");
        // Grace 1 s, 2 s for the jobs' output, 2 s for the reporters: well under 10 s.
        assert!(took < Duration::from_secs(9), "{mode} {signals}: {took:?}");
    }
}

#[test]
fn a_signal_during_a_retry_delay_ends_the_run_and_keeps_the_failed_attempt() {
    let dir = Dir::new();
    let d = dir.path();
    let job = d.join("job.sh");
    script(&job, "echo x >> \"$1\"; exit 3");
    let side = d.join("side");
    let jl = d.join("jl");
    let child = start(
        d,
        &[
            "--no-summary",
            "--retries",
            "5",
            "--retry-delay",
            "60",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
            s(&side),
        ],
    );
    wait_for_files(std::slice::from_ref(&side));
    // The signal must come in the retry delay, not while the attempt runs: wait for the
    // attempt's end to be logged rather than for a while.
    let stderr = d.join("stderr");
    assert!(
        wait_until(Duration::from_secs(30), || {
            std::fs::read_to_string(&stderr).is_ok_and(|e| e.contains("  RETRY ["))
        }),
        "the failed attempt was not logged"
    );
    let t0 = Instant::now();
    signal(&child, Signal::SIGTERM);
    let (st, _) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(143));
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    assert_eq!(lines_of(&side).len(), 1, "no retry started");
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][6], "3", "the failed attempt is the job's result");
}
