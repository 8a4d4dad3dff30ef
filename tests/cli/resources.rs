//! Per-job resources: CPU time and peak memory from the kernel's accounting of each job's
//! process, in the JSON results, the JSON logs and (with -v) the summary's heaviest jobs.

use crate::util::*;

/// A job that holds about 60 MB and burns some CPU (perl is on every Debian machine).
const HEAVY: &str = "perl -e '$x = q(a) x 60_000_000; $s = 0; $s += $_ for 1 .. 2_000_000'";

fn results(dir: &Dir, extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let out = fanout()
        .current_dir(dir.path())
        .args(["-j", "2", "--results-json", "r.jsonl"])
        .args(extra)
        .arg("sh")
        .arg("-c")
        .arg("case {} in heavy) exec sh -c \"$0\" ;; *) true ;; esac")
        .arg(HEAVY)
        .args([":::", "heavy", "light"])
        .assert()
        .success();
    let text = std::fs::read_to_string(dir.join("r.jsonl")).unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, stderr_of(&out))
}

fn by_arg<'a>(lines: &'a [serde_json::Value], arg: &str) -> &'a serde_json::Value {
    lines.iter().find(|l| l["args"][0] == arg).unwrap()
}

#[test]
fn json_results_have_each_jobs_cpu_time_and_peak_memory() {
    let dir = Dir::new();
    let (lines, _) = results(&dir, &[]);
    let heavy = by_arg(&lines, "heavy");
    let light = by_arg(&lines, "light");
    let rss = |l: &serde_json::Value| l["max_rss_kib"].as_u64().expect("max_rss_kib");
    let cpu = |l: &serde_json::Value| {
        l["cpu_user_ms"].as_u64().expect("cpu_user_ms")
            + l["cpu_system_ms"].as_u64().expect("cpu_system_ms")
    };
    // 60 MB of string: at least 50 MiB peak; the light job is a few MiB.
    assert!(rss(heavy) > 50 * 1024, "{heavy}");
    assert!(rss(light) < rss(heavy) / 4, "{light}");
    assert!(cpu(heavy) >= 20, "{heavy}");
    assert!(cpu(light) <= cpu(heavy), "{light}");
}

#[test]
fn the_verbose_summary_names_the_heaviest_jobs_and_the_json_one_always_has_them() {
    let dir = Dir::new();
    let (_, err) = results(&dir, &["--summary", "text", "-v"]);
    let cpu_line = err
        .lines()
        .find(|l| l.contains("heaviest cpu: job"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(cpu_line.contains("heaviest cpu: job 1 "), "{err}");
    let mem_line = err
        .lines()
        .find(|l| l.contains("heaviest memory: job"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        mem_line.contains("job 1 peak") && mem_line.contains("MiB"),
        "{err}"
    );
    assert!(err.contains("  cpu: "), "{err}");
    // Without -v the text has no such lines.
    let (_, err) = results(&dir, &["--summary", "text", "--joblog", "jl"]);
    assert!(!err.contains("heaviest"), "{err}");
    // The JSON summary always has them.
    let (_, err) = results(&dir, &["--summary", "json"]);
    let summary: serde_json::Value = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "run_summary")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(summary["heaviest_memory"][0]["seq"], 1, "{summary}");
    assert_eq!(summary["heaviest_cpu"][0]["seq"], 1, "{summary}");
    assert!(summary["cpu_user_ms"].as_u64().is_some(), "{summary}");
}

#[test]
fn json_logs_carry_the_usage_of_each_finished_job() {
    let dir = Dir::new();
    let (_, err) = results(&dir, &["--log-format", "json", "-v"]);
    let finished: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "job_finished")
        .collect();
    assert_eq!(finished.len(), 2, "{err}");
    for f in &finished {
        assert!(f["max_rss_kib"].as_u64().is_some_and(|k| k > 0), "{f}");
        assert!(f["cpu_user_ms"].is_u64(), "{f}");
    }
}
