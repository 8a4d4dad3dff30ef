//! Job slots: jobs run in parallel, never more at once than `-j`, each in a distinct slot;
//! the forms `-j` takes; and a hundred thousand jobs in one run.

use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn jobs_really_run_in_parallel() {
    // Every value is 0, appended: `sleep 0.2 0` sleeps 0.2 s.
    let args: Vec<&str> = vec!["0"; 100];
    let t = Instant::now();
    fanout()
        .args(["--no-summary", "-j", "50", "sleep", "0.2", ":::"])
        .args(&args)
        .assert()
        .success();
    // One after another this is 20 s; with 50 slots about 0.4 s.
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );
}

/// Each job records when it started and ended, and in which slot; returns (start, end, slot).
fn observed_intervals(slots: &str, jobs: usize) -> Vec<(u128, u128, u32)> {
    let dir = Dir::new();
    let log = dir.join("log");
    let job = dir.script(
        "job.sh",
        &format!(
            "echo \"$(date +%s%N) + $1\" >> {log}; sleep 0.05; echo \"$(date +%s%N) - $1\" >> {log}",
            log = log.display()
        ),
    );
    let args: Vec<String> = (0..jobs).map(|i| i.to_string()).collect();
    fanout()
        .args(["--no-summary", "-j", slots, s(&job), "{%}", ":::"])
        .args(&args)
        .assert()
        .success();
    let mut open: std::collections::HashMap<u32, u128> = Default::default();
    let mut intervals = Vec::new();
    let mut events: Vec<(u128, bool, u32)> = lines_of(&log)
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[1] == "+", f[2].parse().unwrap())
        })
        .collect();
    events.sort();
    for (t, start, slot) in events {
        if start {
            assert!(
                open.insert(slot, t).is_none(),
                "slot {slot} given to two running jobs"
            );
        } else {
            intervals.push((open.remove(&slot).unwrap(), t, slot));
        }
    }
    assert_eq!(intervals.len(), jobs);
    intervals
}

#[test]
fn never_more_running_than_the_slots_and_slots_are_distinct() {
    let intervals = observed_intervals("3", 30);
    let mut points: Vec<(u128, i32)> = Vec::new();
    for (s, e, slot) in &intervals {
        assert!((1..=3).contains(slot), "slot {slot} out of 1..=3");
        points.push((*s, 1));
        points.push((*e, -1));
    }
    points.sort();
    let (mut running, mut max) = (0, 0);
    for (_, d) in points {
        running += d;
        max = max.max(running);
    }
    assert!(max <= 3, "{max} jobs ran at once with -j 3");
    assert!(max >= 2, "jobs did not overlap at all with -j 3");
}

#[test]
fn slot_forms_are_accepted_and_bad_ones_rejected() {
    for j in ["2", "50%", "+1", "-1", "0"] {
        fanout()
            .args(["--no-summary", "-j", j, "true", ":::", "a"])
            .assert()
            .success();
    }
    for j in ["x", "-", "1.5", "%"] {
        let out = fanout()
            .args(["-j", j, "true", ":::", "a"])
            .assert()
            .code(255);
        let err = stderr_of(&out);
        assert!(err.contains("--jobs"), "{j}: {err}");
    }
}

#[test]
fn a_hundred_thousand_jobs_complete() {
    let input: String = (0..100_000).map(|_| "x\n").collect();
    fanout()
        .args(["--no-summary", "-j", "4", "true"])
        .write_stdin(input)
        .timeout(Duration::from_secs(600))
        .assert()
        .success();
}
