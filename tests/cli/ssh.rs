//! Jobs on other machines over ssh (`-S`, `--slf`, `--ssh`, `--env`), against real sshds in
//! network namespaces on this machine (`scripts/test-hosts.sh up`, which `scripts/test.sh`
//! runs as root and which exports `FO_SSH_CONFIG`). Without those hosts every test here prints
//! a SKIP line and returns. The tests take turns (one lock): some of them break a host.
//!
//! The hosts share this machine's pid namespace, so a remote job is a process seen here: "no
//! job left on any host" is checked by scanning /proc for the job's unique command line.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::MutexGuard;
use std::time::Duration;

use crate::util::{
    BOUND, Dir, fanout_cmd, joblog_rows, joblog_seqs, signal, stderr_of, stdout_of, wait_bounded,
    wait_until,
};

/// The output of `child` (started with piped stdout and stderr), waited for at most [`BOUND`].
fn output_bounded(child: std::process::Child) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(BOUND) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("fanout did not end within {BOUND:?}");
        }
    }
}

/// The staging hosts: the ssh config for `--ssh`, and the lock that makes tests take turns.
struct Hosts {
    config: PathBuf,
    dir: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Hosts {
    /// `None` (after a visible SKIP line) when the hosts are not up.
    fn get(test: &str) -> Option<Hosts> {
        let (Some(config), Some(dir)) = (
            std::env::var_os("FO_SSH_CONFIG"),
            std::env::var_os("FO_HOSTS_DIR"),
        ) else {
            eprintln!(
                "SKIP ssh::{test}: no ssh test hosts (FO_SSH_CONFIG unset): run scripts/test.sh as root, or eval \"$(scripts/test-hosts.sh up)\""
            );
            return None;
        };
        let turn = crate::util::hosts::TURN
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Some(Hosts {
            config: config.into(),
            dir: dir.into(),
            _turn: turn,
        })
    }

    /// The `--ssh` value.
    fn ssh(&self) -> String {
        format!("ssh -F {}", self.config.display())
    }

    /// fanout with `--ssh` set, bounded.
    fn fanout(&self, d: &Dir) -> assert_cmd::Command {
        let mut cmd = d.fanout();
        cmd.arg("--ssh").arg(self.ssh());
        cmd
    }

    /// Connections host `i`'s sshd accepted so far (its log has a line per login).
    fn logins(&self, i: u32) -> usize {
        let log = std::fs::read_to_string(self.dir.join(format!("h{i}/sshd.log")));
        log.unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }
}

/// A fault on a host, undone on drop (also when the test fails).
struct Fault(&'static str, u32);

impl Fault {
    fn new(kind: &'static str, undo: &'static str, i: u32) -> Fault {
        hosts_script(&["fault", kind, &i.to_string()]);
        Fault(undo, i)
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        hosts_script(&["fault", self.0, &self.1.to_string()]);
    }
}

fn hosts_script(args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/test-hosts.sh");
    let st = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .status()
        .unwrap();
    assert!(st.success(), "test-hosts.sh {args:?}");
}

/// Processes (here or on a host) whose command line is exactly `argv`.
fn processes(argv: &[&str]) -> usize {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .filter(|e| {
            let zombie = std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
            });
            !zombie && std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == want)
        })
        .count()
}

fn hosts_of_joblog(path: &std::path::Path) -> Vec<(u64, String)> {
    joblog_rows(path)
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), r[1].clone()))
        .collect()
}

#[test]
fn sixty_jobs_run_once_each_within_each_hosts_slots() {
    let Some(h) = Hosts::get("sixty_jobs_run_once_each_within_each_hosts_slots") else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    // Each job counts the jobs running on its host (files in the host's own home) while it
    // runs: never more than the host's slots.
    let job = "touch ~/run.$FANOUT_SEQ; n=$(ls ~ | grep -c '^run\\.'); sleep 0.2; rm ~/run.$FANOUT_SEQ; echo {} $(hostname) $n";
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "2/h1,3/h2",
            "-S",
            "1/h3",
            "--joblog",
            log.to_str().unwrap(),
            job,
        ])
        .arg(":::")
        .args((1..=60).map(|i| i.to_string()))
        .assert()
        .success();
    let stdout = stdout_of(&out);
    let slots = |host: &str| match host {
        "h1" => 2,
        "h2" => 3,
        "h3" => 1,
        other => panic!("job on an unknown host {other}"),
    };
    let mut ran = std::collections::BTreeMap::new();
    for line in stdout.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        let n: usize = w[2].parse().unwrap();
        assert!(
            n >= 1 && n <= slots(w[1]),
            "{} jobs at once on {}: {line}",
            n,
            w[1]
        );
        assert!(
            ran.insert(w[0].parse::<u64>().unwrap(), w[1].to_string())
                .is_none(),
            "twice: {line}"
        );
    }
    assert_eq!(ran.len(), 60);
    let logged = hosts_of_joblog(&log);
    assert_eq!(logged.len(), 60, "one joblog line per job");
    for (seq, host) in logged {
        assert_eq!(
            ran[&seq], host,
            "the joblog names the host job {seq} ran on"
        );
    }
    assert!(ran.values().any(|h| h == "h3"), "h3 ran jobs");
}

