//! A fanout killed with SIGKILL leaves nothing running: its guard ends every job's process
//! group (grandchildren that ignore SIGTERM included) and the escapees that kept the run's
//! marker descriptor. A `--resume` waits for that, refuses while jobs of the killed run
//! are still alive (the guard killed too), and a loop of SIGKILLs at random points followed by
//! resumes never runs a job twice at the same time and ends with every job done once in the
//! joblog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::util::*;

/// A job that starts, beside itself, processes that all ignore SIGTERM, recording their pids
/// in `KIND.$1`: `group` stays in the job's process group, `setsid` leaves it, `bare` leaves it
/// with an empty environment. Then `ready.$1`, and the job sleeps a minute.
fn tree_job(dir: &Path) -> PathBuf {
    let job = dir.join("tree.sh");
    script(
        &job,
        &format!(
            "cd {}
sh -c 'trap \"\" TERM; exec sleep 60' & echo $! > \"group.$1\"
setsid sh -c 'trap \"\" TERM; exec sleep 60' & echo $! > \"setsid.$1\"
env -i setsid sh -c 'trap \"\" TERM; exec sleep 60' & echo $! > \"bare.$1\"
trap '' TERM
echo $$ > \"job.$1\"
echo > \"ready.$1\"
sleep 60",
            s(dir)
        ),
    );
    job
}

const KINDS: [&str; 4] = ["job", "group", "setsid", "bare"];

/// The guard of the fanout `pid`: its child named `fanout-guard`. Waited for (up to 10 s): the
/// guard names itself once it runs, and on a loaded machine the jobs can be ready before that.
fn guard_of(pid: u32) -> Option<i32> {
    let find = || {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
            .flat_map(|list| {
                list.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok())
                    .collect::<Vec<_>>()
            })
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "fanout-guard")
            })
    };
    let mut found = None;
    wait_until(Duration::from_secs(10), || {
        found = find();
        found.is_some()
    });
    found
}

