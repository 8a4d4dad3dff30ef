//! Faults a job brings with it: timeouts and the terminate sequence, `--slow`, retries and
//! `--halt`. Checked through exit codes, the joblog, side files written by the jobs, /proc and
//! the engine's events, never through log text. Signals are in `signals.rs`, process trees
//! and PID 1 in `process_tree.rs`, the joblog and resume in `joblog.rs` and `resume.rs`, scarce
//! resources in `limits.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use fanout::config::{Config, RetryPolicy};
use fanout::exec::Local;
use fanout::{JobOutcome, RunEvent, RunSummary};

use crate::engine::finished;

use crate::util::*;

// ---- timeouts and the terminate sequence --------------------------------------------------

#[test]
fn a_timeout_ends_the_job_and_its_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    // The job starts a background sleep in its group and waits for it.
    script(&job, "sleep 60 & echo $! > \"$1\"; wait");
    let bg = dir.path().join("bg.pid");
    let jl = dir.path().join("jl");
    let t0 = Instant::now();
    fanout()
        .args([
            "--no-summary",
            "--timeout",
            "1",
            "--joblog",
            s(&jl),
            s(&job),
        ])
        .args([":::", s(&bg), "/dev/null"])
        .assert()
        .code(2);
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let pid = read_pid(&bg);
    assert!(
        wait_until(Duration::from_secs(5), || !alive(pid)),
        "the job's background sleep {pid} outlived its timeout"
    );
    // Timed out: no exit value, ended by the first signal of the sequence (TERM).
    let row = joblog_row(&jl, 1);
    assert_eq!((row[6].as_str(), row[7].as_str()), ("-1", "15"), "{row:?}");
    let runtime: f64 = row[3].parse().unwrap();
    assert!((0.9..20.0).contains(&runtime), "{row:?}");
}

#[test]
fn a_fast_job_is_not_touched_by_the_timeout() {
    fanout()
        .args(["--no-summary", "--timeout", "30s", "sleep", ":::", "0.1"])
        .assert()
        .success();
}

#[test]
fn a_job_that_exits_0_when_terminated_is_still_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    script(&job, "trap 'exit 0' TERM; sleep 60 & wait");
    let jl = dir.path().join("jl");
    fanout()
        .args([
            "--no-summary",
            "--timeout",
            "0.5",
            "--joblog",
            s(&jl),
            s(&job),
        ])
        .args([":::", "x"])
        .assert()
        .code(1);
    let row = joblog_row(&jl, 1);
    assert_eq!(row[6], "-1", "a timed-out job has no exit value: {row:?}");
}

#[test]
fn the_terminate_sequence_is_sent_in_order_then_kill() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    script(
        &job,
        "trap 'echo TERM >> \"$1\"' TERM\ntrap 'echo INT >> \"$1\"' INT\nwhile :; do sleep 0.05; done",
    );
    let got = dir.path().join("got");
    let jl = dir.path().join("jl");
    let t0 = Instant::now();
    fanout()
        .args(["--no-summary", "--timeout", "0.3", "--joblog", s(&jl)])
        .args([
            "--termseq",
            "TERM,700,INT,700,KILL,25",
            s(&job),
            ":::",
            s(&got),
        ])
        .assert()
        .code(1);
    let took = t0.elapsed();
    assert_eq!(lines_of(&got), ["TERM", "INT"]);
    assert!(took >= Duration::from_millis(1600), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(joblog_row(&jl, 1)[7], "9");
}

#[test]
fn the_default_sequence_kills_a_job_that_ignores_term_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let jl = dir.path().join("jl");
    let t0 = Instant::now();
    fanout()
        .args(["--no-summary", "--timeout", "0.5", "--joblog", s(&jl)])
        .args(["sh", "-c", "trap '' TERM; sleep 60", ":::", "x"])
        .assert()
        .code(1);
    // TERM,200,TERM,100,TERM,50,KILL,25: killed some 350 ms after the timeout.
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(joblog_row(&jl, 1)[7], "9");
}

#[test]
fn durations_take_units_and_fractions() {
    for d in ["1.5", "1.5s", "1500ms", "0.025m"] {
        let t0 = Instant::now();
        fanout()
            .args(["--no-summary", "--timeout", d, "sleep", ":::", "30"])
            .assert()
            .code(1);
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(1400) && took < Duration::from_secs(15),
            "{d}: {took:?}"
        );
    }
}

// ---- the engine's record: timed out, slow, attempts ---------------------------------------

/// Runs the jobs through the library on this machine, collecting every event.
fn run_engine(config: Config, values: &[&str]) -> (RunSummary, Vec<RunEvent>) {
    crate::engine::run_engine(config, values, Local::new())
}

