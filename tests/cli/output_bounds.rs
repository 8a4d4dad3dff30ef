//! Output with bounds (issue 10, items 3, 8 and 10), staged for real: peak RSS of jobs
//! printing 256 MiB each in every output mode (GNU time's `%M`, else `/proc` VmHWM), a
//! `--line-buffer` output without newlines (quadratic before), a `--tmpdir` on a full tmpfs,
//! output printed once beside the results files, and a partial last line kept off the next
//! job's line.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// Each job's output in the memory test.
const BIG: u64 = 256 << 20;
/// The peak RSS fanout must stay under, in KiB.
const RSS_LIMIT_KB: u64 = 64 * 1024;
/// One run of the memory test (512 MiB through fanout; JSON results write as much again).
const BIG_BOUND: Duration = Duration::from_secs(180);

/// A job printing `n` bytes of `Q` and no newline (`--line-buffer`'s worst case; plain UTF-8,
/// so the JSON results are as long as the output).
fn q_job(n: &str) -> [String; 3] {
    [
        "sh".into(),
        "-c".into(),
        format!("head -c {n} /dev/zero | tr '\\0' Q"),
    ]
}

/// Counts the `Q` bytes and newlines of `r` to its end. A block of nothing but `Q` is
/// recognised with one `memcmp` (fast in the unoptimized test build); only the others are
/// looked at a byte at a time.
fn count(mut r: impl Read) -> (u64, u64) {
    const BLOCK: usize = 4096;
    let all_q = [b'Q'; BLOCK];
    let mut buf = vec![0u8; 1 << 20];
    let (mut q, mut nl) = (0, 0);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) | Err(_) => return (q, nl),
            Ok(n) => n,
        };
        for block in buf[..n].chunks(BLOCK) {
            if block == &all_q[..block.len()] {
                q += block.len() as u64;
                continue;
            }
            for &b in block {
                q += u64::from(b == b'Q');
                nl += u64::from(b == b'\n');
            }
        }
    }
}

/// Runs fanout with `args` under GNU time when it is installed (else sampling VmHWM in
/// /proc), stdout counted as it comes; returns its exit code, peak RSS in KiB, the `Q` bytes
/// and newlines it printed, and how long it took.
fn measured(dir: &Dir, args: &[String]) -> (i32, u64, (u64, u64), Duration) {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let rss_file = dir.join("rss");
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M", "-o"]).arg(&rss_file).arg(fanout_path());
        c
    } else {
        eprintln!("note: GNU time is missing (Debian package `time`): sampling /proc VmHWM");
        Command::new(fanout_path())
    };
    clean_env(&mut cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap());
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || count(stdout));
    // Without GNU time: the high-water mark of fanout itself (the child, or time's child).
    let pid = child.id();
    let mut hwm = 0u64;
    let done = wait_until(BIG_BOUND, || {
        if !gnu_time && let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let kb = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok());
            hwm = hwm.max(kb.unwrap_or(0));
        }
        child.try_wait().unwrap().is_some()
    });
    if !done {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(done, "fanout {args:?} did not end within {BIG_BOUND:?}");
    let took = t0.elapsed();
    let printed = reader.join().unwrap();
    let rss = if gnu_time {
        std::fs::read_to_string(&rss_file)
            .unwrap()
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("GNU time wrote the peak RSS")
    } else {
        hwm
    };
    (status.code().unwrap_or(-1), rss, printed, took)
}

#[test]
fn peak_rss_stays_under_64_mib_in_every_output_mode() {
    // Two jobs of 256 MiB at -j 2: held whole in memory before (1.9 GB of RSS for 1 GiB
    // each), and quadratic with --line-buffer (no newline at all).
    let dir = Dir::new();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let json = dir.join("results.jsonl");
    let mut report = Vec::new();
    for mode in ["--group", "-k", "--line-buffer", "-u"] {
        for results in [false, true] {
            let mut args: Vec<String> = ["--no-summary", "-j", "2", mode, "--tmpdir", s(&tmp)]
                .map(String::from)
                .into();
            if results {
                args.extend(["--results-json".into(), s(&json).into()]);
            }
            args.extend(q_job(&BIG.to_string()));
            args.extend([":::", "1", "2"].map(String::from));
            let (code, rss, (q, newlines), took) = measured(&dir, &args);
            let label = format!("{mode}{}", if results { " --results-json" } else { "" });
            report.push(format!("{label}: {} MiB in {took:.1?}", rss / 1024));
            let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap();
            assert_eq!(code, 0, "{label}: {stderr}");
            assert_eq!(q, 2 * BIG, "{label}: every byte printed once");
            if mode == "--line-buffer" {
                // Pieces of 64 KiB of the two jobs alternate, each on a line of its own.
                assert!(newlines <= 2 * BIG / (64 << 10) + 2, "{label}: {newlines}");
            } else {
                assert_eq!(newlines, 0, "{label}");
            }
            assert!(rss < RSS_LIMIT_KB, "{label}: peak RSS {rss} KiB");
            if results {
                let (q, newlines) = count(std::fs::File::open(&json).unwrap());
                // The output, and the `Q` of each job's command.
                assert_eq!((q, newlines), (2 * BIG + 2, 2), "{label}: results complete");
                std::fs::remove_file(&json).unwrap();
            }
            assert_eq!(
                std::fs::read_dir(&tmp).unwrap().count(),
                0,
                "{label}: temporary files have no name"
            );
        }
    }
    eprintln!("peak RSS: {}", report.join(", "));
}