#[test]
fn one_connection_per_host_for_the_whole_run() {
    let Some(h) = Hosts::get("one_connection_per_host_for_the_whole_run") else {
        return;
    };
    let d = Dir::new();
    let before = (h.logins(1), h.logins(2));
    let dirs = || -> std::collections::BTreeSet<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("fanout-ssh."))
            .map(|e| e.path())
            .collect()
    };
    let dirs_before = dirs();
    h.fanout(&d)
        .args(["-S", "4/h1,4/h2", "true"])
        .arg(":::")
        .args((1..=30).map(|i| i.to_string()))
        .assert()
        .success();
    assert_eq!((h.logins(1), h.logins(2)), (before.0 + 1, before.1 + 1));
    // The ControlMaster sockets' directory is gone.
    let left: Vec<_> = dirs().difference(&dirs_before).cloned().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn forty_jobs_in_flight_on_one_host_with_default_sshd_limits() {
    let Some(h) = Hosts::get("forty_jobs_in_flight_on_one_host_with_default_sshd_limits") else {
        return;
    };
    let d = Dir::new();
    let before = h.logins(1);
    // Every job waits until all 40 are running (files in the host's home), so 40 are in
    // flight at once, past sshd's MaxSessions 10 and MaxStartups 10.
    let tag = d
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .replace('.', "");
    let job = format!(
        "mkdir -p ~/{tag}; touch ~/{tag}/$FANOUT_SEQ; i=0; while [ $(ls ~/{tag} | wc -l) -lt 40 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo $(ls ~/{tag} | wc -l)"
    );
    let out = h
        .fanout(&d)
        .args(["-S", "40/h1", &job])
        .arg(":::")
        .args((1..=40).map(|i| i.to_string()))
        .assert()
        .success();
    let stdout = stdout_of(&out);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("40 ")).count(),
        40,
        "{stdout}"
    );
    // 5 masters of 8 sessions each, made one at a time.
    assert_eq!(h.logins(1) - before, 5);
}

