//! A hostile world: bad input and bad option values (each a one-line error with exit 255), a
//! missing or non-executable program, and too few file descriptors or processes at spawn time
//! (fanout waits and retries, or fails that job, but never panics, hangs or loses a result).

use std::time::{Duration, Instant};

use crate::faults::{joblog_row, joblog_rows, lines_of};
use crate::util::*;

fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

// ---- bad input and a hostile world --------------------------------------------------------

#[test]
fn bad_durations_sequences_halts_and_slots_are_usage_errors() {
    for args in [
        &["--timeout", "soon"][..],
        &["--timeout=-1"],
        &["--slow", "x"],
        &["--retry-delay", "1 parsec"],
        &["--grace", "forever"],
        &["--termseq", "FOO,100"],
        &["--termseq", "TERM,x"],
        &["--termseq", ""],
        &["--halt", "later,fail=1"],
        &["--halt", "now,fail=0"],
        &["--halt", "soon,fail=200%"],
        &["--halt", "now,oops=1"],
        &["--retries=-1"],
        &["-j", "x"],
        &["-j", "-x"],
    ] {
        let out = fanout()
            .args(args)
            .args(["true", ":::", "a"])
            .assert()
            .code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains("invalid"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("fanout: error: "), "{args:?}: {err}");
        assert!(out.get_output().stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_missing_program_and_a_non_executable_file_are_failed_jobs_in_the_joblog() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("notexec");
    std::fs::write(&f, "echo hi\n").unwrap();
    let jl = dir.path().join("jl");
    fanout()
        .args(["--no-summary", "--joblog", s(&jl), "{}", ":::"])
        .args(["no-such-program-xyz", s(&f), "true"])
        .assert()
        .code(2);
    assert_eq!(joblog_row(&jl, 1)[6], "127");
    assert_eq!(joblog_row(&jl, 2)[6], "126");
    assert_eq!(joblog_row(&jl, 3)[6], "0");
}

#[test]
fn unreadable_and_directory_inputs_are_one_line_setup_errors() {
    let dir = tempfile::tempdir().unwrap();
    let check = |out: &std::process::Output, what: &str| {
        assert_eq!(out.status.code(), Some(255), "{what}");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.starts_with("fanout: error: "), "{what}: {err}");
        assert!(out.stdout.is_empty(), "{what}");
    };
    let out = fanout()
        .args(["--no-summary", "echo", "::::", s(dir.path())])
        .output()
        .unwrap();
    check(&out, "a directory");
    assert!(String::from_utf8_lossy(&out.stderr).contains(s(dir.path())));

    // Unreadable: as root every file is readable, so fanout runs as `nobody` there.
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = dir.path().join("secret");
    std::fs::write(&f, "a\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = std::process::Command::new(fanout_path());
    cmd.args(["--no-summary", "echo", "::::", s(&f)]);
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        cmd.uid(65534).gid(65534);
    }
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(BOUND);
    let out = match cmd.output() {
        Ok(out) => out,
        // The binary lies where `nobody` may not go (a build under /root).
        Err(e) => {
            eprintln!("note: cannot run fanout as nobody ({e}); unreadable-file case skipped");
            return;
        }
    };
    check(&out, "an unreadable file");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("secret") && err.contains("ermission denied"),
        "{err}"
    );
}

#[test]
fn few_file_descriptors_delay_spawns_but_lose_no_job() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cmd = format!(
        "ulimit -n 48 && exec {} --no-summary -j 40 sh -c 'sleep 0.2; echo {{}}' ::: $(seq 120) > {}",
        fanout_path().display(),
        s(&out)
    );
    let st = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env_remove("RUST_LOG")
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let mut got: Vec<u32> = lines_of(&out).iter().map(|l| l.parse().unwrap()).collect();
    got.sort();
    assert_eq!(got, (1..=120).collect::<Vec<_>>());
}

#[test]
fn with_no_descriptor_to_spare_jobs_fail_quickly_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let jl = dir.path().join("jl");
    let err = dir.path().join("err");
    // 12 descriptors: fanout's own use them all, so no job can ever start.
    let cmd = format!(
        "ulimit -n 12 && exec {} --no-summary -j 2 --joblog {} true ::: 1 2 3 4 2> {}",
        fanout_path().display(),
        s(&jl),
        s(&err)
    );
    let t0 = Instant::now();
    let child = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .spawn()
        .unwrap();
    let status = wait_bounded(child, BOUND).expect("fanout hung");
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(4));
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r[6] == "126"), "{rows:?}");
    let text = std::fs::read_to_string(&err).unwrap();
    assert_eq!(
        text.matches("cannot start: Too many open files").count(),
        4,
        "{text}"
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
    fn command(&self, args: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new("sh");
        cmd.args([
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

/// Waits for `child` up to `bound`, killing it if it hangs; None when it hung.
fn wait_bounded(
    mut child: std::process::Child,
    bound: Duration,
) -> Option<std::process::ExitStatus> {
    let done = wait_until(bound, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
    }
    let st = child.wait().unwrap();
    done.then_some(st)
}

#[test]
fn a_process_limit_delays_spawns_but_loses_no_job() {
    let Some(cg) = PidsCgroup::new("limit", 24) else {
        eprintln!("note: no cgroup v1 pids controller here; process limit test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // fanout and its threads take some of the 24 tasks; 30 slots of `sleep` cannot all start.
    let child = cg
        .command(&format!(
            "--no-summary -j 30 --joblog {}/jl sleep ::: $(yes 0.3 | head -n 60)",
            s(dir.path())
        ))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_bounded(child, BOUND).expect("fanout hung under a process limit");
    // Without a refused fork, the test proved nothing.
    assert!(cg.refused() > 0, "the process limit was never hit");
    assert_eq!(status.code(), Some(0));
    let rows = joblog_rows(&dir.path().join("jl"));
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r[6] == "0"), "{rows:?}");
}

#[test]
fn a_signal_stops_spawn_retries_at_once_and_nothing_panics() {
    let Some(cg) = PidsCgroup::new("signal", 12) else {
        eprintln!("note: no cgroup v1 pids controller here; process limit test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let err = dir.path().join("stderr");
    let jl = dir.path().join("jl");
    // Far fewer tasks than slots: most spawns are refused and retried, and no thread can be
    // made once the first jobs run.
    let child = cg
        .command(&format!(
            "--no-summary -j 20 --joblog {} sleep ::: $(yes 60 | head -n 20)",
            s(&jl)
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    assert!(wait_until(Duration::from_secs(30), || cg.refused() > 20));
    let t0 = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = wait_bounded(child, Duration::from_secs(30)).expect("fanout hung");
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(status.code(), Some(143));
    let text = std::fs::read_to_string(&err).unwrap();
    assert!(!text.contains("panicked"), "{text}");
    // Nothing finished: the jobs that ran were ended, the others never started.
    assert!(joblog_rows(&jl).is_empty());
}