#[test]
fn timed_out_is_its_own_outcome_and_slow_jobs_are_reported() {
    let config = Config {
        command: vec!["sleep".into()],
        slots: 2,
        timeout: Some(Duration::from_millis(1500)),
        slow: Some(Duration::from_millis(400)),
        ..Config::default()
    };
    let (summary, events) = run_engine(config, &["30", "0"]);
    assert!(matches!(
        finished(&events, 1).outcome,
        JobOutcome::TimedOut { signal: Some(15) }
    ));
    assert_eq!(finished(&events, 2).outcome, JobOutcome::Success);
    assert_eq!(
        (summary.timed_out, summary.failed, summary.succeeded),
        (1, 0, 1)
    );
    assert_eq!(summary.exit_code, 1);
    let slow: Vec<(u64, Duration)> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::JobSlow { id, elapsed, .. } => Some((id.0, *elapsed)),
            _ => None,
        })
        .collect();
    // Reported at 0.4 s and every 0.4 s after, until the timeout at 1.5 s; never the quick job.
    assert!(slow.len() >= 2 && slow.len() <= 4, "{slow:?}");
    assert!(slow.iter().all(|&(id, _)| id == 1), "{slow:?}");
    assert!(slow[0].1 >= Duration::from_millis(400), "{slow:?}");
}

#[test]
fn retries_count_attempts_and_mark_jobs_that_passed_on_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    // Fails until its attempt number (lines in its side file) reaches $1.
    script(
        &job,
        "f=\"$0.$1.$FANOUT_SEQ\"; echo x >> \"$f\"; [ \"$(wc -l < \"$f\")\" -ge \"$1\" ]",
    );
    let config = Config {
        command: vec![job.clone().into_os_string()],
        slots: 2,
        retry: RetryPolicy {
            retries: 3,
            ..RetryPolicy::default()
        },
        ..Config::default()
    };
    let (summary, events) = run_engine(config, &["1", "3", "9"]);
    let r1 = finished(&events, 1);
    assert_eq!((r1.outcome, r1.attempts), (JobOutcome::Success, 1));
    let r2 = finished(&events, 2);
    assert_eq!((r2.outcome, r2.attempts), (JobOutcome::Success, 3));
    let r3 = finished(&events, 3);
    assert_eq!(
        (r3.outcome, r3.attempts),
        (JobOutcome::Failed { code: 1 }, 3)
    );
    assert_eq!(
        (summary.succeeded, summary.flaky, summary.failed),
        (2, 1, 1)
    );
    let retrying = events
        .iter()
        .filter(|e| matches!(e, RunEvent::JobRetrying { .. }))
        .count();
    assert_eq!(retrying, 4, "two retries each for jobs 2 and 3");
}

// ---- retries through the binary -----------------------------------------------------------

#[test]
fn retries_rerun_failed_and_timed_out_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    script(&job, "echo x >> \"$1\"; [ \"$(wc -l < \"$1\")\" -ge 3 ]");
    let a = dir.path().join("a");
    fanout()
        .args(["--no-summary", "--retries", "3", s(&job), ":::", s(&a)])
        .assert()
        .success();
    assert_eq!(lines_of(&a).len(), 3);
    let b = dir.path().join("b");
    fanout()
        .args(["--no-summary", "--retries", "2", s(&job), ":::", s(&b)])
        .assert()
        .code(1);
    assert_eq!(lines_of(&b).len(), 2);
    // A timed-out attempt is retried too.
    let slow = dir.path().join("slow.sh");
    script(&slow, "echo x >> \"$1\"; exec sleep 60");
    let c = dir.path().join("c");
    let t0 = Instant::now();
    fanout()
        .args([
            "--no-summary",
            "--retries",
            "3",
            "--timeout",
            "0.3",
            s(&slow),
        ])
        .args([":::", s(&c)])
        .assert()
        .code(1);
    assert_eq!(lines_of(&c).len(), 3);
    assert!(t0.elapsed() < Duration::from_secs(20));
}

/// The gaps between the attempts a job logged (as `date +%s.%N` lines).
fn gaps(path: &Path) -> Vec<f64> {
    let t: Vec<f64> = lines_of(path).iter().map(|l| l.parse().unwrap()).collect();
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn retry_delays_back_off_up_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    script(&job, "date +%s.%N >> \"$1\"; exit 3");
    let run = |name: &str, extra: &[&str]| {
        let f = dir.path().join(name);
        fanout()
            .args(["--no-summary", "--retries", "4"])
            .args(extra)
            .args([s(&job), ":::", s(&f)])
            .assert()
            .code(1);
        gaps(&f)
    };
    let g = run("fixed", &["--retry-delay", "0.3"]);
    assert_eq!(g.len(), 3, "{g:?}");
    assert!(g.iter().all(|&d| d >= 0.3), "{g:?}");
    let g = run("backoff", &["--retry-delay", "0.2", "--retry-backoff"]);
    assert!(g[0] >= 0.2 && g[1] >= 0.4 && g[2] >= 0.8, "{g:?}");
    let g = run(
        "capped",
        &[
            "--retry-delay",
            "0.2",
            "--retry-backoff",
            "--retry-max-delay",
            "300ms",
        ],
    );
    assert!(g[0] >= 0.2 && g[1] >= 0.3 && g[2] >= 0.3, "{g:?}");
    assert!(g[2] < 0.75, "the cap holds the third wait to 0.3 s: {g:?}");
}

