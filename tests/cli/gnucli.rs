//! GNU parallel's command lines as its users type them: the shell rule (a template with shell
//! syntax or a builtin runs in sh, as GNU parallel runs it; exported bash functions in bash),
//! GNU parallel's aliases and input options (-P, --lb, --dryrun, --link, -d, -r, -E, --trim,
//! --arg-sep, $PARALLEL, -q), --retries counting attempts, and refusals that say what to do.

use crate::util::*;

/// fanout's stdout and exit code for `args` (no summary), run in `dir`.
fn run_in(dir: &Dir, args: &[&str]) -> (String, i32) {
    let out = dir.fanout().arg("--no-summary").args(args).assert();
    let code = out.get_output().status.code().unwrap_or(-1);
    (stdout_of(&out), code)
}

fn run(args: &[&str]) -> (String, i32) {
    run_in(&Dir::new(), args)
}

#[test]
fn shell_syntax_in_any_word_runs_the_line_in_sh_as_gnu_parallel() {
    // The tutorial's --halt example: `echo {}\; exit {}` is two commands.
    let (out, code) = run(&[
        "-j1",
        "-k",
        "--halt",
        "now,fail=1",
        "echo",
        "{};",
        "exit",
        "{}",
    ]
    .iter()
    .copied()
    .chain([":::", "0", "3", "4"])
    .collect::<Vec<_>>());
    assert_eq!((out.as_str(), code), ("0\n3\n", 3));
    // `$VAR` is expanded by the shell, a value never is.
    let out = dir_with_var(&["-k", "echo", "$FANOUT_TEST_VAR", "{}", ":::", "$HOME"]);
    assert_eq!(out, "set $HOME\n");
    // The quoting idiom of the tutorial.
    let (out, _) = run(&[
        "-k",
        "perl",
        "-e",
        "'print \"@ARGV\\n\"'",
        ":::",
        "This",
        "works",
    ]);
    assert_eq!(out, "This\nworks\n");
    // With shell syntax in the line (`[`), a word with a space is split, as GNU parallel does.
    let (out, _) = run(&["-k", "printf", "[%s]", "a b", ":::", "x"]);
    assert_eq!(out, "[a][b][x]");
}

fn dir_with_var(args: &[&str]) -> String {
    let dir = Dir::new();
    let out = dir
        .fanout()
        .env("FANOUT_TEST_VAR", "set")
        .arg("--no-summary")
        .args(args)
        .assert()
        .success();
    stdout_of(&out)
}

#[test]
fn a_redirection_word_writes_the_file() {
    let dir = Dir::new();
    dir.write("in.txt", "hello\n");
    let (_, code) = run_in(&dir, &["cat", "{}", ">{.}.out", ":::", "in.txt"]);
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read_to_string(dir.join("in.out")).unwrap(),
        "hello\n"
    );
}

