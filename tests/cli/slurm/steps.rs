//! `--slurm` against the real single-node Slurm of `scripts/test-slurm.sh` (its `SLURM_CONF`
//! is exported by `scripts/test.sh`): jobs as steps inside `salloc -n 2`, an allocation fanout
//! gets and releases itself (also on SIGINT), `--timeout` on a step that ignores SIGTERM,
//! `--slurm-wait`, srun's own failures. Each test skips with a visible message when there is no
//! test Slurm, and they run one at a time (the node has only the machine's CPUs). No Slurm
//! client is ever started here without `SLURM_CONF`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::util::*;

/// One Slurm test at a time.
static SLURM: Mutex<()> = Mutex::new(());

/// The test Slurm's configuration, or `None` (after a visible SKIP line) when there is none.
fn slurm_conf(test: &str) -> Option<PathBuf> {
    let conf = std::env::var_os("SLURM_CONF").map(PathBuf::from);
    match conf {
        Some(c) if c.is_file() && std::env::var_os("TEST_SLURM_DIR").is_some() => Some(c),
        _ => {
            eprintln!(
                "SKIP slurm::steps::{test}: no test Slurm (run scripts/test.sh as root, or eval \"$(scripts/test-slurm.sh up)\")"
            );
            None
        }
    }
}

/// A Slurm client command with the test configuration and nothing else of ours.
fn client(conf: &Path, program: &str) -> Command {
    let mut cmd = Command::new(program);
    clean_env(&mut cmd).env("SLURM_CONF", conf);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("SLURM_") && k != "SLURM_CONF" {
            cmd.env_remove(&k);
        }
    }
    cmd
}