/// Asserts every pid is gone (or a zombie) within `bound`, naming the survivors.
fn assert_gone(pids: &[(String, i32)], bound: Duration) {
    let t0 = Instant::now();
    wait_until(bound, || pids.iter().all(|(_, p)| !alive(*p)));
    let left: Vec<_> = pids.iter().filter(|(_, p)| alive(*p)).collect();
    // Never leave them behind for the next test, whatever happened.
    for (_, p) in &left {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    assert!(left.is_empty(), "alive {:?} after {:?}", left, t0.elapsed());
}

fn sigkill_leaves_nothing(with_joblog: bool) {
    let dir = Dir::new();
    let d = dir.path();
    let job = tree_job(d);
    let jl = d.join("jl");
    let mut args = vec!["--no-summary", "-j2"];
    if with_joblog {
        args.extend(["--joblog", s(&jl)]);
    }
    args.extend([s(&job), ":::", "a", "b"]);
    let child = start(d, &args);
    wait_for_files(&[d.join("ready.a"), d.join("ready.b")]);
    let pids: Vec<(String, i32)> = ["a", "b"]
        .iter()
        .flat_map(|t| KINDS.iter().map(move |k| format!("{k}.{t}")))
        .map(|f| {
            let pid = read_pid(&d.join(&f));
            (f, pid)
        })
        .collect();
    let guard = guard_of(child.id()).expect("the run has a guard");
    assert!(pids.iter().all(|(_, p)| alive(*p)), "{pids:?}");
    signal(&child, Signal::SIGKILL);
    let (st, _) = finish(child, Duration::from_secs(10));
    assert_eq!(st.code(), None, "killed");
    assert_gone(&pids, Duration::from_secs(5));
    assert!(
        wait_until(Duration::from_secs(5), || !alive(guard)),
        "the guard exits once it is done"
    );
    if with_joblog {
        // Left behind by the killed run, but nothing holds it any more.
        assert!(d.join("jl.live").exists());
    }
}

#[test]
fn a_sigkilled_fanout_leaves_no_process_of_its_jobs_alive() {
    sigkill_leaves_nothing(true);
}

#[test]
fn without_a_joblog_too() {
    sigkill_leaves_nothing(false);
}

#[test]
fn a_normal_run_stops_its_guard_and_removes_the_lock_file() {
    let dir = Dir::new();
    let d = dir.path();
    let jl = d.join("jl");
    let job = dir.script(
        "job.sh",
        &format!(
            "cd {}; ls -l /proc/$$/fd/ > fds
for p in $(cat /proc/$PPID/task/*/children); do
  if [ \"$(cat /proc/$p/comm)\" = fanout-guard ]; then echo $p >> guard; fi
done",
            s(d)
        ),
    );
    dir.fanout()
        .args(["--no-summary", "--joblog", s(&jl), s(&job), ":::", "x"])
        .assert()
        .success();
    let guard: Vec<i32> = lines_of(&d.join("guard"))
        .iter()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(
        std::fs::read_to_string(d.join("fds"))
            .unwrap()
            .contains("jl.live"),
        "jobs hold the run's lock file"
    );
    assert_eq!(guard.len(), 1, "the job saw the guard beside it");
    assert!(
        guard.iter().all(|p| !alive(*p)),
        "the guard exited with fanout: {guard:?}"
    );
    assert!(!d.join("jl.live").exists(), "nothing of the run holds it");
}

/// A job for the loops: logs `start SEQ` (and `overlap SEQ ...` when the shell of an earlier
/// execution of the same seq is still alive: same pid, same start time, not a zombie), runs a
/// grandchild that ignores SIGTERM, logs `done SEQ`.
fn counting_job(dir: &Dir) -> (PathBuf, PathBuf) {
    let side = dir.join("side");
    let job = dir.script(
        "job.sh",
        &format!(
            "cd {d}
f=running.$FANOUT_SEQ
if [ -e $f ]; then
  read p t < $f
  if [ \"$(cut -d' ' -f22 /proc/$p/stat 2>/dev/null)\" = \"$t\" ] && ! grep -q '^State:.Z' /proc/$p/status 2>/dev/null; then
    echo \"overlap $FANOUT_SEQ $p $(cat /proc/$p/cmdline | tr '\\0' ' ')\" >> side
  fi
fi
echo $$ $(cut -d' ' -f22 /proc/$$/stat) > $f
echo \"start $FANOUT_SEQ\" >> side
sh -c 'trap \"\" TERM; sleep 0.2' &
sleep 0.$((FANOUT_SEQ % 3 + 1))
wait
echo \"done $FANOUT_SEQ\" >> side
rm $f",
            d = s(dir.path())
        ),
    );
    (job, side)
}

fn counts(side: &Path, what: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for l in lines_of(side) {
        if let Some(seq) = l.strip_prefix(what).and_then(|r| r.trim().parse().ok()) {
            *m.entry(seq).or_default() += 1;
        }
    }
    m
}

fn start_run(dir: &Dir, args: &[&str]) -> Child {
    let mut cmd = fanout_cmd();
    cmd.current_dir(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    cmd.spawn().unwrap()
}

/// A fresh run (no `--resume`) refused because jobs of a killed run still hold the marker
/// leaves the joblog as it was: the claim is made before the joblog is truncated.
#[test]
fn a_refused_fresh_run_leaves_the_joblog_untouched() {
    let dir = Dir::new();
    let d = dir.path();
    let jl = dir.join("jl");
    let run = dir.script(
        "first.sh",
        &format!(
            "cd {}; [ $1 = 1 ] && exit 0; echo $$ > tmp.$1; mv tmp.$1 pid.$1; trap '' TERM; sleep 60",
            s(d)
        ),
    );
    let child = start_run(&dir, &["-j2", "--joblog", s(&jl), s(&run), ":::", "1", "2"]);
    wait_for_files(&[d.join("pid.2")]);
    assert!(
        wait_until(Duration::from_secs(10), || lines_of(&jl).len() == 2),
        "job 1 is in the joblog"
    );
    let orphan = read_pid(&d.join("pid.2"));
    let guard = guard_of(child.id()).expect("a guard");
    kill(Pid::from_raw(guard), Signal::SIGKILL).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(guard)));
    signal(&child, Signal::SIGKILL);
    finish(child, Duration::from_secs(10));
    let before = std::fs::read(&jl).unwrap();

    let out = dir
        .fanout()
        .args(["--joblog", s(&jl), "true", ":::", "1", "2"])
        .assert()
        .code(255);
    let _ = nix::sys::signal::killpg(Pid::from_raw(orphan), Signal::SIGKILL);
    let err = stderr_of(&out);
    assert!(err.contains("jobs of an earlier run"), "{err}");
    assert_eq!(
        std::fs::read(&jl).unwrap(),
        before,
        "joblog untouched: {err}"
    );
}

#[test]
fn a_resume_refuses_while_jobs_of_the_killed_run_are_alive_then_goes_on() {
    let dir = Dir::new();
    let d = dir.path();
    let (job, side) = counting_job(&dir);
    let jl = dir.join("jl");
    let run = dir.script(
        "first.sh",
        &format!(
            "cd {}; echo $$ > tmp.$FANOUT_SEQ; mv tmp.$FANOUT_SEQ pid.$FANOUT_SEQ; trap '' TERM; sleep 60",
            s(d)
        ),
    );
    let child = start_run(&dir, &["-j2", "--joblog", s(&jl), s(&run), ":::", "1", "2"]);
    wait_for_files(&[d.join("pid.1"), d.join("pid.2")]);
    let orphans = [read_pid(&d.join("pid.1")), read_pid(&d.join("pid.2"))];
    // Kill the guard first, then fanout: nothing ends the jobs now.
    let guard = guard_of(child.id()).expect("a guard");
    kill(Pid::from_raw(guard), Signal::SIGKILL).unwrap();
    assert!(wait_until(Duration::from_secs(5), || !alive(guard)));
    signal(&child, Signal::SIGKILL);
    finish(child, Duration::from_secs(10));
    assert!(orphans.iter().all(|p| alive(*p)), "orphaned, not ended");

    let t0 = Instant::now();
    let out = dir
        .fanout()
        .args(["--resume", "--joblog", s(&jl), s(&job), ":::", "1", "2"])
        .assert()
        .code(255);
    let took = t0.elapsed();
    let err = stderr_of(&out);
    for p in orphans {
        let _ = nix::sys::signal::killpg(Pid::from_raw(p), Signal::SIGKILL);
    }
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("jobs of an earlier run") && err.contains("jl.live"),
        "{err}"
    );
    assert!(
        err.contains(&format!("pid {}", orphans[0].min(orphans[1]))),
        "names them: {err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(15),
        "waited a little, then refused: {took:?}"
    );
    assert!(lines_of(&side).is_empty(), "no job started: {err}");

    assert!(wait_until(Duration::from_secs(5), || orphans
        .iter()
        .all(|p| !alive(*p))));
    dir.fanout()
        .args(["--resume", "--joblog", s(&jl), s(&job), ":::", "1", "2"])
        .assert()
        .success();
    assert_eq!(counts(&side, "done").len(), 2);
}

/// xorshift, seeded from the clock (printed, so a failure can be replayed by hand).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        eprintln!("orphans: seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkills_at_random_points_and_resumes_never_run_a_job_twice_at_once() {
    const JOBS: u64 = 60;
    const KILLS: usize = 10;
    let dir = Dir::new();
    let (job, side) = counting_job(&dir);
    let jl = dir.join("jl");
    let values: Vec<String> = (1..=JOBS).map(|i| i.to_string()).collect();
    let mut args = vec![
        "--no-summary",
        "-j4",
        "--resume",
        "--joblog",
        s(&jl),
        s(&job),
    ];
    args.push(":::");
    args.extend(values.iter().map(String::as_str));
    let mut rng = Rng::new();
    let mut kills = 0;
    let t0 = Instant::now();
    // Each run starts right after the kill of the one before: it must wait for the guard.
    while kills < KILLS && t0.elapsed() < Duration::from_secs(120) {
        let mut child = start_run(&dir, &args);
        std::thread::sleep(Duration::from_millis(100 + rng.below(600)));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    let child = start_run(&dir, &args);
    let (st, _) = finish(child, Duration::from_secs(90));
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    assert_eq!(st.code(), Some(0), "the last resume completes: {stderr}");

    let starts = counts(&side, "start");
    let again: u64 = starts.values().map(|&n| n as u64 - 1).sum();
    eprintln!("orphans: {kills} kills, {again} executions of a killed job run again");
    assert!(kills >= 3, "enough kills landed mid-run: {kills}");
    assert_eq!(
        counts(&side, "overlap"),
        BTreeMap::new(),
        "a job ran beside an earlier execution of itself"
    );
    let done = counts(&side, "done");
    assert!((1..=JOBS).all(|seq| done.contains_key(&seq)), "{done:?}");
    let logged = joblog_rows(&jl);
    let mut seqs: Vec<u64> = logged.iter().map(|r| r[0].parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=JOBS).collect::<Vec<_>>(),
        "each job once in the joblog"
    );
    // No execution of any run is left running (pids are reused quickly: compare start times).
    for seq in 1..=JOBS {
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("running.{seq}"))) {
            let (pid, start) = text.trim().split_once(' ').unwrap();
            let same = || {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
                    st.split(' ').nth(21) == Some(start) && alive(pid.parse().unwrap())
                })
            };
            assert!(
                wait_until(Duration::from_secs(5), || !same()),
                "job {seq} (pid {pid}) outlived its run"
            );
        }
    }
}