/// A run of 30 jobs on 3 hosts where `kind` breaks h3 once it has run a job: every job still
/// ends once, exit 0, and one warning names h3.
fn survives(h: &Hosts, kind: &'static str, undo: &'static str) {
    let d = Dir::new();
    let log = d.join("log");
    let mut cmd = fanout_cmd();
    cmd.current_dir(d.path())
        .args([
            "--ssh",
            &h.ssh(),
            "-S",
            "2/h1,2/h2,2/h3",
            "--joblog",
            log.to_str().unwrap(),
        ])
        .arg("sleep 0.3; echo {} $(hostname)")
        .arg(":::")
        .args((1..=30).map(|i| i.to_string()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    assert!(
        wait_until(BOUND, || hosts_of_joblog(&log)
            .iter()
            .any(|(_, host)| host == "h3")),
        "h3 ran a job"
    );
    let fault = Fault::new(kind, undo, 3);
    let out = output_bounded(child);
    drop(fault);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let seqs: Vec<u64> = hosts_of_joblog(&log).iter().map(|r| r.0).collect();
    assert_eq!(seqs.len(), 30, "each job once: {seqs:?}");
    assert_eq!(joblog_seqs(&log).len(), 30);
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    lines.dedup_by_key(|l| l.split(' ').next().unwrap().to_string());
    assert_eq!(lines.len(), 30, "each job's output once");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.starts_with("fanout: warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {stderr}");
    assert!(warnings[0].contains("ssh host h3 is down"), "{stderr}");
}

#[test]
fn a_host_whose_link_goes_down_mid_run_loses_no_job() {
    let Some(h) = Hosts::get("a_host_whose_link_goes_down_mid_run_loses_no_job") else {
        return;
    };
    survives(&h, "link-down", "link-up");
}

#[test]
fn a_host_whose_sshd_is_killed_mid_run_loses_no_job() {
    let Some(h) = Hosts::get("a_host_whose_sshd_is_killed_mid_run_loses_no_job") else {
        return;
    };
    survives(&h, "sshd-kill", "sshd-start");
}

/// Starts fanout with `args` whose jobs run `sleep SECS` on h1 and h2, and waits until `n`
/// of them run.
fn start_sleeps(h: &Hosts, d: &Dir, args: &[&str], secs: &str, n: usize) -> std::process::Child {
    let mut cmd = fanout_cmd();
    cmd.current_dir(d.path())
        .args(["--ssh", &h.ssh(), "-S", "2/h1,2/h2"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    assert!(
        wait_until(BOUND, || processes(&["sleep", secs]) >= n),
        "{n} remote sleeps running"
    );
    child
}

fn none_left(secs: &str) {
    assert!(
        wait_until(Duration::from_secs(10), || processes(&["sleep", secs]) == 0),
        "remote jobs left running: {}",
        processes(&["sleep", secs])
    );
}

#[test]
fn ctrl_c_timeout_halt_and_sigkill_leave_no_job_on_any_host() {
    let Some(h) = Hosts::get("ctrl_c_timeout_halt_and_sigkill_leave_no_job_on_any_host") else {
        return;
    };
    let d = Dir::new();
    // A real SIGINT: the jobs get it (not ignored, as sh would for a background job).
    let child = start_sleeps(
        &h,
        &d,
        &["sleep", ":::", "3141", "3141", "3141", "3141"],
        "3141",
        4,
    );
    signal(&child, nix::sys::signal::Signal::SIGINT);
    let status = wait_bounded(child, BOUND).expect("fanout ends after SIGINT");
    assert_eq!(status.code(), Some(130));
    none_left("3141");

    let out = h
        .fanout(&d)
        .args([
            "-S",
            "2/h1,2/h2",
            "--timeout",
            "1",
            "sleep",
            ":::",
            "3142",
            "3142",
            "3142",
        ])
        .assert()
        .code(3);
    drop(out);
    none_left("3142");

    let out = h
        .fanout(&d)
        .args([
            "-S",
            "2/h1,2/h2",
            "--halt",
            "now,fail=1",
            "sleep {}; exit 1",
            ":::",
            "1",
            "3143",
            "3143",
        ])
        .assert()
        .failure();
    assert!(stderr_of(&out).contains("halted"), "{}", stderr_of(&out));
    none_left("3143");

    // fanout killed outright: the remote wrappers see their control pipe close.
    let child = start_sleeps(&h, &d, &["sleep", ":::", "3144", "3144", "3144"], "3144", 3);
    signal(&child, nix::sys::signal::Signal::SIGKILL);
    let _ = wait_bounded(child, BOUND);
    none_left("3144");
}

#[test]
fn awkward_arguments_arrive_byte_exact() {
    let Some(h) = Hosts::get("awkward_arguments_arrive_byte_exact") else {
        return;
    };
    let d = Dir::new();
    let args: Vec<OsString> = vec![
        "a b".into(),
        "it's \"q\"".into(),
        "$(hostname) `id` ${HOME}".into(),
        "x; echo injected".into(),
        "two\nlines".into(),
        OsString::from_vec(b"caf\xe9 \\ * ~".to_vec()),
        "".into(),
    ];
    let run = |remote: bool| {
        let mut cmd = match remote {
            true => h.fanout(&d),
            false => d.fanout(),
        };
        if remote {
            cmd.args(["-S", "h1"]);
        }
        cmd.args(["-k", "printf", "[%s]\\n"]).arg(":::").args(&args);
        cmd.assert().success().get_output().stdout.clone()
    };
    let here = run(false);
    assert!(
        here.windows(6).any(|w| w == b"caf\xe9 \\"),
        "{}",
        String::from_utf8_lossy(&here)
    );
    assert_eq!(run(true), here);
    // A --shell command runs in the remote sh, with the job's variables.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "h1",
            "--shell",
            "-k",
            "echo $FANOUT_SEQ $PARALLEL_SEQ $FANOUT_SLOT {} | tr a-z A-Z",
            ":::",
            "x y",
        ])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "1 1 1 X Y\n");
}

#[test]
fn job_exit_codes_and_signals_come_through_and_are_not_host_failures() {
    let Some(h) = Hosts::get("job_exit_codes_and_signals_come_through_and_are_not_host_failures")
    else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    let out = h
        .fanout(&d)
        .args(["-S", "h1,h2", "--joblog", log.to_str().unwrap()])
        .arg("case {} in k) kill -TERM $$;; *) exit {};; esac")
        .args([":::", "0", "3", "255", "k"])
        .assert()
        .code(3);
    let stderr = stderr_of(&out);
    assert!(!stderr.contains("is down"), "{stderr}");
    let exit: std::collections::BTreeMap<u64, String> = joblog_rows(&log)
        .into_iter()
        .map(|r| (r[0].parse().unwrap(), r[6].clone()))
        .collect();
    let codes: Vec<&str> = exit.values().map(String::as_str).collect();
    assert_eq!(
        codes,
        ["0", "3", "255", "143"],
        "one line each, the job's own status"
    );
}

#[test]
fn env_copies_variables_and_slots_follow_j_per_host() {
    let Some(h) = Hosts::get("env_copies_variables_and_slots_follow_j_per_host") else {
        return;
    };
    let d = Dir::new();
    let out = h
        .fanout(&d)
        .env("MYVAR", "a b$'")
        .args([
            "-S",
            "h1",
            "--env",
            "MYVAR",
            "echo \"$MYVAR\" ${OTHER:-unset}",
            ":::",
            "1",
        ])
        .env("OTHER", "not copied")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "a b$' unset 1\n");
    let out = h
        .fanout(&d)
        .args(["-v", "-j", "3", "-S", "h1,h2,1/h3", "true", ":::", "1"])
        .assert()
        .success();
    assert!(stderr_of(&out).contains("slots=7"), "{}", stderr_of(&out));
}