#[test]
fn builtins_run_in_the_shell_with_their_words_quoted() {
    let (out, code) = run(&["-k", "exit", ":::", "0", "3"]);
    assert_eq!((out.as_str(), code), ("", 1));
    let (out, code) = run(&["-k", "cd", "{}", "&&", "pwd", ":::", "/"]);
    assert_eq!((out.as_str(), code), ("/\n", 0));
    // Quoted: a value is one word even for a builtin.
    let dir = Dir::new();
    std::fs::create_dir(dir.join("a b")).unwrap();
    let out = dir
        .fanout()
        .args(["--no-summary", "--dry-run", "cd", "{}", ":::", "a b"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "cd 'a b'\n");
}

#[test]
fn an_exported_bash_function_runs_in_bash() {
    let out = std::process::Command::new("bash")
        .args([
            "-c",
            "f() { echo \"fn $1\"; }; export -f f; \"$0\" --no-summary -k f ::: a b",
        ])
        .arg(fanout_path())
        .env_remove("FANOUT_QUOTE")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fn a\nfn b\n");
    assert!(out.status.success());
}

#[test]
fn quote_keeps_every_word_one_argument() {
    let (out, _) = run(&["-q", "-k", "printf", "[%s]", "a b", "$X", ":::", "x"]);
    assert_eq!(out, "[a b][$X][x]");
    let (out, _) = run(&["--quote", "-k", "echo", "a|b", ":::", "x"]);
    assert_eq!(out, "a|b x\n");
}

#[test]
fn gnu_aliases_mean_what_they_mean_there() {
    let (out, _) = run(&["-P", "1", "echo", "{%}", ":::", "a", "b"]);
    assert_eq!(out, "1\n1\n");
    let (out, _) = run(&["--max-procs", "1", "echo", "{%}", ":::", "a"]);
    assert_eq!(out, "1\n");
    let (out, _) = run(&["--dryrun", "echo", "{}", ":::", "a"]);
    assert_eq!(out, "echo a\n");
    for lb in ["--lb", "--linebuffer"] {
        assert_eq!(run(&[lb, "echo", ":::", "a"]).0, "a\n");
    }
    for quiet in ["--will-cite", "--no-notice", "--silent", "--bar", "--eta"] {
        assert_eq!(
            run(&[quiet, "echo", ":::", "a"]),
            ("a\n".into(), 0),
            "{quiet}"
        );
    }
    let (out, code) = run(&[
        "-j1",
        "--halt-on-error",
        "2",
        "exit",
        "{}",
        ":::",
        "0",
        "5",
        "0",
    ]);
    assert_eq!((out.as_str(), code), ("", 5));
    let dir = Dir::new();
    run_in(&dir, &["--jl", "log", "--res", "out", "echo", ":::", "a"]);
    assert!(dir.join("log").exists() && dir.join("out").is_dir());
}

#[test]
fn link_wraps_the_shorter_sources() {
    let (out, _) = run(&[
        "-k", "--link", "echo", ":::", "A", "B", "C", "D", "E", ":::", "F", "G",
    ]);
    assert_eq!(out, "A F\nB G\nC F\nD G\nE F\n");
    let (out, _) = run(&["-k", "--xapply", "echo", ":::", "A", "B", ":::", "1", "2"]);
    assert_eq!(out, "A 1\nB 2\n");
}

#[test]
fn separators_delimiters_and_end_of_file() {
    let (out, _) = run(&["-k", "--arg-sep", ",,", "echo", ",,", "A", "B"]);
    assert_eq!(out, "A\nB\n");
    let dir = Dir::new();
    dir.write("f", "x\ny\n");
    let (out, _) = run_in(&dir, &["-k", "--arg-file-sep", "//", "echo", "//", "f"]);
    assert_eq!(out, "x\ny\n");
    dir.write("d", "a_b_c_");
    let (out, _) = run_in(&dir, &["-k", "-d", "_", "echo", "::::", "d"]);
    assert_eq!(out, "a\nb\nc\n");
    dir.write("z", "a\0b\0");
    let (out, _) = run_in(&dir, &["-k", "-d", "\\0", "echo", "::::", "z"]);
    assert_eq!(out, "a\nb\n");
    let (out, _) = run(&["-k", "-E", "stop", "echo", ":::", "A", "stop", "B"]);
    assert_eq!(out, "A\n");
    dir.write("e", "1\n\n  \n2\n");
    let (out, _) = run_in(&dir, &["-k", "-r", "echo", "::::", "e"]);
    assert_eq!(out, "1\n2\n");
    let (out, _) = run(&["-k", "--trim", "lr", "echo", "x{}x", ":::", " a "]);
    assert_eq!(out, "xax\n");
    let (out, _) = run(&["-k", "--trim", "l", "echo", "x{}x", ":::", " a "]);
    assert_eq!(out, "xa x\n");
    let out = fanout().args(["-d", "||", "echo"]).assert().code(255);
    assert!(stderr_of(&out).contains("not one character"));
}

#[test]
fn parallel_variable_gives_default_options() {
    let dir = Dir::new();
    let out = dir
        .fanout()
        .env("PARALLEL", "-k --tag")
        .args(["--no-summary", "echo", ":::", "a", "b"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "a\ta\nb\tb\n");
    // The command line and FANOUT_* win over $PARALLEL.
    let out = dir
        .fanout()
        .env("PARALLEL", "-j3 --tagstring x")
        .env("FANOUT_JOBS", "1")
        .args([
            "--no-summary",
            "--tagstring",
            "y",
            "echo",
            "{%}",
            ":::",
            "a",
            "b",
        ])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "y\t1\ny\t1\n");
    let out = dir
        .fanout()
        .env("PARALLEL", "-k echo")
        .args(["echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("$PARALLEL holds more than options"));
}

#[test]
fn retries_counts_every_attempt_as_gnu_parallel() {
    for (n, want) in [("0", 1), ("1", 1), ("3", 3)] {
        let dir = Dir::new();
        let (_, code) = run_in(
            &dir,
            &["--retries", n, "echo x >> tries; exit 1", ":::", "a"],
        );
        assert_eq!(code, 1);
        let tries = std::fs::read_to_string(dir.join("tries")).unwrap();
        assert_eq!(tries.lines().count(), want, "--retries {n}");
    }
}

#[test]
fn a_gnu_option_fanout_lacks_is_refused_with_what_to_do() {
    for (args, says) in [
        (
            &["-x", "echo"][..],
            "-x is not supported; fanout never splits",
        ),
        (
            &["--tmux", "echo"],
            "--tmux is not supported; fanout jobs get stdin from /dev/null",
        ),
        (
            &["--semaphore", "echo"],
            "--semaphore is not supported; fanout has no semaphore mode",
        ),
        (&["--hostgroups", "wc"], "--hostgroups is not supported;"),
    ] {
        let out = fanout().args(args).assert().code(255);
        let err = stderr_of(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("to pass"), "{err}");
    }
    // An unknown option gets clap's suggestion only for a likely typo.
    let err = stderr_of(&fanout().args(["--keep-ordr", "echo"]).assert().code(255));
    assert!(err.contains("'--keep-order'"), "{err}");
    let err = stderr_of(&fanout().args(["--unicorn", "echo"]).assert().code(255));
    assert!(!err.contains("similar"), "{err}");
    let err = stderr_of(&fanout().args(["-Z", "echo"]).assert().code(255));
    assert!(!err.contains("to pass"), "{err}");
}

#[test]
fn a_leading_linked_separator_has_nothing_to_link_to() {
    // GNU parallel: `::::+ a b` zips a and b; `:::+ x y ::: 1 2` is a plain product.
    let dir = Dir::new();
    dir.write("a", "A\nB\n");
    dir.write("b", "1\n2\n");
    let (out, code) = run_in(&dir, &["-k", "echo", "::::+", "a", "b"]);
    assert_eq!((out.as_str(), code), ("A 1\nB 2\n", 0));
    let (out, _) = run(&["-k", "echo", ":::+", "x", "y", ":::", "1"]);
    assert_eq!(out, "x 1\ny 1\n");
}

#[test]
fn the_joblog_writes_signals_as_gnu_parallel_and_plus_appends() {
    let dir = Dir::new();
    run_in(&dir, &["--joblog", "log", "echo", ":::", "a"]);
    // `+log`: the lines there are kept and nothing is skipped (seq 1 runs again).
    let (out, _) = run_in(&dir, &["--joblog", "+log", "echo", ":::", "b"]);
    assert_eq!(out, "b\n");
    // A job killed by a signal: Exitval 0, the signal in Signal (GNU parallel's columns).
    run_in(&dir, &["--joblog", "+log", "kill -9 $$", ":::", "c"]);
    let text = std::fs::read_to_string(dir.join("log")).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 4, "one header and three jobs: {text}");
    assert_eq!(rows[0][0], "Seq");
    let cols: Vec<(&str, &str, &str)> = rows[1..].iter().map(|r| (r[6], r[7], r[8])).collect();
    assert_eq!(
        cols,
        [
            ("0", "0", "echo a"),
            ("0", "0", "echo b"),
            ("0", "9", "kill -9 $$ c")
        ]
    );
}

#[test]
fn forms_fanout_lacks_are_refused_before_anything_runs() {
    let dir = Dir::new();
    let out = dir
        .fanout()
        .args(["--joblog", "-", "--resume", "touch", "ran", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("--joblog - writes the joblog to stdout"));
    assert!(!dir.join("-").exists() && !dir.join("ran").exists());
}

#[test]
fn halt_fail_percent_exits_with_the_percentage_that_failed() {
    // GNU parallel: `--halt soon,fail=50% 'exit {}' ::: 0 1 0` exits 34 (1 of 3, rounded up).
    let (_, code) = run(&[
        "-j1",
        "--halt",
        "soon,fail=50%",
        "exit {}",
        ":::",
        "0",
        "1",
        "0",
    ]);
    assert_eq!(code, 34);
    let (_, code) = run(&["-j1", "--halt", "soon,fail=50%", "exit {}", ":::", "0", "0"]);
    assert_eq!(code, 0);
}

#[test]
fn delay_spaces_out_the_job_starts() {
    let t0 = std::time::Instant::now();
    let (out, code) = run(&[
        "--delay",
        "0.3",
        "-j3",
        "-k",
        "date +%s.%N; : {}",
        ":::",
        "1",
        "2",
        "3",
    ]);
    assert_eq!(code, 0);
    // The third start is at least two delays after the first.
    assert!(t0.elapsed().as_secs_f64() >= 0.6, "{:?}", t0.elapsed());
    let t: Vec<f64> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(t.len(), 3, "{out}");
    for w in t.windows(2) {
        // Each job reads the clock a little after its start: allow for that, not for 0.3 s.
        assert!(
            w[1] - w[0] >= 0.15,
            "starts {t:?} are much closer than --delay 0.3"
        );
    }
}

#[test]
fn shuf_runs_every_job_once_in_some_order() {
    let values: Vec<String> = (1..=40).map(|i| i.to_string()).collect();
    let mut args = vec!["--shuf", "-j1", "echo", ":::"];
    args.extend(values.iter().map(String::as_str));
    let (out, code) = run(&args);
    assert_eq!(code, 0);
    let got: Vec<&str> = out.lines().collect();
    let mut sorted: Vec<u32> = got.iter().map(|v| v.parse().unwrap()).collect();
    sorted.sort();
    assert_eq!(sorted, (1..=40).collect::<Vec<_>>());
    // 40! orders: the input order comes out with probability 1/40!.
    assert_ne!(got, values.iter().map(String::as_str).collect::<Vec<_>>());
    let err = stderr_of(
        &fanout()
            .args(["--shuf", "--resume", "--joblog", "x", "echo", ":::", "a"])
            .assert()
            .code(255),
    );
    assert!(err.contains("--shuf"), "{err}");
}

#[test]
fn joblog_dash_writes_the_joblog_on_stdout() {
    let dir = Dir::new();
    let (out, code) = run_in(
        &dir,
        &["-j1", "-k", "--joblog", "-", "echo", ":::", "a", "b"],
    );
    assert_eq!(code, 0);
    assert!(!dir.join("-").exists(), "no file named -");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Seq\tHost\t"), "{out}");
    // Each job's line is written the moment it ends, before its output is printed.
    let rows: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| match l.split('\t').collect::<Vec<_>>().as_slice() {
            [seq, .., cmd] => (*seq, *cmd),
            _ => ("", *l),
        })
        .collect();
    // (Job 2 may end before job 1's output is printed: only each job's own order is fixed.)
    let at = |row: (&str, &str)| {
        rows.iter()
            .position(|r| *r == row)
            .unwrap_or_else(|| panic!("{row:?} in {out}"))
    };
    assert_eq!(rows.len(), 4, "{out}");
    assert!(at(("1", "echo a")) < at(("", "a")), "{out}");
    assert!(at(("2", "echo b")) < at(("", "b")), "{out}");
    assert!(at(("", "a")) < at(("", "b")), "{out}");
}

#[test]
fn retry_failed_reruns_the_joblogs_failed_commands() {
    let dir = Dir::new();
    let (_, code) = run_in(
        &dir,
        &["-j1", "--joblog", "log", "exit", ":::", "1", "0", "2"],
    );
    assert_eq!(code, 2);
    // No command or sources: the joblog's commands, the succeeded job skipped (GNU parallel).
    let (_, code) = run_in(&dir, &["-j1", "--retry-failed", "--joblog", "log"]);
    assert_eq!(code, 2);
    let text = std::fs::read_to_string(dir.join("log")).unwrap();
    let rows: Vec<(&str, &str)> = text
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0], f[8])
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("1", "exit 1"),
            ("2", "exit 0"),
            ("3", "exit 2"),
            ("1", "exit 1"),
            ("3", "exit 2")
        ]
    );
    let err = stderr_of(&fanout().args(["--retry-failed"]).assert().code(255));
    assert!(err.contains("add --joblog FILE"), "{err}");
}