/// `squeue` output lines (jobs, or with `-s` steps) in format `fmt`.
fn squeue(conf: &Path, args: &[&str]) -> Vec<String> {
    let out = client(conf, "timeout")
        .args(["10", "squeue", "-h"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The jobs whose name contains `part` (fanout names its allocations `fanout-run-PID-N`).
fn jobs_named(conf: &Path, part: &str) -> Vec<String> {
    squeue(conf, &["-o", "%i %j %T"])
        .into_iter()
        .filter(|l| l.contains(part))
        .collect()
}

/// Processes whose command line is exactly `args` (the tasks run on this machine).
fn processes(args: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let words: Vec<&[u8]> = cmdline
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .collect();
        if words.join(&b' ') == args.as_bytes() && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}

/// Waits (bounded) until nothing of fanout run `pid` is left in the queue, and asserts so.
fn assert_no_allocation_left(conf: &Path, pid: u32) {
    let name = format!("fanout-run-{pid}-");
    let gone = wait_until(Duration::from_secs(20), || {
        jobs_named(conf, &name)
            .iter()
            .all(|l| l.ends_with("COMPLETED") || l.ends_with("CANCELLED"))
    });
    assert!(gone, "allocations left: {:?}", jobs_named(conf, &name));
}

/// Inside `salloc -n 2`: 20 jobs as steps, each sees its own SLURM_STEP_ID, never more than 2
/// at once; exit codes and a signalled job are reported; the joblog has the node and resumes.
#[test]
fn jobs_run_as_steps_inside_an_allocation() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conf) = slurm_conf("jobs_run_as_steps_inside_an_allocation") else {
        return;
    };
    let dir = Dir::new();
    let log = dir.join("events");
    let joblog = dir.join("joblog");
    let results = dir.join("results.jsonl");
    let job = dir.script(
        "job.sh",
        &format!(
            "echo \"+ $(date +%s%N)\" >> {log}\n\
             echo \"step $SLURM_STEP_ID job $SLURM_JOB_ID seq $FANOUT_SEQ\"\n\
             sleep 0.3\n\
             echo \"- $(date +%s%N)\" >> {log}\n\
             case $1 in 5) exit 3 ;; 7) kill -TERM $$ ;; esac",
            log = log.display()
        ),
    );
    let values: Vec<String> = (1..=20).map(|i| i.to_string()).collect();
    let run = |extra: &[&str]| {
        let mut cmd = client(&conf, "timeout");
        cmd.args(["120", "salloc", "--quiet", "-n", "2", s(&fanout_path())])
            .args(["--slurm", "--joblog", s(&joblog)])
            .args(extra)
            .args([s(&job), "{}", ":::"])
            .args(&values)
            .stdin(Stdio::null());
        cmd.output().unwrap()
    };
    let out = run(&["--results-json", s(&results)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "two jobs failed: {stderr}");
    // Every job was a step of its own, of one allocation.
    let steps: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("step "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(steps.len(), 20, "20 distinct steps: {stdout}");
    assert!(
        !stderr.contains("srun: error"),
        "srun's reports are not the job's: {stderr}"
    );
    // Never more than 2 at once.
    let mut events: Vec<(u128, i32)> = lines_of(&log)
        .iter()
        .map(|l| {
            let (sign, t) = l.split_once(' ').unwrap();
            (t.parse().unwrap(), if sign == "+" { 1 } else { -1 })
        })
        .collect();
    events.sort_by_key(|&(t, d)| (t, d));
    let (mut now, mut most) = (0, 0);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    assert!(most <= 2, "{most} jobs ran at once in a 2-task allocation");
    assert_eq!(most, 2, "the two tasks were both used");
    // Exit codes and the signal, the node in the Host column.
    let row = joblog_row(&joblog, 5);
    assert_eq!(
        (row[1].as_str(), row[6].as_str(), row[7].as_str()),
        ("localhost", "3", "0")
    );
    // Killed by a signal: Exitval 0 and the signal, as GNU parallel writes it.
    let row = joblog_row(&joblog, 7);
    assert_eq!((row[6].as_str(), row[7].as_str()), ("0", "15"), "{row:?}");
    assert_eq!(joblog_row(&joblog, 1)[6], "0");
    // The handle is JOBID.STEP.
    let records = json_lines(&std::fs::read_to_string(&results).unwrap());
    let handle = records[0]["handle"].as_str().unwrap().to_string();
    let (job_id, step) = handle.split_once('.').expect("JOBID.STEP");
    assert!(
        job_id.parse::<u64>().is_ok() && step.parse::<u64>().is_ok(),
        "{handle}"
    );
    // The joblog resumes: only the two failed jobs run again.
    let again = run(&["--resume-failed"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(2));
    let seqs: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.rsplit_once("seq ").map(|(_, s)| s))
        .collect();
    assert_eq!(seqs.len(), 2, "{stdout}");
    assert!(seqs.contains(&"5") && seqs.contains(&"7"), "{stdout}");
}

/// Outside an allocation fanout gets one (salloc), runs the steps in it and releases it.
#[test]
fn an_allocation_of_its_own_is_released_at_the_end() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conf) = slurm_conf("an_allocation_of_its_own_is_released_at_the_end") else {
        return;
    };
    let dir = Dir::new();
    let joblog = dir.join("joblog");
    let child = start(
        dir.path(),
        &[
            "--slurm",
            "-j",
            "2",
            "-v",
            "--joblog",
            s(&joblog),
            "sh",
            "-c",
            "echo $SLURM_JOB_ID.$SLURM_STEP_ID",
            ":::",
            "a",
            "b",
            "c",
            "d",
        ],
    );
    let pid = child.id();
    let (st, _) = finish(child, BOUND);
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(err.contains("got a Slurm allocation"), "{err}");
    assert!(err.contains("released the Slurm allocation"), "{err}");
    let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let jobs: std::collections::BTreeSet<&str> =
        out.lines().map(|l| l.split('.').next().unwrap()).collect();
    assert_eq!(jobs.len(), 1, "one allocation for every step: {out}");
    assert_eq!(joblog_seqs(&joblog).len(), 4);
    assert_no_allocation_left(&conf, pid);
}

/// SIGINT in the middle of a run: the steps are cancelled, their tasks are gone, and the
/// allocation is released.
#[test]
fn sigint_leaves_no_step_task_or_allocation() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conf) = slurm_conf("sigint_leaves_no_step_task_or_allocation") else {
        return;
    };
    let dir = Dir::new();
    let marks: Vec<PathBuf> = (1..=2).map(|i| dir.join(format!("m{i}"))).collect();
    let child = start(
        dir.path(),
        &[
            "--slurm",
            "-j",
            "2",
            "sh",
            "-c",
            &format!("touch {}/m{{}}; exec sleep 4271", dir.path().display()),
            ":::",
            "1",
            "2",
            "3",
        ],
    );
    let pid = child.id();
    wait_for_files(&marks);
    assert!(
        wait_until(Duration::from_secs(10), || processes("sleep 4271").len()
            == 2),
        "two tasks run"
    );
    signal(&child, Signal::SIGINT);
    let (st, _) = finish(child, BOUND);
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_eq!(st.code(), Some(130), "{err}");
    assert!(
        wait_until(Duration::from_secs(10), || processes("sleep 4271")
            .is_empty()),
        "tasks left: {:?}",
        processes("sleep 4271")
    );
    assert_no_allocation_left(&conf, pid);
}

/// `--timeout` on a step whose task ignores SIGTERM: the terminate sequence reaches it through
/// Slurm, the step is gone after timeout + the sequence, and the job is reported timed out.
#[test]
fn a_timeout_ends_a_step_that_ignores_sigterm() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conf) = slurm_conf("a_timeout_ends_a_step_that_ignores_sigterm") else {
        return;
    };
    let dir = Dir::new();
    let joblog = dir.join("joblog");
    let child = start(
        dir.path(),
        &[
            "--slurm",
            "-j",
            "1",
            "--timeout",
            "1",
            "--termseq",
            "TERM,500,KILL,25",
            "--joblog",
            s(&joblog),
            "sh",
            "-c",
            "trap '' TERM; exec sleep 4272",
            ":::",
            "x",
        ],
    );
    let pid = child.id();
    let (st, took) = finish(child, BOUND);
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let row = joblog_row(&joblog, 1);
    assert_eq!((row[6].as_str(), row[7].as_str()), ("-1", "9"), "{row:?}");
    assert!(err.contains("timed out"), "{err}");
    assert!(processes("sleep 4272").is_empty(), "the task is gone");
    assert_no_allocation_left(&conf, pid);
}

