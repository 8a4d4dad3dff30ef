//! GNU parallel's command lines for several arguments per job (`-N`, `-n`, `-X`, `-m`,
//! `--xargs`, `-L`, `-l`, `-s`), `{= perl expression =}`, `-I` and the `*replace` options,
//! `--plus` and `--rpl`: each run through fanout, and, where GNU parallel is installed, through
//! `parallel --will-cite` too, comparing stdout and exit code (skipped visibly without it).

use std::process::Command;

use crate::util::*;

fn gnu_parallel() -> bool {
    Command::new("parallel")
        .arg("--will-cite")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `args` through fanout (and GNU parallel when installed, in `dir`): same stdout and
/// exit code. Returns fanout's stdout.
fn same_as_gnu(dir: &Dir, args: &[&str]) -> String {
    compare(dir, args, true)
}

/// As [`same_as_gnu`], stdout only: GNU parallel counts jobs that `skip()` as failed (exit
/// code), fanout does not (README, "Differences from GNU parallel").
fn same_output_as_gnu(dir: &Dir, args: &[&str]) -> String {
    compare(dir, args, false)
}

fn compare(dir: &Dir, args: &[&str], codes: bool) -> String {
    let out = clean_env(&mut fanout_cmd())
        .current_dir(dir.path())
        .arg("-q")
        .args(args)
        .output()
        .expect("fanout runs");
    let ours = String::from_utf8_lossy(&out.stdout).into_owned();
    if !gnu_parallel() {
        eprintln!("SKIP comparing with GNU parallel (not installed): {args:?}");
        return ours;
    }
    let gnu = clean_env(&mut Command::new("parallel"))
        .current_dir(dir.path())
        .arg("--will-cite")
        .args(args)
        .output()
        .expect("GNU parallel runs");
    assert_eq!(
        ours,
        String::from_utf8_lossy(&gnu.stdout),
        "stdout differs from GNU parallel for {args:?}"
    );
    assert!(
        !codes || out.status.code() == gnu.status.code(),
        "exit code differs from GNU parallel for {args:?}"
    );
    ours
}

#[test]
fn gnu_log_rotation_example_keeps_every_file() {
    let dir = Dir::new();
    for i in 1..=9 {
        dir.write(&format!("log.{i}"), format!("{i}\n"));
    }
    fanout()
        .current_dir(dir.path())
        .args(["-j1", "mv", "log.{}", "log.{= $_++ =}"])
        .write_stdin("9\n8\n7\n6\n5\n4\n3\n2\n1\n")
        .assert()
        .success();
    for i in 2..=10 {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("log.{i}"))).unwrap(),
            format!("{}\n", i - 1),
            "log.{i} holds what log.{} held",
            i - 1
        );
    }
    assert!(!dir.join("log.1").exists());
}

#[test]
fn perl_expressions_as_gnu_parallel() {
    let dir = Dir::new();
    same_as_gnu(
        &dir,
        &[
            "-k",
            "echo",
            "{}",
            "+",
            "1",
            "is",
            "{= $_++ =}",
            ":::",
            "1",
            "9",
        ],
    );
    // Split over words by the shell, as in GNU's own example.
    let out = same_as_gnu(&dir, &["-k", "echo", "{=", "$_++", "=}", ":::", "1"]);
    assert_eq!(out, "2\n");
    same_as_gnu(
        &dir,
        &[
            "-k",
            "echo",
            "{= $_=$arg[1] =}",
            "{=2 $_.=\"x\" =}",
            ":::",
            "a",
            ":::",
            "b",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "echo",
            "job",
            "{#}",
            "of",
            "{= $_=total_jobs() =}",
            ":::",
            "a",
            "b",
            "c",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "-j1",
            "echo",
            "{= $_=seq().\"-\".slot() =}",
            ":::",
            "a",
            "b",
        ],
    );
    same_as_gnu(
        &dir,
        &["-k", "echo", "{= $_=$job->seq() =}", ":::", "a", "b"],
    );
    // uq(): the value is for the shell to read.
    let out = same_as_gnu(
        &dir,
        &["-k", "echo", "{= uq(); $_=\"x;echo y\" =}", ":::", "a"],
    );
    assert_eq!(out, "x\ny\n");
    // Q() quotes for the shell; the value is then quoted again, as in GNU parallel.
    same_as_gnu(&dir, &["-k", "echo", "{= $_=Q($_) =}", ":::", "a b"]);
}

#[test]
fn perl_globals_live_for_the_whole_run() {
    let out = run_stdout(&[
        "-k",
        "-j1",
        "echo",
        "{= $n++; $_=$n =}",
        ":::",
        "a",
        "b",
        "c",
    ]);
    assert_eq!(out, "1\n2\n3\n");
}

