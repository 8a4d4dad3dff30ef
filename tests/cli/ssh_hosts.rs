//! How the jobs were spread over the places (`-S 2/h1,1/h2,:`): the text summary's line per
//! host, the JSON summary's and `run_finished`'s `hosts` (with the jobs a host could not
//! start, `lost`), and `job_finished`'s running `host_done`/`host_failed`, over the real ssh test hosts (a SKIP line each without them).
//! Which host runs which job is up to the scheduler, so the expected counts are read from
//! what the run itself recorded: the joblog's Host column, or the events' `host`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::hosts::Hosts;
use crate::util::{Dir, joblog_rows, json_lines, stderr_of};

/// The places in the order they are given on the command lines below.
const PLACES: [&str; 3] = ["h1", "h2", ":"];
/// Every job sleeps this long, so each adds at least this much to its host's busy time.
const JOB_MS: u64 = 200;

/// Per host from the joblog: (jobs, of which ok).
fn joblog_counts(log: &std::path::Path) -> BTreeMap<String, (u64, u64)> {
    let mut by_host = BTreeMap::new();
    for r in joblog_rows(log) {
        let e: &mut (u64, u64) = by_host.entry(r[1].clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(r[6] == "0" && r[7] == "0");
    }
    by_host
}

/// 16 jobs of which 3 and 7 fail, each sleeping [`JOB_MS`], over two hosts and this machine.
fn spread_run(
    h: &Hosts,
    d: &Dir,
    extra: &[&str],
) -> (assert_cmd::assert::Assert, BTreeMap<String, (u64, u64)>) {
    let log = d.join("log");
    let _ = std::fs::remove_file(&log);
    let out = h
        .fanout(d)
        .args(["-S", "2/h1,1/h2,:", "--joblog", log.to_str().unwrap()])
        .args(extra)
        .arg("sleep 0.2; case {} in 3|7) exit 2;; esac")
        .arg(":::")
        .args((1..=16).map(|i| i.to_string()))
        .assert()
        .code(2);
    let counts = joblog_counts(&log);
    assert_eq!(counts.values().map(|c| c.0).sum::<u64>(), 16, "{counts:?}");
    assert!(
        counts.keys().all(|k| PLACES.contains(&k.as_str())),
        "{counts:?}"
    );
    (out, counts)
}

#[test]
fn the_text_summary_has_a_line_per_host_as_the_joblog_has_them() {
    let Some(h) =
        Hosts::get("ssh_hosts::the_text_summary_has_a_line_per_host_as_the_joblog_has_them")
    else {
        return;
    };
    let d = Dir::new();
    let (out, counts) = spread_run(&h, &d, &["--summary", "text"]);
    let err = stderr_of(&out);
    let lines: Vec<&str> = err
        .lines()
        .skip_while(|l| !l.starts_with("fanout: "))
        .collect();
    assert!(
        lines[0].starts_with("fanout: 16 jobs: 14 ok, 2 failed in "),
        "{err}"
    );
    // In the -S order, names and counts aligned, worded like the first line.
    let width = counts
        .values()
        .map(|c| c.0)
        .max()
        .unwrap()
        .to_string()
        .len();
    for (i, host) in PLACES.iter().enumerate() {
        let (n, ok) = counts.get(*host).copied().unwrap_or_default();
        let want = format!(
            "  host {host:<2} {n:>width$} job{}: {ok} ok, {} failed, busy ",
            if n == 1 { "" } else { "s" },
            n - ok
        );
        assert!(lines[1 + i].starts_with(&want), "want {want:?} in\n{err}");
    }
    assert!(
        !lines[4].starts_with("  host "),
        "one line per place: {err}"
    );
    assert!(err.contains("\n  failed: job 3 (exit 2)"), "{err}");
}

#[test]
fn the_json_summary_has_each_hosts_counts_and_busy_time() {
    let Some(h) = Hosts::get("ssh_hosts::the_json_summary_has_each_hosts_counts_and_busy_time")
    else {
        return;
    };
    let d = Dir::new();
    let (out, counts) = spread_run(&h, &d, &["--summary", "json"]);
    let err = stderr_of(&out);
    let summary: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(summary["event"], "run_summary", "{err}");
    let hosts = summary["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, PLACES, "every given place, in the -S order: {err}");
    for h in hosts {
        let (n, ok) = counts
            .get(h["host"].as_str().unwrap())
            .copied()
            .unwrap_or_default();
        assert_eq!(h["done"], n, "{h}");
        assert_eq!(h["succeeded"], ok, "{h}");
        assert_eq!(h["failed"], n - ok, "{h}");
        assert_eq!(
            (&h["timed_out"], &h["cancelled"]),
            (&0.into(), &0.into()),
            "{h}"
        );
        let busy = h["busy_ms"].as_u64().unwrap();
        assert!(busy >= n * JOB_MS, "{n} jobs of {JOB_MS}ms: {h}");
    }
}

#[test]
fn job_finished_events_carry_their_hosts_running_tally_and_run_finished_the_spread() {
    let Some(h) = Hosts::get(
        "ssh_hosts::job_finished_events_carry_their_hosts_running_tally_and_run_finished_the_spread",
    ) else {
        return;
    };
    let d = Dir::new();
    // Job 5 runs past --timeout: a third outcome, counted apart from the failures.
    let out = h
        .fanout(&d)
        .args([
            "-S",
            "2/h1,1/h2,:",
            "--log-format",
            "json",
            "--summary",
            "json",
        ])
        .args(["--timeout", "4s"])
        .arg("sleep 0.2; case {} in 3|7) exit 2;; 5) sleep 30;; esac")
        .arg(":::")
        .args((1..=16).map(|i| i.to_string()))
        .assert()
        .code(3);
    let err = stderr_of(&out);
    let events = json_lines(&err);
    // (done, not ok, ok, failed, timed out) per host, from the events in the order logged.
    let mut seen: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    for e in events.iter().filter(|e| e["event"] == "job_finished") {
        let t = seen
            .entry(e["host"].as_str().unwrap().to_string())
            .or_default();
        let outcome = e["outcome"].as_str().unwrap();
        t[0] += 1;
        t[1] += u64::from(outcome != "success");
        match outcome {
            "success" => t[2] += 1,
            "timed_out" => t[4] += 1,
            _ => t[3] += 1,
        }
        assert_eq!(
            (&e["host_done"], &e["host_failed"]),
            (&t[0].into(), &t[1].into()),
            "this host's jobs so far, this one included: {e}"
        );
        if e["seq"] == 5 {
            assert_eq!(outcome, "timed_out", "{e}");
        }
    }
    assert_eq!(seen.values().map(|t| t[0]).sum::<u64>(), 16, "{err}");
    let finished = events
        .iter()
        .find(|e| e["event"] == "run_finished")
        .unwrap();
    let summary = events.iter().find(|e| e["event"] == "run_summary").unwrap();
    assert_eq!(finished["hosts"], summary["hosts"], "one set of counts");
    let hosts = finished["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, PLACES, "{finished}");
    for h in hosts {
        let t = seen
            .get(h["host"].as_str().unwrap())
            .copied()
            .unwrap_or_default();
        let got: Vec<u64> = ["done", "succeeded", "failed", "timed_out", "cancelled"]
            .iter()
            .map(|k| h[k].as_u64().unwrap())
            .collect();
        assert_eq!(got, [t[0], t[2], t[3], t[4], 0], "{h}");
    }
}

#[test]
fn a_host_that_ran_no_job_is_listed_with_zeros() {
    let Some(h) = Hosts::get("ssh_hosts::a_host_that_ran_no_job_is_listed_with_zeros") else {
        return;
    };
    let d = Dir::new();
    let out = h
        .fanout(&d)
        .args(["-S", "1/h1,1/h2", "--summary", "text", "echo", ":::", "x"])
        .assert()
        .success();
    let err = stderr_of(&out);
    let hosts: Vec<&str> = err.lines().filter(|l| l.starts_with("  host ")).collect();
    assert_eq!(hosts.len(), 2, "{err}");
    let ran: Vec<bool> = hosts
        .iter()
        .map(|l| l.contains(" 1 job: 1 ok, 0 failed"))
        .collect();
    let idle: Vec<bool> = hosts
        .iter()
        .map(|l| l.contains(" 0 jobs: 0 ok, 0 failed, busy 0ms"))
        .collect();
    assert_eq!(
        ran.iter().zip(&idle).filter(|(r, i)| **r != **i).count(),
        2,
        "one ran the job, the other none: {err}"
    );
    assert!(
        hosts[0].starts_with("  host h1 ") && hosts[1].starts_with("  host h2 "),
        "{err}"
    );
}

/// A run on this machine alone (no `-S`, or `-S :`) keeps its text summary as it was: no host
/// lines. Its JSON has the one place `:`.
#[test]
fn this_machine_alone_gets_no_host_lines_but_json_has_it() {
    let d = Dir::new();
    for extra in [&[][..], &["-S", ":"][..]] {
        let out = d
            .fanout()
            .args(extra)
            .args(["--summary", "text", "echo", ":::", "a", "b"])
            .assert()
            .success();
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert!(
            err.starts_with("fanout: 2 jobs: 2 ok, 0 failed in "),
            "{err}"
        );
    }
    let out = d
        .fanout()
        .args([
            "--log-format",
            "json",
            "--summary",
            "json",
            "echo",
            ":::",
            "a",
            "b",
        ])
        .assert()
        .success();
    let events = json_lines(&stderr_of(&out));
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "job_finished")
        .map(|e| &e["host_done"])
        .collect();
    assert_eq!(done, [&Value::from(1), &Value::from(2)]);
    let summary = events.last().unwrap();
    assert_eq!(summary["hosts"].as_array().unwrap().len(), 1, "{summary}");
    assert_eq!(summary["hosts"][0]["host"], ":");
    assert_eq!(summary["hosts"][0]["done"], 2);
}

/// A host that cannot be reached ends no job, but the jobs it could not start are counted as
/// its `lost`; they ran at the other host.
#[test]
fn jobs_a_host_could_not_start_are_its_lost() {
    let Some(h) = Hosts::get("ssh_hosts::jobs_a_host_could_not_start_are_its_lost") else {
        return;
    };
    let d = Dir::new();
    // Nothing listens on port 2 of h3: the login is refused at once.
    for mode in ["text", "json"] {
        let out = h
            .fanout(&d)
            .args(["-S", "1/h1,1/h3:2", "--summary", mode, "echo", ":::"])
            .args((1..=4).map(|i| i.to_string()))
            .assert()
            .success();
        let err = stderr_of(&out);
        if mode == "text" {
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("  host ")).collect();
            assert_eq!(lines.len(), 2, "{err}");
            assert!(
                lines[0].starts_with("  host h1   4 jobs: 4 ok, 0 failed, busy "),
                "{err}"
            );
            assert!(
                lines[1].starts_with("  host h3:2 0 jobs: 0 ok, 0 failed, "),
                "{err}"
            );
            assert!(lines[1].contains(" lost, busy 0ms"), "{err}");
            continue;
        }
        let summary: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
        let hosts = &summary["hosts"];
        assert_eq!(
            (&hosts[0]["host"], &hosts[0]["done"]),
            (&"h1".into(), &4.into()),
            "{summary}"
        );
        assert_eq!(hosts[0]["lost"], 0, "{summary}");
        assert_eq!(
            (&hosts[1]["host"], &hosts[1]["done"]),
            (&"h3:2".into(), &0.into()),
            "{summary}"
        );
        assert!(hosts[1]["lost"].as_u64().unwrap() >= 1, "{summary}");
    }
}
