//! The process tree a job starts (its group, `setsid` escapees, double forks) never outlives
//! its job or fanout, even when one holds the job's output open; and fanout as PID 1 under
//! `unshare`, reaping orphans and still obeying SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::util::*;

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

/// Asserts that nothing the jobs `tags` started outlives them (3 s at most for each pid).
fn assert_trees_gone(dir: &Path, tags: &[&str]) {
    for tag in tags {
        for pid in tree_pids(dir, tag) {
            assert!(
                wait_until(Duration::from_secs(3), || !alive(pid)),
                "pid {pid} of job {tag} outlived fanout"
            );
        }
    }
}

#[test]
fn nothing_a_job_started_outlives_a_normal_run() {
    let dir = Dir::new();
    let d = dir.path();
    let job = tree_job(d);
    let child = start(
        d,
        &["--no-summary", "-j2", s(&job), "{}", "0", ":::", "a", "b"],
    );
    let (st, took) = finish(child, Duration::from_secs(30));
    assert_eq!(st.code(), Some(0));
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_trees_gone(d, &["a", "b"]);
}

#[test]
fn escapees_are_ended_when_their_job_ends_not_only_at_the_end_of_the_run() {
    let dir = Dir::new();
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
    let dir = Dir::new();
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
    assert_trees_gone(d, &["a", "b"]);
}

#[test]
fn an_escapee_holding_the_output_open_does_not_hang_the_run() {
    let dir = Dir::new();
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
    let dir = Dir::new();
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
