//! The differential test: every command line of tests/gnu_diff/cases.txt (GNU parallel's
//! tutorial and examples, and habits of its users) runs through `parallel --will-cite` and
//! through fanout, in the same fixture directory with the same stdin; stdout and the exit code
//! must agree for the cases marked `same`, and must differ for those marked `differs: REASON`
//! (the known differences: a case that starts to agree fails the test until it is marked
//! `same`, so the list stays exact). `flaky: REASON` cases depend on timing in GNU parallel or
//! fanout and are counted but never asserted. The case's directory is written `$DIR` in
//! stdout, so `pwd` compares.
//! `GNU_DIFF_REPORT=1` prints every case's result (scripts/gnu-diff.sh). Skipped, with a
//! `SKIP` line on stderr that a plain `cargo test` shows, when GNU parallel is not installed.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use crate::util::{clean_env, fanout_path};

const CASES: &str = include_str!("../gnu_diff/cases.txt");

/// The tutorial's files, and a few more, made in every case's directory.
const FIXTURES: &str = r#"
printf 'A\nB\nC\n' > abc-file
printf 'D\nE\nF\n' > def-file
printf 'A\0B\0C\0' > abc0-file
printf 'A_B_C_' > abc_-file
printf 'f1\tf2\nA\tB\nC\tD\n' > tsv-file.tsv
seq 8 > num8; seq 30 > num30; seq 128 > num128; seq 30000 > num30000
(echo %head1; echo %head2; seq 10) > num_%header
printf 'echo one\necho two\n' > jobs_to_run
touch a.txt b.txt c.log
mkdir -p dir/sub
echo hello | gzip > h1.gz; echo world | gzip > h2.gz
"#;

/// One line of the table.
#[derive(Debug)]
struct Case {
    line: usize,
    /// `None` for `same`; the reason for `differs: ...` or `flaky: ...`.
    differs: Option<String>,
    /// `flaky:`: not asserted either way.
    flaky: bool,
    origin: String,
    command: String,
}

fn parse(text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (differs, flaky, rest) = if let Some(r) = l.strip_prefix("same ") {
            (None, false, r)
        } else if let Some((flaky, r)) = l
            .strip_prefix("differs: ")
            .map(|r| (false, r))
            .or_else(|| l.strip_prefix("flaky: ").map(|r| (true, r)))
        {
            let open = r
                .find(" [")
                .unwrap_or_else(|| panic!("line {}: no [origin]", i + 1));
            (Some(r[..open].to_string()), flaky, &r[open + 1..])
        } else {
            panic!(
                "line {}: starts with none of `same`, `differs:`, `flaky:`: {l}",
                i + 1
            );
        };
        let rest = rest.trim_start();
        let close = rest
            .strip_prefix('[')
            .and_then(|r| r.find(']'))
            .unwrap_or_else(|| panic!("line {}: no [origin]", i + 1));
        cases.push(Case {
            line: i + 1,
            differs,
            flaky,
            origin: rest[1..close + 1].to_string(),
            command: rest[close + 2..].trim().to_string(),
        });
    }
    cases
}

/// What one run printed and how it ended.
#[derive(Debug, PartialEq)]
struct Outcome {
    stdout: String,
    code: Option<i32>,
}

/// Runs `command` in a fresh fixture directory under `root`, with `$P` the program.
fn run(root: &Path, name: &str, command: &str, program: &str) -> Outcome {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("the case directory can be made");
    let script = format!("{FIXTURES}\n{command}");
    let mut cmd = Command::new("timeout");
    clean_env(&mut cmd);
    cmd.args(["-k", "5", "60", "bash", "-c", &script])
        .current_dir(&dir)
        .env("P", program)
        .env_remove("PARALLEL")
        .env("HOME", root)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    let out = cmd.output().expect("bash runs");
    let dir = dir
        .to_str()
        .expect("the temporary directory's path is UTF-8");
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).replace(dir, "$DIR"),
        code: out.status.code(),
    }
}