#[test]
fn line_buffer_on_a_line_without_newline_is_linear() {
    // 64 MiB in one line took 48 s when every read searched the whole pending line.
    let dir = Dir::new();
    let mut args: Vec<String> = ["--no-summary", "--line-buffer"].map(String::from).into();
    args.extend(q_job("64M"));
    args.extend([":::", "1"].map(String::from));
    let (code, _, (q, _), took) = measured(&dir, &args);
    assert_eq!((code, q), (0, 64 << 20));
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

/// A tmpfs of `size` mounted on `path` for the test's life; `None` (with a note) where
/// mounting is not allowed (not root, no CAP_SYS_ADMIN).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("note: cannot mount a tmpfs (needs root): full --tmpdir test skipped");
        }
        ok.then(|| Tmpfs(path.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_tmpdir_stops_the_run_naming_it_and_resume_reruns_the_job() {
    let dir = Dir::new();
    let tiny = dir.join("tiny");
    let Some(_mounted) = Tmpfs::mount(&tiny, "2m") else {
        return;
    };
    let joblog = dir.join("joblog");
    let mut args: Vec<String> = ["--no-summary", "--tmpdir", s(&tiny), "--joblog", s(&joblog)]
        .map(String::from)
        .into();
    args.extend(q_job("8M"));
    args.extend([":::", "1"].map(String::from));
    let out = fanout().args(&args).assert().code(255);
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("the output of job 1 is incomplete")
            && stderr.contains(s(&tiny))
            && stderr.contains("No space left on device"),
        "{stderr}"
    );
    // What was buffered is printed (the 1 MiB in memory at least), not dropped in silence.
    let printed = out.get_output().stdout.len();
    assert!((1 << 20..8 << 20).contains(&printed), "{printed}");
    assert!(joblog_seqs(&joblog).is_empty(), "recorded as cancelled");
    // With room, --resume runs it again.
    let roomy = dir.join("roomy");
    std::fs::create_dir(&roomy).unwrap();
    args[2] = s(&roomy).into();
    args.insert(1, "--resume".into());
    let out = fanout().args(&args).assert().success();
    assert_eq!(out.get_output().stdout.len(), 8 << 20);
    assert_eq!(joblog_seqs(&joblog), [1].into());
}

#[test]
fn a_tmpdir_that_is_not_a_directory_is_a_setup_error() {
    let dir = Dir::new();
    let out = fanout()
        .args(["--tmpdir", s(&dir.join("missing")), "echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("--tmpdir"), "{}", stderr_of(&out));
}

#[test]
fn output_is_printed_once_beside_the_results_files() {
    // `big` prints 3 MiB more (spilled to a file, read back for printing and results).
    let job =
        "echo out-$0; echo err-$0 >&2; if [ $0 = big ]; then head -c 3M /dev/zero | tr '\\0' Q; fi";
    let values = ["a", "b", "big"];
    for mode in ["--group", "-k", "--line-buffer", "-u"] {
        for results in ["--results-json", "--results-by-seq"] {
            let dir = Dir::new();
            let target = dir.join("res");
            let out = fanout()
                .args(["--no-summary", "-j", "3", mode, results, s(&target)])
                .args(["sh", "-c", job, ":::"])
                .args(values)
                .assert()
                .success();
            let label = format!("{mode} {results}");
            let stdout = &out.get_output().stdout;
            let stderr = stderr_of(&out);
            for v in values {
                let once = |text: &str, line: String| text.matches(&line).count() == 1;
                let text = String::from_utf8_lossy(stdout);
                assert!(once(&text, format!("out-{v}\n")), "{label}: {text:.200}");
                assert!(once(&stderr, format!("err-{v}\n")), "{label}: {stderr}");
            }
            assert_eq!(count(&stdout[..]).0, 3 << 20, "{label}");
            // The results hold every job whole.
            for v in values {
                let want_out = match v {
                    "big" => [b"out-big\n".to_vec(), vec![b'Q'; 3 << 20]].concat(),
                    _ => format!("out-{v}\n").into_bytes(),
                };
                let (got_out, got_err) = if results == "--results-by-seq" {
                    let seq = values.iter().position(|x| *x == v).unwrap() + 1;
                    let job = target.join(seq.to_string());
                    (
                        std::fs::read(job.join("stdout")).unwrap(),
                        std::fs::read_to_string(job.join("stderr")).unwrap(),
                    )
                } else {
                    let text = std::fs::read_to_string(&target).unwrap();
                    let line = json_lines(&text)
                        .into_iter()
                        .find(|l| l["args_text"] == v)
                        .unwrap_or_else(|| panic!("{label}: no line for {v}"));
                    (
                        line["stdout"].as_str().unwrap().as_bytes().to_vec(),
                        line["stderr"].as_str().unwrap().to_owned(),
                    )
                };
                assert!(got_out == want_out, "{label}: stdout of {v}");
                assert_eq!(got_err, format!("err-{v}\n"), "{label}");
            }
        }
    }
}

#[test]
fn a_start_failure_is_reported_once_with_streamed_output() {
    for mode in ["--line-buffer", "-u"] {
        let out = fanout()
            .args(["--no-summary", mode, "no-such-program-fanout", ":::", "a"])
            .assert()
            .code(1);
        let stderr = stderr_of(&out);
        assert_eq!(stderr.matches("command not found").count(), 1, "{stderr}");
    }
}

#[test]
fn a_partial_last_line_is_ended_before_the_next_jobs_output_when_tagged() {
    // -j 1: job a prints `a` with no newline, then job b prints `b`.
    let run = |args: &[&str]| {
        let mut all = vec!["-j", "1"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["printf", "%s", ":::", "a", "b"]);
        run_stdout(&all)
    };
    assert_eq!(run(&["--tag"]), "a\ta\nb\tb", "one tag per line");
    assert_eq!(run(&["--tag", "-k"]), "a\ta\nb\tb");
    assert_eq!(run(&["--tagstring", "<{}>"]), "<a>\ta\n<b>\tb");
    assert_eq!(run(&["--tag", "-u"]), "a\ta\nb\tb");
    assert_eq!(run(&["--line-buffer"]), "a\nb", "one job per line");
    assert_eq!(run(&["--line-buffer", "--tag"]), "a\ta\nb\tb");
    // Grouped, untagged: byte for byte, as the jobs wrote it.
    assert_eq!(run(&[]), "ab");
    assert_eq!(run(&["-k"]), "ab");
    assert_eq!(run(&["-u"]), "ab");
}

#[test]
fn a_line_buffer_line_past_64_kib_is_split_but_never_shared() {
    // Job a prints 100,000 bytes of one line; once 64 KiB of it are printed, the test lets
    // job b print a line; then a ends its line. b's line must be a line of its own.
    let dir = Dir::new();
    let go = dir.join("go");
    let b_done = dir.join("b.done");
    let job = dir.script(
        "job.sh",
        &format!(
            "case $1 in
a) head -c 100000 /dev/zero | tr '\\0' Q; {wait_b}; echo tail ;;
b) {wait_go}; echo b-line; touch '{b_done}' ;;
esac",
            wait_b = wait_for_file_sh(&b_done),
            wait_go = wait_for_file_sh(&go),
            b_done = b_done.display(),
        ),
    );
    let child = start(
        dir.path(),
        &[
            "--no-summary",
            "--line-buffer",
            "-j",
            "2",
            s(&job),
            ":::",
            "a",
            "b",
        ],
    );
    let printed = wait_until(Duration::from_secs(30), || {
        std::fs::metadata(dir.join("stdout")).is_ok_and(|m| m.len() >= 64 << 10)
    });
    std::fs::write(&go, "").unwrap();
    let (status, _) = finish(child, BOUND);
    assert!(
        printed,
        "the first 64 KiB of the long line were not passed on"
    );
    assert!(status.success());
    let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"b-line"), "{:?}", &out[out.len() - 100..]);
    assert!(lines[0].len() >= 64 << 10 && lines[0].bytes().all(|b| b == b'Q'));
    for l in &lines {
        assert!(!(l.contains('Q') && l.contains("b-line")), "a shared line");
    }
    assert_eq!(out.matches('Q').count(), 100_000);
    assert!(out.ends_with("tail\n"));
}

#[test]
fn files_on_a_full_tmpdir_stops_the_run_naming_it() {
    let dir = Dir::new();
    let tiny = dir.join("tiny");
    let Some(_mounted) = Tmpfs::mount(&tiny, "1m") else {
        return;
    };
    // 600 KB each, one at a time: the first file fits, the second does not.
    let out = fanout()
        .args(["--no-summary", "-j1", "--files", "--tmpdir", s(&tiny)])
        .args(["head -c 600000 /dev/zero; true {}", ":::", "1", "2", "3"])
        .assert()
        .code(255);
    let err = stderr_of(&out);
    assert!(
        err.contains("--files: cannot save the output of job 2") && err.contains(s(&tiny)),
        "{err}"
    );
    // The first job's file is whole and named on stdout; the third job never ran.
    let names: Vec<String> = stdout_of(&out).lines().map(String::from).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert_eq!(std::fs::metadata(&names[0]).unwrap().len(), 600_000);
}