#[test]
fn slf_with_comments_prefixes_and_this_machine() {
    let Some(h) = Hosts::get("slf_with_comments_prefixes_and_this_machine") else {
        return;
    };
    let d = Dir::new();
    let slf = d.write("hosts", "# staging hosts\n2/h1\n\n  1/:  \n# the end\n");
    let log = d.join("log");
    let out = h
        .fanout(&d)
        .args([
            "--slf",
            slf.to_str().unwrap(),
            "--joblog",
            log.to_str().unwrap(),
        ])
        .arg("sleep 0.3; echo {} $(hostname)")
        .arg(":::")
        .args((1..=9).map(|i| i.to_string()))
        .assert()
        .success();
    let here = String::from_utf8(
        std::process::Command::new("hostname")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let ran: std::collections::BTreeMap<u64, String> = stdout_of(&out)
        .lines()
        .map(|l| {
            let (seq, host) = l.split_once(' ').unwrap();
            (seq.parse().unwrap(), host.to_string())
        })
        .collect();
    let logged = hosts_of_joblog(&log);
    assert_eq!(logged.len(), 9);
    for (seq, host) in &logged {
        match host.as_str() {
            "h1" => assert_eq!(ran[seq], "h1"),
            ":" => assert_eq!(ran[seq], here.trim()),
            other => panic!("unknown host {other}"),
        }
    }
    assert!(logged.iter().any(|(_, h)| h == ":") && logged.iter().any(|(_, h)| h == "h1"));
}

#[test]
fn bad_sshlogins_are_refused() {
    let d = Dir::new();
    for (args, want) in [
        (&["-S", "0/h1"][..], "at least 1 slot"),
        (&["-S", "h1:port"][..], "bad port"),
        (&["--ssh", "ssh -F x"][..], "--ssh needs hosts"),
        (&["--filter-hosts"][..], "--filter-hosts needs hosts"),
        (&["-S", "h1", "--env", "A-B"][..], "--env `A-B`"),
        (
            &["--slf", "/nonexistent/slf"][..],
            "cannot read the sshlogin file",
        ),
        (&["-S", "h1", "--slurm"][..], "give one of them"),
    ] {
        let out = d
            .fanout()
            .args(args)
            .args(["true", ":::", "1"])
            .assert()
            .code(255);
        assert!(
            stderr_of(&out).contains(want),
            "{args:?}: {}",
            stderr_of(&out)
        );
    }
    let out = d
        .fanout()
        .args(["-S", "h1", "--pipe", "wc", "-l"])
        .write_stdin("a\n")
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("--pipe cannot feed jobs on ssh hosts"));
}

