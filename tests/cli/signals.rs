//! Real signals sent to the real binary: forwarding, grace, a second signal, exit codes; the
//! process tree a job starts (its group, `setsid` escapees, double forks) never outlives fanout;
//! and fanout as PID 1 under `unshare`, reaping orphans and still obeying SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::faults::{alive, joblog_rows, lines_of, read_pid};
use crate::util::*;

/// Starts fanout in the background with a clean environment; output goes to files in `dir`.
fn start(dir: &Path, args: &[&str]) -> Child {
    start_with(Command::new(fanout_path()), dir, args)
}

fn start_with(mut cmd: Command, dir: &Path, args: &[&str]) -> Child {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("FANOUT_") || k == "RUST_LOG" || k == "NO_COLOR" || k == "CI" {
            cmd.env_remove(&k);
        }
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for the child up to `bound`; kills it and fails the test when it hangs.
fn finish(mut child: Child, bound: Duration) -> (ExitStatus, Duration) {
    let t0 = Instant::now();
    let done = wait_until(bound, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fanout did not exit within {bound:?}");
    }
    (child.wait().unwrap(), t0.elapsed())
}

fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// Waits until every file exists (the jobs are running and ready for the signal).
fn wait_for_files(files: &[PathBuf]) {
    assert!(
        wait_until(Duration::from_secs(30), || files.iter().all(|f| f.exists())),
        "the jobs did not start: {files:?}"
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

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
        let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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

/// A job that starts a sleeper in its group, a `setsid` escapee and a double-forked orphan,
/// recording their pids, then waits `$2` seconds and exits.
fn tree_job(dir: &Path) -> PathBuf {
    let job = dir.join("tree.sh");
    script(
        &job,
        &format!(
            "cd {}
sleep 60 > /dev/null 2>&1 & echo $! > \"group.$1\"
setsid sleep 60 & echo $! > \"setsid.$1\"
(sleep 60 > /dev/null 2>&1 & echo $! > \"orphan.$1\")
echo > \"ready.$1\"
sleep \"$2\"",
            s(dir)
        ),
    );
    job
}

fn tree_pids(dir: &Path, tag: &str) -> Vec<i32> {
    ["group", "setsid", "orphan"]
        .iter()
        .map(|k| read_pid(&dir.join(format!("{k}.{tag}"))))
        .collect()
}

#[test]
fn nothing_a_job_started_outlives_a_normal_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = tree_job(d);
    let child = start(
        d,
        &["--no-summary", "-j2", s(&job), "{}", "0", ":::", "a", "b"],
    );
    let (st, took) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(0));
    assert!(took < Duration::from_secs(20), "{took:?}");
    for tag in ["a", "b"] {
        for pid in tree_pids(d, tag) {
            assert!(
                wait_until(Duration::from_secs(3), || !alive(pid)),
                "pid {pid} of job {tag} outlived fanout"
            );
        }
    }
}

#[test]
fn escapees_are_ended_when_their_job_ends_not_only_at_the_end_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = tree_job(d);
    let check = d.join("check.sh");
    // Runs after job `a` (-j1): waits until a's three leftovers are gone, up to 10 s.
    script(
        &check,
        &format!(
            "cd {}
i=0
for p in $(cat group.a setsid.a orphan.a); do
  while [ -e /proc/$p ] && ! grep -q '^State:.Z' /proc/$p/status 2>/dev/null; do
    sleep 0.05; i=$((i+1)); [ $i -gt 200 ] && {{ echo \"alive $p\" > verdict; exit 1; }}
  done
done
echo gone > verdict",
            s(d)
        ),
    );
    let first = format!("{} a 0", s(&job));
    let child = start(d, &["--no-summary", "-j1", ":::", &first, s(&check)]);
    let (st, _) = finish(child, Duration::from_secs(30));
    assert_eq!(lines_of(&d.join("verdict")), ["gone"]);
    assert_eq!(st.code(), Some(0));
}

#[test]
fn nothing_a_job_started_outlives_an_interrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = tree_job(d);
    let child = start(
        d,
        &["--no-summary", "-j2", s(&job), "{}", "60", ":::", "a", "b"],
    );
    wait_for_files(&[d.join("ready.a"), d.join("ready.b")]);
    signal(&child, Signal::SIGTERM);
    let (st, _) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(143));
    for tag in ["a", "b"] {
        for pid in tree_pids(d, tag) {
            assert!(
                wait_until(Duration::from_secs(3), || !alive(pid)),
                "pid {pid} of job {tag} outlived fanout"
            );
        }
    }
}

#[test]
fn an_escapee_holding_the_output_open_does_not_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = d.join("job.sh");
    // The escapee keeps the job's stdout pipe open for a minute.
    script(&job, "setsid sleep 60 & echo $! > \"$1\"; echo out");
    let pidf = d.join("pid");
    let child = start(d, &["--no-summary", s(&job), ":::", s(&pidf)]);
    let (st, took) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(0));
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(std::fs::read_to_string(d.join("stdout")).unwrap(), "out\n");
    assert!(!alive(read_pid(&pidf)));
}

