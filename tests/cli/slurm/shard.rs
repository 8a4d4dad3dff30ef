//! `--shard K/N` and `--shard auto`: shards together run every job once, keep the global
//! sequence numbers, concatenate into a joblog `--resume` takes; and the default `-j` inside a
//! Slurm allocation.

use std::collections::BTreeSet;

use crate::util::*;

fn seqs_of(out: &str) -> BTreeSet<u64> {
    out.lines().map(|l| l.trim().parse().unwrap()).collect()
}

#[test]
fn three_shards_run_every_job_exactly_once() {
    let dir = Dir::new();
    let values: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    let mut all = Vec::new();
    for k in 1..=3 {
        let log = dir.join(format!("s{k}.log"));
        let out = run_stdout(
            &[
                "--shard",
                &format!("{k}/3"),
                "--joblog",
                s(&log),
                "echo",
                "{#}",
                ":::",
            ]
            .into_iter()
            .chain(values.iter().map(String::as_str))
            .collect::<Vec<_>>(),
        );
        let seqs = seqs_of(&out);
        // Global sequence numbers: shard k has k, k+3, ...
        let want: BTreeSet<u64> = (1..=30).filter(|q| q % 3 == k % 3).collect();
        assert_eq!(seqs, want, "shard {k}/3");
        assert_eq!(joblog_seqs(&log), want, "shard {k}/3's joblog");
        all.extend(seqs);
    }
    all.sort();
    assert_eq!(all, (1..=30).collect::<Vec<_>>());
    // The shards' joblogs concatenated (`cat`) resume the whole run: nothing left but job 31.
    let joined = dir.join("all.log");
    let text: String = (1..=3)
        .map(|k| std::fs::read_to_string(dir.join(format!("s{k}.log"))).unwrap())
        .collect();
    std::fs::write(&joined, text).unwrap();
    let out = fanout()
        .args([
            "--summary",
            "text",
            "--joblog",
            s(&joined),
            "--resume",
            "echo",
            "{#}",
            ":::",
        ])
        .args(&values)
        .arg("31")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "31\n");
    assert!(
        stderr_of(&out).contains("30 skipped"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_shard_resumes_its_own_jobs_only() {
    let dir = Dir::new();
    let log = dir.join("s2.log");
    let args = [
        "--shard",
        "2/3",
        "--joblog",
        s(&log),
        "sh",
        "-c",
        "exit $(({#} % 2))",
        ":::",
    ];
    let values: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    // Jobs 2, 5, 8, 11 run; 5 and 11 fail.
    fanout().args(args).args(&values).assert().code(2);
    let out = fanout()
        .args(["--resume-failed", "--tag"])
        .args(args)
        .args(&values)
        .assert()
        .code(2);
    let err = stderr_of(&out);
    assert!(err.contains("2 skipped"), "{err}");
    assert_eq!(
        joblog_seqs(&log),
        [2, 5, 8, 11].into(),
        "only shard 2's jobs, under their global numbers"
    );
}

#[test]
fn shard_auto_reads_a_slurm_array_and_an_indexed_job() {
    let values: Vec<String> = (1..=9).map(|i| i.to_string()).collect();
    // `--array=10-14:2`: ids 10, 12, 14; task 12 is shard 2 of 3.
    let out = fanout()
        .args([
            "--no-summary",
            "-v",
            "--shard",
            "auto",
            "echo",
            "{#}",
            ":::",
        ])
        .args(&values)
        .env("SLURM_ARRAY_TASK_ID", "12")
        .env("SLURM_ARRAY_TASK_MIN", "10")
        .env("SLURM_ARRAY_TASK_MAX", "14")
        .env("SLURM_ARRAY_TASK_STEP", "2")
        .env("SLURM_ARRAY_TASK_COUNT", "3")
        .assert()
        .success();
    assert_eq!(seqs_of(&stdout_of(&out)), [2, 5, 8].into());
    let err = stderr_of(&out);
    assert!(
        err.contains("shard=2/3") && err.contains("SLURM_ARRAY_TASK_ID=12"),
        "says which shard and from what: {err}"
    );
    let out = fanout()
        .args([
            "--no-summary",
            "-v",
            "--shard",
            "auto",
            "echo",
            "{#}",
            ":::",
        ])
        .args(&values)
        .env("JOB_COMPLETION_INDEX", "0")
        .env("JOB_COMPLETIONS", "4")
        .assert()
        .success();
    assert_eq!(seqs_of(&stdout_of(&out)), [1, 5, 9].into());
    assert!(stderr_of(&out).contains("JOB_COMPLETION_INDEX=0"));
    // An index without the count is refused, naming the variable to set.
    let out = fanout()
        .args(["--shard", "auto", "echo", ":::", "a"])
        .env("JOB_COMPLETION_INDEX", "0")
        .env_remove("JOB_COMPLETIONS")
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("JOB_COMPLETIONS"));
    // No array at all.
    let out = fanout()
        .args(["--shard", "auto", "echo", ":::", "a"])
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("found no job array"));
}

#[test]
fn a_shard_that_does_not_exist_is_a_clear_error() {
    for (bad, says) in [
        ("4/3", "does not exist"),
        ("0/3", "does not exist"),
        ("1/0", "at least 1"),
        ("half", "K/N"),
    ] {
        let out = fanout()
            .args(["--shard", bad, "echo", ":::", "a"])
            .assert()
            .code(255)
            .stdout("");
        let err = stderr_of(&out);
        assert!(
            err.contains("--shard") && err.contains(says) && err.lines().count() == 1,
            "{bad}: {err}"
        );
    }
}

#[test]
fn shards_keep_order_and_dry_run() {
    let out = run_stdout(&[
        "-k", "--shard", "1/4", "echo", ":::", "a", "b", "c", "d", "e",
    ]);
    assert_eq!(out, "a\ne\n", "-k does not wait for other shards' jobs");
    let out = run_stdout(&[
        "--dry-run",
        "--shard",
        "2/2",
        "echo",
        ":::",
        "a",
        "b",
        "c",
        "d",
    ]);
    assert_eq!(out, "echo b\necho d\n");
}

/// Inside an allocation (`SLURM_CPUS_ON_NODE`, `SLURM_CPUS_PER_TASK`) the default `-j` is no
/// more than it gives this node; `-j` still wins.
#[test]
fn slurm_cpus_cap_the_default_slots() {
    let slots_of = |env: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = fanout();
        cmd.args(["--no-summary"]).args(extra);
        cmd.args(["echo", "{%}", ":::", "1", "2", "3", "4", "5", "6"]);
        cmd.env_remove("SLURM_CPUS_ON_NODE")
            .env_remove("SLURM_CPUS_PER_TASK");
        for (k, v) in env {
            cmd.env(k, v);
        }
        seqs_of(&stdout_of(&cmd.assert().success()))
    };
    assert_eq!(slots_of(&[("SLURM_CPUS_ON_NODE", "1")], &[]), [1].into());
    assert_eq!(
        slots_of(
            &[("SLURM_CPUS_ON_NODE", "4"), ("SLURM_CPUS_PER_TASK", "1")],
            &[]
        ),
        [1].into()
    );
    assert_eq!(
        slots_of(&[("SLURM_CPUS_ON_NODE", "1")], &["-j", "3"]).len(),
        3,
        "-j wins"
    );
}
