//! Scarce resources at spawn time: too few file descriptors or processes. fanout waits and
//! retries, or fails that job with a clear message, but never panics, hangs or loses a job.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::util::*;

#[test]
fn few_file_descriptors_delay_spawns_but_lose_no_job() {
    let dir = Dir::new();
    let out = dir.join("out");
    let cmd = format!(
        "ulimit -n 48 && exec {} --no-summary -j 40 sh -c 'sleep 0.2; echo {{}}' ::: $(seq 120) > {}",
        fanout_path().display(),
        s(&out)
    );
    let child = clean_env(&mut Command::new("sh"))
        .args(["-c", &cmd])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let st = wait_bounded(child, BOUND).expect("fanout hung");
    assert_eq!(st.code(), Some(0));
    let mut got: Vec<u32> = lines_of(&out).iter().map(|l| l.parse().unwrap()).collect();
    got.sort();
    assert_eq!(got, (1..=120).collect::<Vec<_>>());
}

#[test]
fn with_no_descriptor_to_spare_jobs_fail_quickly_with_a_clear_message() {
    let dir = Dir::new();
    let jl = dir.join("jl");
    let err = dir.join("err");
    // Under `ulimit -n N` fanout may only use descriptors below N. How many of those are taken
    // before its first job depends on what it inherits (a test harness or CI runner can pass
    // descriptors down) and on how many the engine opens for itself, so no fixed N means "no
    // descriptor to spare". The lowest N under which fanout gets as far as its jobs does:
    // below it the run cannot start (nothing in the joblog); at it, every descriptor fanout
    // may use is its own, and no job can ever start. stderr is opened here, not by a shell
    // redirection (dash saves the old stderr on a descriptor above 9 first, which the limit
    // may not allow).
    let run = |limit: u32| {
        let cmd = format!(
            "ulimit -n {limit} && exec {} --no-summary -j 2 --joblog {} true ::: 1 2 3 4",
            fanout_path().display(),
            s(&jl)
        );
        let _ = std::fs::remove_file(&jl);
        let t0 = Instant::now();
        let child = clean_env(&mut Command::new("sh"))
            .args(["-c", &cmd])
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let status = wait_bounded(child, BOUND).expect("fanout hung");
        (limit, status, t0.elapsed())
    };
    let (limit, status, took) = (4..64)
        .map(run)
        .find(|_| !joblog_rows(&jl).is_empty())
        .expect("fanout gets to its jobs with fewer than 64 descriptors");
    assert!(
        took < Duration::from_secs(20),
        "ulimit -n {limit}: {took:?}"
    );
    assert_eq!(status.code(), Some(4), "ulimit -n {limit}");
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[6] == "126"), "{rows:?}");
    let text = std::fs::read_to_string(&err).unwrap();
    // fanout's message is the same for the four jobs: said once, and each job has its line.
    assert_eq!(
        text.matches("cannot start: Too many open files").count(),
        1,
        "ulimit -n {limit}: {text}"
    );
    assert_eq!(
        text.matches("NOSTART [").count(),
        4,
        "ulimit -n {limit}: {text}"
    );
}

/// A cgroup v1 `pids` group with a task limit, removed when dropped.
struct PidsCgroup(std::path::PathBuf);

impl PidsCgroup {
    fn new(name: &str, max: u32) -> Option<PidsCgroup> {
        let cg = std::path::PathBuf::from(format!(
            "/sys/fs/cgroup/pids/fanout-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir(&cg).ok()?;
        let cg = PidsCgroup(cg);
        std::fs::write(cg.0.join("pids.max"), max.to_string()).ok()?;
        Some(cg)
    }

    /// A shell command that moves itself into the group, then runs fanout with `args`.
    fn command(&self, args: &str) -> Command {
        let mut cmd = Command::new("sh");
        clean_env(&mut cmd).args([
            "-c",
            &format!(
                "echo $$ > {}/cgroup.procs && exec {} {args}",
                s(&self.0),
                fanout_path().display()
            ),
        ]);
        cmd
    }

    /// How many forks the limit refused (`max N` in pids.events).
    fn refused(&self) -> u64 {
        std::fs::read_to_string(self.0.join("pids.events"))
            .unwrap_or_default()
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        wait_until(Duration::from_secs(5), || {
            std::fs::remove_dir(&self.0).is_ok()
        });
    }
}

#[test]
fn a_process_limit_delays_spawns_but_loses_no_job() {
    let Some(cg) = PidsCgroup::new("limit", 24) else {
        eprintln!("note: no cgroup v1 pids controller here; process limit test skipped");
        return;
    };
    let dir = Dir::new();
    // fanout and its threads take some of the 24 tasks; 30 slots of `sleep` cannot all start.
    let child = cg
        .command(&format!(
            "--no-summary -j 30 --joblog {}/jl sleep ::: $(yes 0.3 | head -n 60)",
            s(dir.path())
        ))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(child, BOUND).expect("fanout hung under a process limit");
    // Without a refused fork, the test proved nothing.
    assert!(cg.refused() > 0, "the process limit was never hit");
    assert_eq!(status.code(), Some(0));
    let rows = joblog_rows(&dir.join("jl"));
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r[6] == "0"), "{rows:?}");
}

#[test]
fn a_signal_stops_spawn_retries_at_once_and_nothing_panics() {
    let Some(cg) = PidsCgroup::new("signal", 12) else {
        eprintln!("note: no cgroup v1 pids controller here; process limit test skipped");
        return;
    };
    let dir = Dir::new();
    let err = dir.join("stderr");
    let jl = dir.join("jl");
    // Far fewer tasks than slots: most spawns are refused and retried, and no thread can be
    // made once the first jobs run.
    let child = cg
        .command(&format!(
            "--no-summary -j 20 --joblog {} sleep ::: $(yes 60 | head -n 20)",
            s(&jl)
        ))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || cg.refused() > 20));
    let t0 = Instant::now();
    signal(&child, Signal::SIGTERM);
    let status = wait_bounded(child, Duration::from_secs(30)).expect("fanout hung");
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(143));
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    // Nothing finished: the jobs that ran were ended, the others never started.
    assert!(joblog_rows(&jl).is_empty());
}