/// `--slurm-wait`: a node busy with another allocation gives no allocation in time: a clear
/// error, exit 255, and the pending request is withdrawn.
#[test]
fn slurm_wait_bounds_a_pending_allocation() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conf) = slurm_conf("slurm_wait_bounds_a_pending_allocation") else {
        return;
    };
    let cpus = std::thread::available_parallelism()
        .unwrap()
        .get()
        .to_string();
    let name = format!("fanout-test-hog-{}", std::process::id());
    let hog = client(&conf, "timeout")
        .args(["30", "salloc", "--no-shell", "-n", &cpus, "-J", &name])
        .output()
        .unwrap();
    assert!(
        hog.status.success(),
        "{}",
        String::from_utf8_lossy(&hog.stderr)
    );
    let dir = Dir::new();
    let child = start(
        dir.path(),
        &[
            "--slurm",
            "-j",
            "1",
            "--slurm-wait",
            "2s",
            "true",
            ":::",
            "a",
        ],
    );
    let pid = child.id();
    let (st, took) = finish(child, BOUND);
    let _ = client(&conf, "timeout")
        .args(["10", "scancel", &format!("--name={name}")])
        .status();
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_eq!(st.code(), Some(255), "{err}");
    assert!(err.contains("waiting for an allocation"), "{err}");
    assert!(
        err.contains("no Slurm allocation of 1 tasks within --slurm-wait 2s"),
        "{err}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("fanout: error"))
            .count(),
        1
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_no_allocation_left(&conf, pid);
}

/// srun's own failure (inside an allocation, an option it refuses) is not the job's exit
/// code: the job did not start, with srun's words. Outside one, salloc refuses it first: a
/// setup error.
#[test]
fn srun_failures_are_told_from_the_job_s() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conf) = slurm_conf("srun_failures_are_told_from_the_job_s") else {
        return;
    };
    let dir = Dir::new();
    let joblog = dir.join("joblog");
    let out = client(&conf, "timeout")
        .args(["60", "salloc", "--quiet", "-n", "1", s(&fanout_path())])
        .args(["--slurm", "--joblog", s(&joblog)])
        .args(["--slurm-args", "--no-such-srun-option", "true", ":::", "a"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("srun failed to start the step"), "{err}");
    assert!(err.contains("no-such-srun-option"), "srun's words: {err}");
    assert_eq!(joblog_row(&joblog, 1)[6], "255");
    let child = start(
        dir.path(),
        &[
            "--slurm",
            "-j",
            "1",
            "--slurm-args",
            "--no-such-srun-option",
            "true",
            ":::",
            "a",
        ],
    );
    let pid = child.id();
    let (st, _) = finish(child, BOUND);
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert_eq!(st.code(), Some(255), "{err}");
    assert!(err.contains("salloc could not get an allocation"), "{err}");
    assert_no_allocation_left(&conf, pid);
}

/// No Slurm configuration: `--slurm` refuses before any Slurm client runs.
#[test]
fn slurm_without_a_configuration_is_refused() {
    let out = fanout()
        .args(["--slurm", "-j", "1", "true", ":::", "a"])
        .env("SLURM_CONF", "/nonexistent/slurm.conf")
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(
        err.contains("SLURM_CONF=/nonexistent/slurm.conf is not a file"),
        "{err}"
    );
    // Outside an allocation -j is needed (the tasks to allocate); the config is checked first.
    if let Some(conf) = std::env::var_os("SLURM_CONF").filter(|c| Path::new(c).is_file()) {
        let out = fanout()
            .args(["--slurm", "true", ":::", "a"])
            .env("SLURM_CONF", conf)
            .env_remove("SLURM_JOB_ID")
            .assert()
            .code(255);
        assert!(
            stderr_of(&out).contains("needs -j N"),
            "{}",
            stderr_of(&out)
        );
    }
    let out = fanout()
        .args(["--slurm-wait", "1s", "true", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("only applies to --slurm"));
}

/// `--pipe` blocks reach the steps' stdin (srun forwards its stdin to the step's one task).
#[test]
fn pipe_blocks_are_fed_to_the_steps() {
    let _one = SLURM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(_conf) = slurm_conf("pipe_blocks_are_fed_to_the_steps") else {
        return;
    };
    let out = fanout()
        .args(["--slurm", "-j", "2", "-k", "--pipe", "-N", "3"])
        .arg("echo step=${SLURM_STEP_ID:-none} $(wc -l)")
        .write_stdin((1..=9).map(|i| format!("{i}\n")).collect::<String>())
        .assert()
        .success();
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}\n{}", stderr_of(&out));
    for l in &lines {
        assert!(l.starts_with("step=") && !l.contains("none"), "{text}");
        assert!(
            l.ends_with(" 3"),
            "each step read its block of 3 lines: {text}"
        );
    }
}
