//! An `--slf` file edited while the run goes on, against the real staging sshds
//! (`scripts/test-hosts.sh up`, as in `ssh.rs`; without them every test prints a SKIP line and
//! returns): a host added to the file gets jobs from then on with its `N/` slots, a host
//! removed from it starts none after the change (its running job finishes), and a file that
//! turns bad changes nothing. The changes are seen from the joblog's Host and Starttime
//! columns; the file is looked at about once a second, so the bounds on time are loose.

use std::path::Path;
use std::time::SystemTime;

use crate::util::hosts::Hosts;
use crate::util::{BOUND, Dir, finish, joblog_rows, start, wait_until};

/// One job of the joblog: its seq, host, start and end (seconds since the epoch).
#[derive(Debug, Clone)]
struct Ran {
    seq: u64,
    host: String,
    start: f64,
    end: f64,
}

fn ran(log: &Path) -> Vec<Ran> {
    joblog_rows(log)
        .into_iter()
        .filter(|r| r.len() >= 9)
        .map(|r| {
            let start: f64 = r[2].parse().unwrap();
            Ran {
                seq: r[0].parse().unwrap(),
                host: r[1].clone(),
                start,
                end: start + r[3].parse::<f64>().unwrap(),
            }
        })
        .collect()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Replaces `path` with `text` at once (written beside it, then renamed), as the README
/// says to.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Starts `jobs` jobs of `sleep 0.3` over `--slf slf` in the background; when `ready` jobs are
/// in the joblog, `change` is called (it edits the file) and the time of the change is kept.
/// Returns the jobs as the joblog has them, the time of the change, and fanout's stderr.
fn run_with_change(
    h: &Hosts,
    d: &Dir,
    slf: &Path,
    extra: &[&str],
    jobs: u32,
    change: impl FnOnce(),
) -> (Vec<Ran>, f64, String) {
    let log = d.join("log");
    let ssh = h.ssh();
    let mut args = vec!["--ssh", &ssh, "--slf", slf.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.extend([
        "--joblog",
        log.to_str().unwrap(),
        "sleep 0.3; echo {}",
        ":::",
    ]);
    let seqs: Vec<String> = (1..=jobs).map(|i| i.to_string()).collect();
    args.extend(seqs.iter().map(String::as_str));
    let child = start(d.path(), &args);
    assert!(
        wait_until(BOUND, || joblog_rows(&log).len() >= 3),
        "three jobs end within {BOUND:?}"
    );
    let changed_at = now();
    change();
    let (status, _) = finish(child, BOUND);
    let stderr = std::fs::read_to_string(d.join("stderr")).unwrap();
    assert!(status.success(), "exit 0: {status:?}\n{stderr}");
    let ran = ran(&log);
    let mut seqs: Vec<u64> = ran.iter().map(|r| r.seq).collect();
    seqs.sort();
    assert_eq!(
        seqs,
        (1..=u64::from(jobs)).collect::<Vec<_>>(),
        "every job ran exactly once"
    );
    (ran, changed_at, stderr)
}

/// The most jobs that ran at once on `host` (ends and starts are rounded in the joblog: a
/// few milliseconds of overlap do not count).
fn most_at_once(ran: &[Ran], host: &str) -> usize {
    let on: Vec<&Ran> = ran.iter().filter(|r| r.host == host).collect();
    on.iter()
        .map(|a| {
            on.iter()
                .filter(|b| b.start <= a.start + 0.01 && b.end > a.start + 0.02)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_host_added_to_the_file_gets_jobs_with_its_slots() {
    let Some(h) = Hosts::get("ssh_slf::a_host_added_to_the_file_gets_jobs_with_its_slots") else {
        return;
    };
    let d = Dir::new();
    let slf = d.write("hosts", "# one host to begin with\n1/h1\n");
    let (ran, changed_at, stderr) = run_with_change(&h, &d, &slf, &[], 40, || {
        replace(&slf, "# h2 joins with two slots\n1/h1\n\n2/h2\n");
    });
    let on_h2: Vec<&Ran> = ran.iter().filter(|r| r.host == "h2").collect();
    assert!(on_h2.len() >= 5, "h2 ran jobs: {ran:?}\n{stderr}");
    assert!(
        on_h2.iter().all(|r| r.start >= changed_at),
        "h2 started nothing before the change: {ran:?}"
    );
    assert!(
        ran.iter().all(|r| r.host == "h1" || r.host == "h2"),
        "{ran:?}"
    );
    assert_eq!(most_at_once(&ran, "h2"), 2, "h2's 2/ slots: {ran:?}");
    assert_eq!(most_at_once(&ran, "h1"), 1, "h1's 1/ slot: {ran:?}");
}

#[test]
fn a_host_removed_from_the_file_starts_no_more_jobs() {
    let Some(h) = Hosts::get("ssh_slf::a_host_removed_from_the_file_starts_no_more_jobs") else {
        return;
    };
    let d = Dir::new();
    let slf = d.write("hosts", "h1\nh2\n");
    let (ran, changed_at, stderr) = run_with_change(&h, &d, &slf, &["-j1"], 40, || {
        replace(&slf, "# h1 is gone\nh2\n");
    });
    // Seen within about a second; a job placed just before that still starts.
    let settled = changed_at + 2.5;
    let late_h1: Vec<&Ran> = ran
        .iter()
        .filter(|r| r.host == "h1" && r.start > settled)
        .collect();
    assert!(
        late_h1.is_empty(),
        "h1 started jobs after its removal: {late_h1:?}\n{stderr}"
    );
    assert!(
        ran.iter().any(|r| r.host == "h1" && r.start < changed_at),
        "h1 ran jobs before: {ran:?}"
    );
    assert!(
        ran.iter()
            .filter(|r| r.host == "h2" && r.start > settled)
            .count()
            >= 3,
        "h2 went on: {ran:?}"
    );
}

#[test]
fn a_file_that_turns_bad_changes_nothing() {
    let Some(h) = Hosts::get("ssh_slf::a_file_that_turns_bad_changes_nothing") else {
        return;
    };
    let d = Dir::new();
    let slf = d.write("hosts", "1/h1\n");
    let (ran, _, stderr) = run_with_change(&h, &d, &slf, &[], 15, || {
        replace(&slf, "1/h1\n0/h2\n");
    });
    assert!(ran.iter().all(|r| r.host == "h1"), "{ran:?}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("--sshloginfile changed but is not used"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning: {stderr}");
    assert!(warnings[0].contains("line 2"), "{stderr}");
}

#[test]
fn with_filter_hosts_an_added_host_is_probed_before_it_gets_jobs() {
    let Some(h) =
        Hosts::get("ssh_slf::with_filter_hosts_an_added_host_is_probed_before_it_gets_jobs")
    else {
        return;
    };
    let d = Dir::new();
    let slf = d.write("hosts", "1/h1\n");
    // Nothing listens on port 2 of h3: its probe is refused at once.
    let (ran, _, stderr) = run_with_change(&h, &d, &slf, &["--filter-hosts"], 30, || {
        replace(&slf, "1/h1\n1/h3:2\n1/h2\n");
    });
    assert!(ran.iter().any(|r| r.host == "h2"), "h2 joined: {ran:?}");
    assert!(ran.iter().all(|r| r.host != "h3:2"), "{ran:?}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("h3:2")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("--filter-hosts: leaving out ssh host h3:2"),
        "{stderr}"
    );
}

#[test]
fn a_changed_slot_prefix_sets_the_hosts_slots_anew() {
    let Some(h) = Hosts::get("ssh_slf::a_changed_slot_prefix_sets_the_hosts_slots_anew") else {
        return;
    };
    let d = Dir::new();
    let slf = d.write("hosts", "1/h1\n");
    let (ran, changed_at, stderr) = run_with_change(&h, &d, &slf, &[], 40, || {
        replace(&slf, "# more room on h1\n3/h1\n");
    });
    let before: Vec<Ran> = ran
        .iter()
        .filter(|r| r.start < changed_at)
        .cloned()
        .collect();
    assert_eq!(most_at_once(&before, "h1"), 1, "1/h1 first: {ran:?}");
    assert_eq!(most_at_once(&ran, "h1"), 3, "then 3/h1: {ran:?}\n{stderr}");
}