// ---- halting -------------------------------------------------------------------------------

#[test]
fn halt_now_ends_running_jobs_and_exits_with_the_failing_jobs_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    let job = dir.path().join("job.sh");
    // Job `fail` waits until both sleepers run, then exits 7; sleepers record their pid and
    // would write `done` after a minute; later jobs only record that they started.
    script(
        &job,
        &format!(
            "cd {d}; echo started > \"started.$1\"
case $1 in
fail) i=0; while [ ! -e pid.s1 ] || [ ! -e pid.s2 ]; do sleep 0.05; i=$((i+1)); [ $i -gt 400 ] && exit 99; done; exit 7;;
s*) sleep 60 & echo $! > \"pid.$1\"; wait; echo done > \"done.$1\";;
esac"
        ),
    );
    let jl = dir.path().join("jl");
    let t0 = Instant::now();
    fanout()
        .args([
            "--no-summary",
            "-j3",
            "--halt",
            "now,fail=1",
            "--joblog",
            s(&jl),
        ])
        .args([s(&job), ":::", "s1", "s2", "fail", "later1", "later2"])
        .assert()
        .code(7);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    for sleeper in ["s1", "s2"] {
        let pid = read_pid(&dir.path().join(format!("pid.{sleeper}")));
        assert!(wait_until(Duration::from_secs(5), || !alive(pid)));
        assert!(!dir.path().join(format!("done.{sleeper}")).exists());
    }
    assert!(!dir.path().join("started.later1").exists());
    assert!(!dir.path().join("started.later2").exists());
    // Only the job that finished is in the joblog; the ended ones will run again on --resume.
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0][0].as_str(), rows[0][6].as_str()), ("3", "7"));
}

#[test]
fn halt_soon_lets_running_jobs_finish_and_starts_no_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    let job = dir.path().join("job.sh");
    script(
        &job,
        &format!(
            "cd {d}; echo started > \"started.$1\"
case $1 in
fail) i=0; while [ ! -e started.long ]; do sleep 0.05; i=$((i+1)); [ $i -gt 400 ] && exit 99; done; echo > failing; exit 3;;
long) i=0; while [ ! -e failing ]; do sleep 0.05; i=$((i+1)); [ $i -gt 400 ] && exit 99; done; sleep 0.5; echo done > done.long;;
esac"
        ),
    );
    fanout()
        .args(["--no-summary", "-j2", "--halt", "soon,fail=1", s(&job)])
        .args([":::", "long", "fail", "later1", "later2"])
        .assert()
        .code(3);
    assert!(
        dir.path().join("done.long").exists(),
        "the running job finished"
    );
    assert!(!dir.path().join("started.later1").exists());
    assert!(!dir.path().join("started.later2").exists());
}

#[test]
fn halt_thresholds_count_failures_successes_and_percentages() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.sh");
    script(&job, "echo \"$2\" >> \"$1\"; exit \"$2\"");
    let cases: [(&str, &[&str], i32, usize); 5] = [
        ("soon,fail=2", &["0", "1", "0", "2", "0", "0"], 2, 4),
        // fail=P%: the exit code is the percentage that failed (GNU parallel): 2 of 3, 67.
        ("now,fail=50%", &["1", "0", "1", "0", "0", "0"], 67, 3),
        // success=N met: 0, as GNU parallel, though a job failed before it.
        ("soon,success=2", &["1", "0", "0", "0", "0"], 0, 3),
        ("now,done=2", &["0", "0", "0", "0"], 0, 2),
        ("never", &["1", "0", "1"], 2, 3),
    ];
    for (i, (halt, codes, code, ran)) in cases.into_iter().enumerate() {
        let side = dir.path().join(format!("ran.{i}"));
        fanout()
            .args([
                "--no-summary",
                "-j1",
                "--halt",
                halt,
                s(&job),
                s(&side),
                ":::",
            ])
            .args(codes)
            .assert()
            .code(code);
        assert_eq!(lines_of(&side).len(), ran, "--halt {halt}");
    }
}
