//! Configuration from the environment: `FANOUT_<OPTION>` for every option (switches take
//! true and false, an empty variable is unset, the command line wins, a bad value names its
//! variable) and `NO_COLOR`.

use crate::util::*;

#[test]
fn fanout_jobs_from_the_environment_sets_the_slots() {
    let out = fanout()
        .env("FANOUT_JOBS", "1")
        .args(["sh", "-c", "sleep 0.1; echo {%}", ":::", "a", "b", "c"])
        .assert()
        .success();
    assert_eq!(sorted_lines(&out.get_output().stdout), ["1", "1", "1"]);
}

#[test]
fn fanout_jobs_from_the_environment_runs_more_than_the_default() {
    // cpus+1 jobs that can only all succeed if they all run at once.
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()) + 1;
    let dir = Dir::new();
    let job = format!(
        "cd {}; touch {{}}; i=0; while [ $(ls | wc -l) -lt {n} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ $(ls | wc -l) -ge {n} ]",
        dir.path().display()
    );
    let args: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    fanout()
        .env("FANOUT_JOBS", n.to_string())
        .args(["sh", "-c", &job, ":::"])
        .args(&args)
        .assert()
        .success();
}

#[test]
fn the_command_line_beats_the_environment() {
    let out = fanout()
        .env("FANOUT_JOBS", "8")
        .args([
            "-j1",
            "sh",
            "-c",
            "sleep 0.2; echo {%}",
            ":::",
            "a",
            "b",
            "c",
        ])
        .assert()
        .success();
    assert_eq!(sorted_lines(&out.get_output().stdout), ["1", "1", "1"]);
}

#[test]
fn an_empty_variable_counts_as_unset() {
    let dir = Dir::new();
    fanout()
        .current_dir(dir.path())
        .env("FANOUT_JOBS", "")
        .env("FANOUT_JOBLOG", "")
        .env("FANOUT_RETRIES", "")
        .args(["echo", ":::", "a"])
        .assert()
        .success()
        .stdout("a\n");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no joblog"
    );
}

#[test]
fn the_joblog_and_results_json_cannot_be_one_file() {
    let dir = Dir::new();
    let both = dir.join("both");
    let out = fanout()
        .arg("--joblog")
        .arg(&both)
        .env("FANOUT_RESULTS_JSON", &both)
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("different paths"), "{err}");
    assert!(!both.exists());
}

/// Job 1 ends only after the joblog shows job 2 done, so job 2 always finishes first.
fn order_run(keep_order: Option<&str>) -> String {
    let dir = Dir::new();
    let log = dir.join("log");
    let job = format!(
        "if [ {{}} = 1 ]; then i=0; while ! grep -q '^2\t' {0} && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; fi; echo {{}}",
        log.display()
    );
    let mut cmd = fanout();
    if let Some(v) = keep_order {
        cmd.env("FANOUT_KEEP_ORDER", v);
    }
    let out = cmd
        .args(["-j2", "--joblog"])
        .arg(&log)
        .args(["sh", "-c", &job, ":::", "1", "2"])
        .assert()
        .success();
    stdout_of(&out)
}

#[test]
fn a_switch_from_the_environment_takes_true_and_false() {
    assert_eq!(order_run(None), "2\n1\n");
    for on in ["true", "1", "yes"] {
        assert_eq!(order_run(Some(on)), "1\n2\n", "FANOUT_KEEP_ORDER={on}");
    }
    for off in ["false", "0", "no", ""] {
        assert_eq!(order_run(Some(off)), "2\n1\n", "FANOUT_KEEP_ORDER={off}");
    }
    let out = fanout()
        .env("FANOUT_KEEP_ORDER", "maybe")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(
        err.contains("--keep-order") && err.contains("true or false"),
        "{err}"
    );
}

/// Runs a job that prints `start`, then waits (2 s at most) to see it in fanout's stdout:
/// it does at once when output passes through (`--ungroup`), never when it is grouped.
fn passes_through(env: &[(&str, &str)], flags: &[&str]) -> bool {
    let dir = Dir::new();
    let out = dir.join("out");
    let job = format!(
        "echo start; i=0; while ! grep -q start {0} && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done; grep -q start {0} && echo seen || echo unseen",
        out.display()
    );
    let child = fanout_cmd()
        .envs(env.iter().copied())
        .args(flags)
        .args(["sh", "-c", &job, ":::", "x"])
        .stdout(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let status = wait_bounded(child, BOUND).expect("fanout hung");
    assert!(status.success());
    match std::fs::read_to_string(&out).unwrap().as_str() {
        "start\nseen\n" => true,
        "start\nunseen\n" => false,
        other => panic!("unexpected output {other:?}"),
    }
}

#[test]
fn the_command_line_beats_an_overriding_option_from_the_environment() {
    assert!(passes_through(&[("FANOUT_UNGROUP", "1")], &[]));
    assert!(!passes_through(&[("FANOUT_UNGROUP", "1")], &["--group"]));
    assert!(!passes_through(&[], &[]));
}

#[test]
fn no_color_turns_colour_off_on_a_terminal() {
    let coloured = under_pty("--no-such-option");
    assert!(coloured.contains("no-such-option"), "{coloured}");
    assert!(coloured.contains('\x1b'), "colour on a terminal by default");
    let plain = under_pty_env("--no-such-option", &[("NO_COLOR", "1")]);
    assert!(plain.contains("no-such-option"), "{plain}");
    assert!(!plain.contains('\x1b'), "NO_COLOR=1: {plain:?}");
    // NO_COLOR is accepted by a real run too.
    fanout()
        .env("NO_COLOR", "1")
        .args(["echo", ":::", "a"])
        .assert()
        .success()
        .stdout("a\n");
}

/// A bad switch value from the environment names the variable the user has to fix.
#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let out = fanout()
        .env("FANOUT_KEEP_ORDER", "maybe")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("(set by FANOUT_KEEP_ORDER)"), "{err:?}");
}

/// A bad `FANOUT_JOBS` is named, as the other options' variables are.
#[test]
fn a_bad_jobs_variable_is_named() {
    let out = fanout()
        .env("FANOUT_JOBS", "x")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("(set by FANOUT_JOBS)"));
}