#[test]
fn skip_runs_nothing_for_that_job() {
    let dir = Dir::new();
    let log = dir.join("log");
    let out = dir
        .fanout()
        .args([
            "-k",
            "--joblog",
            s(&log),
            "echo",
            "{= $_ > 2 and skip() =}",
            "{#}",
        ])
        .args([":::", "1", "2", "3", "4"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "1 1\n2 2\n");
    assert_eq!(joblog_seqs(&log), [1, 2].into());
}

#[test]
fn a_bad_expression_or_a_missing_perl_fails_before_any_job() {
    let dir = Dir::new();
    let out = dir
        .fanout()
        .args(["touch", "ran.{= syntax error( =}", ":::", "a"])
        .assert()
        .code(255);
    assert!(
        stderr_of(&out).contains("cannot use"),
        "{}",
        stderr_of(&out)
    );
    let out = dir
        .fanout()
        .env("PATH", "/nonexistent")
        .args(["/usr/bin/touch", "ran.{= $_ =}", ":::", "a"])
        .assert()
        .code(255);
    assert!(
        stderr_of(&out).contains("perl is needed"),
        "{}",
        stderr_of(&out)
    );
    let out = dir
        .fanout()
        .args(["touch", "ran.{= $_", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("unclosed perl expression"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no job ran"
    );
}

#[test]
fn an_expression_that_dies_stops_the_run_without_running_the_job() {
    let dir = Dir::new();
    dir.fanout()
        .args([
            "-j1",
            "touch",
            "ran.{= die \"no\" if $_ eq \"b\" =}",
            ":::",
            "a",
            "b",
        ])
        .assert()
        .code(255);
    assert!(dir.join("ran.a").exists());
    assert!(!dir.join("ran.b").exists());
    assert!(!dir.join("ran.{= die \"no\" if $_ eq \"b\" =}").exists());
}

#[test]
fn several_arguments_per_job_as_gnu_parallel() {
    let dir = Dir::new();
    let ab = [":::", "a", "b", "c", "d", "e", "f", "g", "h"];
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend_from_slice(&ab);
        same_as_gnu(&dir, &all)
    };
    assert_eq!(
        run(&["-k", "-N2", "echo", "{1}-{2}"]),
        "a-b\nc-d\ne-f\ng-h\n"
    );
    assert_eq!(
        run(&["-k", "-N3", "echo", "{#}", "{}", "{-1}"]),
        "1 a b c c\n2 d e f f\n3 g h h\n"
    );
    run(&["-k", "-N0", "echo", "x"]);
    run(&["-k", "-n3", "echo", "p{}q"]);
    run(&["-k", "-N3", "echo", "p{}q"]);
    run(&["-k", "-j1", "-m", "-s", "13", "echo", "p{}q"]);
    run(&["-k", "-j1", "-X", "-s", "17", "echo", "p{}q"]);
    run(&["-k", "-j1", "--xargs", "-s", "12", "echo"]);
    // -m and -X spread the last arguments over the slots; --xargs does not.
    assert_eq!(run(&["-k", "-j2", "-m", "echo"]), "a b c d\ne f g h\n");
    run(&["-k", "-j3", "-X", "echo", "p{}q"]);
    assert_eq!(run(&["-k", "-j2", "--xargs", "echo"]), "a b c d e f g h\n");
    run(&["-k", "-L3", "echo"]);
    run(&["-k", "-l", "echo"]);
    run(&["-k", "--max-lines=2", "echo"]);
    same_as_gnu(
        &dir,
        &[
            "-k",
            "-N2",
            "echo",
            "{1}-{2}-{3}-{4}",
            ":::",
            "a",
            "b",
            ":::",
            "1",
            "2",
            "3",
        ],
    );
}

#[test]
fn max_lines_continues_a_line_that_ends_in_a_blank() {
    let out = fanout()
        .args(["-k", "-L1", "echo", "{1}."])
        .write_stdin("a b \nc\nd\n")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "a b c.\nd.\n");
}

#[test]
fn groups_count_as_jobs_in_the_joblog_and_resume() {
    let dir = Dir::new();
    let log = dir.join("log");
    let values = [":::", "a", "b", "c", "d", "e"];
    dir.fanout()
        .args(["-j1", "-N2", "--joblog", s(&log), "echo", "{#}:{}"])
        .args(values)
        .assert()
        .success();
    let rows = joblog_rows(&log);
    assert_eq!(rows.len(), 3);
    assert_eq!(joblog_row(&log, 3)[8], "echo 3:e");
    assert_eq!(
        joblog_row(&log, 1)[8],
        "echo 1:a 1:b",
        "-N repeats the word per value"
    );
    let out = dir
        .fanout()
        .args([
            "-k",
            "-N2",
            "--resume",
            "--joblog",
            s(&log),
            "echo",
            "{#}:{}",
        ])
        .args(values)
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "");
}