#[test]
fn filter_hosts_leaves_out_a_host_that_does_not_answer() {
    let Some(h) = Hosts::get("filter_hosts_leaves_out_a_host_that_does_not_answer") else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    // Nothing listens on port 2 of h3: the login is refused at once.
    let out = h
        .fanout(&d)
        .args([
            "--filter-hosts",
            "-S",
            "1/h1,1/h2,1/h3:2",
            "--joblog",
            log.to_str().unwrap(),
            "echo",
            ":::",
        ])
        .args((1..=8).map(|i| i.to_string()))
        .assert()
        .success();
    let err = stderr_of(&out);
    let hosts: std::collections::BTreeSet<String> =
        hosts_of_joblog(&log).into_iter().map(|(_, h)| h).collect();
    assert_eq!(hosts_of_joblog(&log).len(), 8, "{err}");
    assert!(hosts.iter().all(|h| h == "h1" || h == "h2"), "{hosts:?}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("h3:2")).collect();
    assert_eq!(warnings.len(), 1, "one warning names the host: {err}");
    assert!(
        warnings[0].contains("--filter-hosts: leaving out ssh host h3:2"),
        "{err}"
    );
    // No host at all: a one-line error before any job, exit 255.
    let out = h
        .fanout(&d)
        .args(["--filter-hosts", "-S", "h3:2", "echo", ":::", "1"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(err.contains("--filter-hosts: no host answered"), "{err}");
    assert!(stdout_of(&out).is_empty());
}

impl Hosts {
    /// Every path in the test user's home on `host` but `.ssh`, sorted.
    fn home_files(&self, host: &str) -> Vec<String> {
        let out = std::process::Command::new("ssh")
            .args(["-F", self.config.to_str().unwrap(), "-o", "BatchMode=yes"])
            .arg(host)
            .arg("cd && find . -path ./.ssh -prune -o -print | sort")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh {host}: {out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| *l != "." && *l != "./.ssh")
            .map(str::to_owned)
            .collect()
    }

    /// Runs the sh `script` in the test user's home on `host`; its stdout.
    fn on(&self, host: &str, script: &str) -> String {
        let out = std::process::Command::new("ssh")
            .args(["-F", self.config.to_str().unwrap(), "-o", "BatchMode=yes"])
            .arg(host)
            .arg(script)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh {host} {script}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }
}

#[test]
fn trc_sends_the_input_returns_the_result_and_leaves_nothing() {
    let Some(h) = Hosts::get("trc_sends_the_input_returns_the_result_and_leaves_nothing") else {
        return;
    };
    let d = Dir::new();
    std::fs::create_dir_all(d.join("in")).unwrap();
    let names = ["in/a.txt", "in/b c.txt", "top.txt", "in/d.txt"];
    for (i, n) in names.iter().enumerate() {
        d.write(n, "x".repeat(i + 1));
    }
    let before = [h.home_files("h1"), h.home_files("h2")];
    let logins = (h.logins(1), h.logins(2));
    // The job reads the sent file on the host and writes its result beside it; the result
    // comes back to the same relative path here.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "1/h1,1/h2",
            "--trc",
            "{}.out",
            "--shell",
            "printf '%s %s\\n' $(wc -c < {}) $(hostname) > {}.out",
            ":::",
        ])
        .args(names)
        .assert()
        .success();
    let err = stderr_of(&out);
    let mut hosts = std::collections::BTreeSet::new();
    for (i, n) in names.iter().enumerate() {
        let back = std::fs::read_to_string(d.join(format!("{n}.out")))
            .unwrap_or_else(|e| panic!("{n}.out did not come back ({e}): {err}"));
        let (count, host) = back.trim().split_once(' ').unwrap();
        assert_eq!(count, (i + 1).to_string(), "{n}: {back}");
        hosts.insert(host.to_string());
    }
    assert_eq!(hosts.len(), 2, "both hosts ran jobs: {hosts:?}");
    // rsync went over each host's ControlMaster: one login per host for the whole run.
    assert_eq!((h.logins(1), h.logins(2)), (logins.0 + 1, logins.1 + 1));
    // Sent files, results and the directories made for them are gone from both hosts.
    assert_eq!([h.home_files("h1"), h.home_files("h2")], before, "{err}");
}

#[test]
fn basefile_is_sent_once_per_host_and_cleaned_up() {
    let Some(h) = Hosts::get("basefile_is_sent_once_per_host_and_cleaned_up") else {
        return;
    };
    let d = Dir::new();
    std::fs::create_dir_all(d.join("base")).unwrap();
    d.write("base/base.txt", "base\n");
    // Each job appends to the base file on its host: sent once, the n-th job on a host sees
    // n lines; sent before every job, each would see 1.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "1/h1,1/h2",
            "--bf",
            "base/base.txt",
            "--cleanup",
            "--shell",
            "echo $(hostname) $(wc -l < base/base.txt); echo more >> base/base.txt",
            ":::",
        ])
        .args((1..=8).map(|i| i.to_string()))
        .assert()
        .success();
    let stdout = stdout_of(&out);
    assert!(stderr_of(&out).is_empty(), "{}", stderr_of(&out));
    let mut seen: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for line in stdout.lines() {
        let (host, n) = line.split_once(' ').unwrap();
        seen.entry(host.into())
            .or_default()
            .push(n.parse().unwrap());
    }
    assert_eq!(seen.values().map(Vec::len).sum::<usize>(), 8, "{stdout}");
    for (host, mut counts) in seen {
        counts.sort();
        let want: Vec<usize> = (1..=counts.len()).collect();
        assert_eq!(counts, want, "{host}: base.txt sent more than once");
    }
    // --cleanup: gone from the hosts at the end; the local one is untouched.
    for host in ["h1", "h2"] {
        assert!(
            !h.home_files(host).iter().any(|f| f.contains("base")),
            "{host}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(d.join("base/base.txt")).unwrap(),
        "base\n"
    );
}