// ---- PID 1 ----------------------------------------------------------------------------------

/// The pid of `parent`'s child, read from /proc.
fn child_of(parent: u32) -> Option<i32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(parent) {
            return Some(pid);
        }
    }
    None
}

fn unshare_works() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn as_pid_1_orphans_are_reaped_and_sigterm_ends_the_run() {
    if !unshare_works() {
        eprintln!(
            "note: `unshare --pid --fork --mount-proc` is not permitted here; PID 1 test skipped"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let job = d.join("job.sh");
    // orphans: leaves three short-lived orphans (re-parented to fanout, PID 1) and exits 3.
    // check: once they have exited, counts the zombies left in the namespace.
    // wait: tells the test it runs, then sleeps until fanout is told to stop.
    script(
        &job,
        &format!(
            "cd {}
case $1 in
orphans) for i in 1 2 3; do (sleep 0.2 & echo $! >> orphans); done; exit 3;;
check) sleep 1.5; for p in $(cat orphans); do [ -e /proc/$p ] && echo \"left $p\" >> check; done
  z=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z '); echo \"zombies $z\" >> check; echo $$ > pid1.check;;
wait) echo $$ > running; exec sleep 60;;
esac",
            s(d)
        ),
    );
    let jl = d.join("jl");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc"])
        .arg(fanout_path());
    let child = start_with(
        cmd,
        d,
        &[
            "--no-summary",
            "-j1",
            "--joblog",
            s(&jl),
            s(&job),
            ":::",
            "orphans",
            "check",
            "wait",
            "never",
        ],
    );
    wait_for_files(&[d.join("running")]);
    let inner = child_of(child.id()).expect("the inner fanout runs");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{inner}/status"))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("NSpid:"))
            .and_then(|l| l.split_whitespace().last().map(String::from)),
        Some("1".to_string()),
        "fanout is PID 1 in its namespace"
    );
    kill(Pid::from_raw(inner), Signal::SIGTERM).unwrap();
    let (st, _) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(143));
    assert_eq!(lines_of(&d.join("orphans")).len(), 3);
    assert_eq!(lines_of(&d.join("check")), ["zombies 0"]);
    // The reaper did not steal the job's own exit status.
    let rows = joblog_rows(&jl);
    let orphans = rows.iter().find(|r| r[0] == "1").expect("job 1 logged");
    assert_eq!(orphans[6], "3", "{rows:?}");
    assert!(
        rows.iter().all(|r| r[0] != "4"),
        "job 4 never started: {rows:?}"
    );
}

// ---- a reader that stops reading ---------------------------------------------------------

/// Starts fanout with its stdout on a pipe that nobody reads (the read end is kept open, so
/// writes block rather than fail), running `job` once per value.
fn start_unread(dir: &Path, args: &[&str]) -> (Child, std::process::ChildStdout) {
    let mut cmd = Command::new(fanout_path());
    cmd.env_remove("RUST_LOG")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    let mut child = cmd.spawn().unwrap();
    let out = child.stdout.take().unwrap();
    (child, out)
}

#[test]
fn a_reader_that_stops_reading_cannot_keep_fanout_alive_after_a_signal() {
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
    std::thread::sleep(Duration::from_millis(300));
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