#[test]
fn timeout_percent_is_of_the_median_runtime_of_the_jobs_that_succeeded() {
    // -j1: job 1 succeeds in 0.5 s, so the limit is 1.5 s; the 30 s job is ended at it.
    let t0 = std::time::Instant::now();
    let (out, code) = run(&[
        "-j1",
        "-k",
        "--timeout",
        "300%",
        "sleep {}; echo {}",
        ":::",
        "0.5",
        "0.5",
        "0.5",
        "30",
    ]);
    assert_eq!((out.as_str(), code), ("0.5\n0.5\n0.5\n", 1));
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t0.elapsed()
    );
    let err = stderr_of(
        &fanout()
            .args(["--timeout", "0%", "true"])
            .assert()
            .code(255),
    );
    assert!(err.contains("no percentage above zero"), "{err}");
}

#[test]
fn nice_runs_the_jobs_at_that_niceness() {
    let base: i32 = String::from_utf8(std::process::Command::new("nice").output().unwrap().stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // `sh -c SCRIPT` runs directly, so the job's own `nice` prints its niceness.
    let (out, code) = run(&["--nice", "7", "sh", "-c", "nice", ":::", "x"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim().parse::<i32>().unwrap(), (base + 7).min(19));
    // A missing program is still fanout's own 127.
    let (_, code) = run(&["--nice", "7", "no-such-program-fanout", ":::", "x"]);
    assert_eq!(code, 1);
}

#[test]
fn files_saves_each_jobs_stdout_in_a_file_and_prints_its_name() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = fanout()
        .args(["--files", "-k", "--tag", "--tmpdir", s(&tmp)])
        .args(["echo out {}; echo err {} >&2", ":::", "a", "b", "c"])
        .assert()
        .success();
    let stdout = stdout_of(&out);
    let lines: Vec<(&str, &str)> = stdout
        .lines()
        .map(|l| l.split_once('\t').unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for ((tag, path), want) in lines.iter().zip(["a", "b", "c"]) {
        assert_eq!(*tag, want);
        let path = std::path::Path::new(path);
        assert_eq!(path.parent(), Some(tmp.as_path()));
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with("par") && name.ends_with(".par") && name.len() == 12,
            "{name}"
        );
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            format!("out {want}\n")
        );
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // stderr is printed as usual (GNU parallel 20221122 drops it).
    let err = stderr_of(&out);
    for want in ["a\terr a", "b\terr b", "c\terr c"] {
        assert!(err.contains(want), "{err}");
    }
    // Streaming output cannot go to a file whole.
    let out = fanout()
        .args(["--files", "--line-buffer", "echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("--files saves each job's whole stdout"));
}