#[test]
fn workdir_dots_is_a_fresh_directory_per_job_removed_after_it() {
    let Some(h) = Hosts::get("workdir_dots_is_a_fresh_directory_per_job_removed_after_it") else {
        return;
    };
    let d = Dir::new();
    let before = h.home_files("h1");
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "2/h1",
            "--wd",
            "...",
            "--shell",
            "touch junk.{}; ls; pwd",
            ":::",
            "1",
            "2",
            "3",
        ])
        .assert()
        .success();
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    let dirs: std::collections::BTreeSet<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with('/'))
        .collect();
    assert_eq!(dirs.len(), 3, "a directory per job: {stdout}");
    assert!(
        dirs.iter().all(|d| d.contains("/.parallel/tmp/")),
        "{stdout}"
    );
    // Each job saw only its own file.
    for i in 1..=3 {
        assert!(lines.contains(&format!("junk.{i}").as_str()), "{stdout}");
    }
    assert_eq!(h.home_files("h1"), before, "removed after the jobs");
}

#[test]
fn relative_paths_keep_their_directories_under_the_workdir() {
    let Some(h) = Hosts::get("relative_paths_keep_their_directories_under_the_workdir") else {
        return;
    };
    let d = Dir::new();
    std::fs::create_dir_all(d.join("data/sub")).unwrap();
    d.write("data/sub/x.in", "hello\n");
    // `dir/file` arrives as `dir/file` under --workdir; the result returns to `dir/` here, and
    // `out/./REST` returns REST into `out/`.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "h1",
            "--wd",
            "work/{#}",
            "--tf",
            "{}",
            "--return",
            "{.}.up",
            "--return",
            "out/./{.}.len",
            "--shell",
            "pwd > {.}.up; tr a-z A-Z < {} >> {.}.up; wc -c < {} > {.}.len",
            ":::",
            "data/sub/x.in",
        ])
        .assert()
        .success();
    let err = stderr_of(&out);
    let up =
        std::fs::read_to_string(d.join("data/sub/x.up")).unwrap_or_else(|e| panic!("{e}: {err}"));
    let (pwd, text) = up.split_once('\n').unwrap();
    assert!(pwd.ends_with("/work/1"), "{up}");
    assert_eq!(text, "HELLO\n");
    let len = std::fs::read_to_string(d.join("out/data/sub/x.len"))
        .unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(len.trim(), "6");
    // Without --cleanup the files stay on the host, where the rules put them.
    let there = h.on(
        "h1",
        "cat work/1/data/sub/x.in; ls work/1/data/sub; rm -rf work",
    );
    assert_eq!(there, "hello\nx.in\nx.len\nx.up\n");
    // A file that cannot be sent fails its job (exit 255, the reason said), not the run's
    // other jobs.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "h1",
            "--tf",
            "{}",
            "cat",
            ":::",
            "data/sub/x.in",
            "missing",
        ])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(
        err.contains("--transferfile `missing` cannot be read here"),
        "{err}"
    );
    assert_eq!(stdout_of(&out), "hello\n");
    // A result that does not come back fails a job that exited 0, with a warning.
    let out = h
        .fanout(&d)
        .args(["-S", "h1", "--return", "{}.none", "true", ":::", "r"])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(err.contains("--return `r.none`"), "{err}");
    h.on("h1", "rm -rf data");
}