#[test]
fn fills_jobs_up_to_the_system_limit() {
    // 200,000 short values do not fit one command line: several jobs, every value once.
    let input: String = (0..200_000).map(|i| format!("{i}\n")).collect();
    let out = fanout()
        .args(["-j1", "-X", "echo"])
        .write_stdin(input.clone())
        .assert()
        .success();
    let text = stdout_of(&out);
    let lines = text.lines().count();
    assert!(lines > 1 && lines < 100, "{lines} jobs");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(words.len(), 200_000);
    assert_eq!(words[199_999], "199999");
    // In a shell the script is one string: at most 128 KiB.
    let out = fanout()
        .args(["-j1", "-m", "echo {} | wc -c"])
        .write_stdin(input)
        .assert()
        .success();
    for l in stdout_of(&out).lines() {
        let n: usize = l.trim().parse().unwrap();
        assert!(n < 128 * 1024, "{n}");
    }
}

#[test]
fn replace_options_rename_the_defaults() {
    let dir = Dir::new();
    same_as_gnu(&dir, &["-k", "-I", ",,", "echo", ",,", "{}", ":::", "a"]);
    same_as_gnu(&dir, &["-k", "-I", "{}", "echo", "{1}", ":::", "a"]);
    let out = same_as_gnu(
        &dir,
        &[
            "-k", "--er", "<e>", "--bnr", "<b>", "--dnr", "<d>", "--bner", "<be>", "echo", "<e>",
            "<b>", "<d>", "<be>", ":::", "x/y.z",
        ],
    );
    assert_eq!(out, "x/y y.z x y\n");
    same_as_gnu(
        &dir,
        &[
            "-k",
            "-j1",
            "--seqreplace",
            "##",
            "--slotreplace",
            "%%",
            "echo",
            "##",
            "%%",
            ":::",
            "a",
            "b",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--extensionreplace",
            "E",
            "--basenamereplace",
            "B",
            "--dirnamereplace",
            "D",
            "--basenameextensionreplace",
            "BE",
            "echo",
            "E",
            "B",
            "D",
            "BE",
            ":::",
            "a/b.c",
        ],
    );
}

#[test]
fn plus_table_as_gnu_parallel() {
    let dir = Dir::new();
    let out = same_as_gnu(
        &dir,
        &[
            "-k",
            "--plus",
            "echo",
            "{..}",
            "{+..}",
            "{...}",
            "{+/}",
            "{/..}",
            "{+.}",
            ":::",
            "a/b.c.d.e",
        ],
    );
    assert_eq!(out, "a/b.c d.e a/b a b.c e\n");
    same_as_gnu(
        &dir,
        &[
            "-k", "--plus", "echo", "{%.c}", "{#a}", "{:1}", "{:1:1}", "{/b/X}", "{//b/Y}", "{^a}",
            "{^^b}", "{,A}", "{%%.*}", "{##*.}", ":::", "a.b.c.b",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--plus",
            "echo",
            "{0#}",
            "{##}",
            "{:-empty}",
            ":::",
            "",
            "x",
            "3",
            "4",
            "5",
            "6",
            "7",
            "8",
            "9",
            "10",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k", "--plus", "echo", "{2%.gz}", "{1..}", ":::", "a.b.c", ":::", "f.gz",
        ],
    );
    same_output_as_gnu(
        &dir,
        &[
            "-k",
            "--plus",
            "echo",
            "{choose_k}",
            ":::",
            "a",
            "b",
            "c",
            ":::",
            "a",
            "b",
            "c",
        ],
    );
    same_output_as_gnu(
        &dir,
        &[
            "-k", "--plus", "echo", "{uniq}", ":::", "a", "b", ":::", "a", "b",
        ],
    );
    same_as_gnu(
        &dir,
        &["-k", "--plus", "-j1", "echo", "{slot}", ":::", "a", "b"],
    );
}