fn have_gnu_parallel() -> bool {
    Command::new("parallel")
        .args(["--will-cite", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn gnu_parallel_command_lines_give_the_same_output() {
    let cases = parse(CASES);
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    if !have_gnu_parallel() {
        visible("SKIP gnu_diff: GNU parallel is not installed (apt-get install parallel)");
        return;
    }
    let report = std::env::var_os("GNU_DIFF_REPORT").is_some();
    let root = tempfile::tempdir().expect("a temporary directory");
    let fanout = fanout_path();
    let fanout = fanout.to_str().expect("the binary's path is UTF-8");
    // (case index, gnu, fanout), filled by a few threads: GNU parallel takes ~0.2 s to start.
    let results: Mutex<Vec<(usize, Outcome, Outcome)>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(case) = cases.get(i) else { break };
                    let gnu = run(
                        root.path(),
                        &format!("{i}-gnu"),
                        &case.command,
                        "parallel --will-cite",
                    );
                    let ours = run(root.path(), &format!("{i}-fanout"), &case.command, fanout);
                    results.lock().unwrap().push((i, gnu, ours));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let (mut agree, mut broken, mut now_same, mut flaky) = (0, Vec::new(), Vec::new(), 0);
    for (i, gnu, ours) in &results {
        let case = &cases[*i];
        let same = gnu == ours;
        agree += usize::from(same);
        let diff = || {
            format!(
                "line {} [{}] {}\n    GNU parallel: exit {:?}, stdout {:?}\n    fanout:       exit {:?}, stdout {:?}",
                case.line, case.origin, case.command, gnu.code, gnu.stdout, ours.code, ours.stdout
            )
        };
        match (&case.differs, same) {
            _ if case.flaky => flaky += 1,
            (None, false) => broken.push(diff()),
            (Some(_), true) => now_same.push(format!("line {}: {}", case.line, case.command)),
            _ => {}
        }
        if report {
            let mark = if same { "SAME" } else { "DIFF" };
            let why = case
                .differs
                .as_deref()
                .map(|r| format!("  ({r})"))
                .unwrap_or_default();
            println!(
                "{mark} line {} [{}] {}{why}",
                case.line, case.origin, case.command
            );
            if !same {
                println!(
                    "    GNU parallel: exit {:?}, stdout {:?}",
                    gnu.code, gnu.stdout
                );
                println!(
                    "    fanout:       exit {:?}, stdout {:?}",
                    ours.code, ours.stdout
                );
            }
        }
    }
    let total = results.len();
    let summary = format!(
        "gnu_diff: {agree} of {total} command lines give GNU parallel's stdout and exit code ({:.0}%); {} marked differs, {flaky} flaky",
        100.0 * agree as f64 / total as f64,
        cases
            .iter()
            .filter(|c| c.differs.is_some() && !c.flaky)
            .count()
    );
    if report {
        println!("{summary}");
    }
    visible(&summary);
    assert!(
        broken.is_empty(),
        "{} command line(s) marked `same` differ from GNU parallel:\n{}",
        broken.len(),
        broken.join("\n")
    );
    assert!(
        now_same.is_empty(),
        "{} command line(s) marked `differs` now agree with GNU parallel: mark them `same`\n{}",
        now_same.len(),
        now_same.join("\n")
    );
}

/// A line on stderr that the test harness does not capture (it captures only `eprintln!`), so
/// the skip and the pass rate show in a plain `cargo test` run.
fn visible(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn the_table_parses() {
    let cases = parse(CASES);
    assert!(
        cases.iter().all(|c| c.command.contains("$P")),
        "every case runs $P"
    );
    let c = parse("differs: why [man] $P x\nsame [tutorial] $P y\nflaky: t [habit] $P z");
    assert_eq!(c[0].differs.as_deref(), Some("why"));
    assert!(!c[0].flaky && c[2].flaky);
    assert_eq!(
        (c[1].origin.as_str(), c[1].command.as_str()),
        ("tutorial", "$P y")
    );
}