#[test]
fn file_options_without_ssh_hosts_run_the_jobs_here() {
    // GNU parallel's local jobs already have their files: the options change nothing here.
    let d = Dir::new();
    d.write("a", "1");
    let out = d
        .fanout()
        .args([
            "--trc",
            "{}.out",
            "--bf",
            "a",
            "--shell",
            "cat {} > {}.out",
            ":::",
            "a",
        ])
        .assert()
        .success();
    assert!(stdout_of(&out).is_empty());
    assert_eq!(std::fs::read_to_string(d.join("a.out")).unwrap(), "1");
    assert!(d.join("a").exists(), "--cleanup removes nothing here");
}

#[test]
fn a_timed_out_job_gets_no_return_but_its_cleanup() {
    let Some(h) = Hosts::get("a_timed_out_job_gets_no_return_but_its_cleanup") else {
        return;
    };
    let d = Dir::new();
    d.write("t.in", "x");
    let before = h.home_files("h1");
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "h1",
            "--timeout",
            "1",
            "--trc",
            "{}.out",
            "--shell",
            "echo partial > {}.out; sleep 30",
            ":::",
            "t.in",
        ])
        .assert()
        .code(1);
    let err = stderr_of(&out);
    assert!(
        !d.join("t.in.out").exists(),
        "a partial result came back: {err}"
    );
    assert!(!err.contains("--return"), "{err}");
    assert_eq!(h.home_files("h1"), before, "{err}");
}

#[test]
fn every_host_down_stops_the_run_with_255_and_runs_nothing_twice() {
    let Some(h) = Hosts::get("every_host_down_stops_the_run_with_255_and_runs_nothing_twice")
    else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    // Nothing listens on port 2: every login is refused at once. Before, the jobs failed one
    // after the other (each with 255), and three of one slot each could wait for each other
    // for ever.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "1/h1:2,1/h2:2,1/h3:2",
            "--joblog",
            log.to_str().unwrap(),
            "echo",
            ":::",
        ])
        .args((1..=20).map(|i| i.to_string()))
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(stdout_of(&out).is_empty());
    assert!(joblog_seqs(&log).is_empty(), "no job ran: {err}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("no host could start job"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(errors[0].contains("--resume runs them"), "{err}");
    // Then with the hosts up, --resume runs all of them, once each.
    let out = h
        .fanout(&d)
        .args(["-S", "h1,h2", "--joblog", log.to_str().unwrap(), "--resume"])
        .args(["echo", ":::"])
        .args((1..=20).map(|i| i.to_string()))
        .assert()
        .success();
    assert_eq!(stdout_of(&out).lines().count(), 20);
    assert_eq!(joblog_seqs(&log).len(), 20);
}

#[test]
fn retries_run_on_a_host_where_the_job_has_not_failed_yet() {
    let Some(h) = Hosts::get("retries_run_on_a_host_where_the_job_has_not_failed_yet") else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    // The job succeeds on h3 only: with three attempts, each on another host, every job
    // gets there (retried where it failed, it would fail three times on h1 or h2).
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "1/h1,1/h2,1/h3",
            "--retries",
            "3",
            "--joblog",
            log.to_str().unwrap(),
            "test \"$(hostname)\" = h3 && echo {} ok",
            ":::",
        ])
        .args((1..=6).map(|i| i.to_string()))
        .assert()
        .success();
    let rows = hosts_of_joblog(&log);
    assert_eq!(rows.len(), 6, "{}", stderr_of(&out));
    assert!(rows.iter().all(|(_, host)| host == "h3"), "{rows:?}");
    assert_eq!(stdout_of(&out).lines().count(), 6);
}

/// The (start, end) of each job of `log` on each host, in seconds.
fn intervals_by_host(log: &std::path::Path) -> std::collections::BTreeMap<String, Vec<(f64, f64)>> {
    let mut by_host: std::collections::BTreeMap<String, Vec<(f64, f64)>> = Default::default();
    for r in joblog_rows(log) {
        let start: f64 = r[2].trim().parse().unwrap();
        let run: f64 = r[3].trim().parse().unwrap();
        by_host
            .entry(r[1].clone())
            .or_default()
            .push((start, start + run));
    }
    by_host
}