#[test]
fn rpl_defines_replacement_strings_with_groups_and_positions() {
    let dir = Dir::new();
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--rpl",
            "{odd} $_ = seq() % 2 ? \"odd\" : \"even\"",
            "echo",
            "{odd}",
            ":::",
            "a",
            "b",
            "c",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--rpl",
            "{%(.*?)} s/$$1//",
            "echo",
            "{%.tar.gz}",
            ":::",
            "my.tar.gz",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "-n3",
            "--rpl",
            "{/:%(.*?)} s:.*/(.*)$$1(\\.[^/]+)*$:$1:",
            "echo",
            "job",
            "{#}:",
            "{2}",
            "{2.}",
            "{3/:%_1}",
            ":::",
            "a/b.c",
            "c/d.e",
            "f/g_1.h.i",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--rpl",
            "{(.*?)/(.*?)} $_=\"$$2$_$$1\"",
            "echo",
            "{swap/these}",
            ":::",
            "-middle-",
        ],
    );
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--rpl",
            "{:} s:(\\.[^/]+)*$::",
            "echo",
            "{:}",
            "{2:}",
            ":::",
            "a.b.c",
            ":::",
            "d.e",
        ],
    );
    let out = fanout()
        .args(["--rpl", "{x}", "echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("has no perl expression"));
}

/// Runs `args` with `stdin` through fanout and GNU parallel (when installed): same stdout.
fn same_as_gnu_stdin(args: &[&str], stdin: &str) -> String {
    let ours = fanout()
        .arg("-q")
        .args(args)
        .write_stdin(stdin)
        .assert()
        .success();
    let ours = stdout_of(&ours);
    if !gnu_parallel() {
        eprintln!("SKIP comparing with GNU parallel (not installed): {args:?}");
        return ours;
    }
    let mut gnu = clean_env(&mut Command::new("parallel"))
        .arg("--will-cite")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("GNU parallel runs");
    use std::io::Write;
    gnu.stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let gnu = gnu.wait_with_output().unwrap();
    assert_eq!(ours, String::from_utf8_lossy(&gnu.stdout), "{args:?}");
    ours
}

#[test]
fn colsep_splits_values_into_columns() {
    let out = same_as_gnu_stdin(
        &["-k", "--colsep", ",", "echo", "[{1}]", "[{2}]", "[{}]"],
        " a , b \nc\n",
    );
    assert_eq!(out, "[a] [b] [a b]\n[c] [] [c]\n");
    same_as_gnu_stdin(
        &["-k", "--colsep", "-", "echo", "{4}", "{3}", "{2}", "{1}"],
        "a-b-c-d\n",
    );
    same_as_gnu_stdin(
        &["-k", "--colsep", " +", "-N2", "echo", "{4}", "{1}"],
        "a  b\nc d\n",
    );
    let dir = Dir::new();
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--colsep",
            ",",
            "echo",
            "{1}-{2}-{3}",
            ":::",
            "a,b",
            "c,d",
            ":::",
            "x,y",
        ],
    );
}

#[test]
fn header_names_the_columns() {
    let dir = Dir::new();
    let out = same_as_gnu(
        &dir,
        &[
            "-k", "--header", ":", "echo", "{a}", "{b}", ":::", "a", "1", "2", ":::", "b", "x",
        ],
    );
    assert_eq!(out, "1 x\n2 x\n");
    let out = same_as_gnu_stdin(
        &[
            "-k",
            "--header",
            ":",
            "--colsep",
            "\t",
            "echo",
            "{n1}-{n2}",
            "{1}",
            "{n1.}",
            "{=n2 s/v/w/ =}",
        ],
        "n1\tn2\nv1.x\tv2\n",
    );
    assert_eq!(out, "v1.x-v2 v1.x v1 w2\n");
    same_as_gnu_stdin(
        &["-k", "--header", "1", "--colsep", ",", "echo", "{h2}"],
        "h1,h2\nv1,v2\n",
    );
    let file = dir.write("names", "a\nv\n");
    same_as_gnu(
        &dir,
        &[
            "-k",
            "--header",
            "0",
            "echo",
            &format!("{{{}}}", s(&file)),
            "::::",
            s(&file),
        ],
    );
}

#[test]
fn csv_fields_are_unquoted_and_may_span_lines() {
    // GNU parallel needs perl's Text::CSV for --csv (not installed here): expected output is
    // what its documentation gives.
    let out = fanout()
        .args(["-k", "--csv", "echo", "[{1}]", "[{2}]", "[{3}]"])
        .write_stdin("x,\"a,b\",\"say \"\"hi\"\"\"\n1,\"two\nlines\",3\n")
        .assert()
        .success();
    assert_eq!(
        stdout_of(&out),
        "[x] [a,b] [say \"hi\"]\n[1] [two\nlines] [3]\n"
    );
    let out = fanout()
        .args(["-k", "--csv", "--colsep", ";", "echo", "{2}"])
        .write_stdin("a;b,c\n")
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "b,c\n");
    let out = fanout()
        .args(["--colsep", "(", "echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(
        stderr_of(&out).contains("--colsep `(`"),
        "{}",
        stderr_of(&out)
    );
}