fn overlap(a: &[(f64, f64)], b: &[(f64, f64)]) -> bool {
    a.iter().any(|x| {
        b.iter()
            .any(|y| x != y && x.0 < y.1 - 0.005 && y.0 < x.1 - 0.005)
    })
}

#[test]
fn nonall_runs_the_command_once_on_every_host_and_here() {
    let Some(h) = Hosts::get("nonall_runs_the_command_once_on_every_host_and_here") else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    let out = h
        .fanout(&d)
        .args(["--nonall", "-S", "h1,h2,h3,:", "--joblog"])
        .arg(&log)
        .arg("hostname")
        .assert()
        .success();
    let mut got: Vec<String> = stdout_of(&out).lines().map(String::from).collect();
    got.sort();
    let here = String::from_utf8(
        std::process::Command::new("hostname")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let mut want = vec![
        "h1".to_string(),
        "h2".into(),
        "h3".into(),
        here.trim().into(),
    ];
    want.sort();
    assert_eq!(got, want, "{}", stderr_of(&out));
    let mut hosts: Vec<String> = hosts_of_joblog(&log).into_iter().map(|r| r.1).collect();
    hosts.sort();
    assert_eq!(hosts, [":", "h1", "h2", "h3"]);
    // No input is read: stdin is not waited for, and input values are refused.
    let out = h
        .fanout(&d)
        .args(["--nonall", "-S", "h1", "echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("--nonall runs the command once per host and takes no input"));
}

#[test]
fn onall_runs_every_input_on_every_host_one_at_a_time_grouped_by_host() {
    let Some(h) = Hosts::get("onall_runs_every_input_on_every_host_one_at_a_time_grouped_by_host")
    else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    let out = h
        .fanout(&d)
        .args(["--onall", "-S", "4/h1,h2,h3", "--joblog"])
        .arg(&log)
        .args([
            "sleep 0.2; echo {} $(hostname); test {} != b",
            ":::",
            "a",
            "b",
            "c",
        ])
        .assert()
        .code(3);
    // Every input once on every host, each host's lines together, in input order, host
    // after host in -S order.
    assert_eq!(
        stdout_of(&out),
        "a h1\nb h1\nc h1\na h2\nb h2\nc h2\na h3\nb h3\nc h3\n",
        "{}",
        stderr_of(&out)
    );
    let by_host = intervals_by_host(&log);
    assert_eq!(by_host.len(), 3);
    for (host, jobs) in &by_host {
        assert_eq!(jobs.len(), 3, "{host}");
        // One job at a time on a host, even with 4 slots there.
        assert!(!overlap(jobs, jobs), "{host}: {jobs:?}");
    }
    // The hosts ran at the same time (all of them at once by default).
    assert!(overlap(&by_host["h1"], &by_host["h2"]), "{by_host:?}");
    // --tag names the host, as in GNU parallel.
    let out = h
        .fanout(&d)
        .args(["--onall", "--tag", "-S", "h1,h2", "echo", ":::", "x", "y"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "h1\tx\nh1\ty\nh2\tx\nh2\ty\n");
}

#[test]
fn onall_with_j_runs_that_many_hosts_at_once_and_resumes() {
    let Some(h) = Hosts::get("onall_with_j_runs_that_many_hosts_at_once_and_resumes") else {
        return;
    };
    let d = Dir::new();
    let log = d.join("log");
    h.fanout(&d)
        .args(["--onall", "-j", "1", "-S", "h1,h2,h3", "--joblog"])
        .arg(&log)
        .args(["sleep 0.1; echo {}", ":::", "a", "b"])
        .assert()
        .success();
    let by_host = intervals_by_host(&log);
    let all: Vec<(f64, f64)> = by_host.values().flatten().copied().collect();
    assert_eq!(all.len(), 6);
    assert!(!overlap(&all, &all), "one host at a time: {by_host:?}");
    // Each (host, input) job has its own number: a resume runs none again.
    assert_eq!(joblog_seqs(&log).len(), 6);
    let out = h
        .fanout(&d)
        .args(["--onall", "-S", "h1,h2,h3", "--resume", "--joblog"])
        .arg(&log)
        .args(["sleep 0.1; echo {}", ":::", "a", "b"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "");
    assert_eq!(joblog_rows(&log).len(), 6);
}
