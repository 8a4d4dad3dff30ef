//! `--pipe` and `--pipepart` (issue 9 item 2), run for real: blocks keep records whole and
//! every byte reaches exactly one job, `-k` keeps the blocks' order, `--recend`, `--recstart`
//! and `--regexp`, `--cat` and `--fifo` (their temporary files are gone afterwards),
//! `--pipepart`, `--roundrobin`, the joblog and `--resume` counting blocks, bounded memory
//! with a big input, refusals, and the same command lines through GNU parallel.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::*;

/// Lines of varied length: `i` repeated `i % 37` times, for `n` lines.
fn varied(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("{i}:{}\n", "z".repeat(i % 37)).into_bytes())
        .collect()
}

fn pipe_run(dir: &Dir, args: &[&str], input: &[u8]) -> assert_cmd::assert::Assert {
    dir.fanout()
        .arg("--no-summary")
        .args(args)
        .write_stdin(input.to_vec())
        .assert()
}

#[test]
fn blocks_keep_records_whole_and_every_byte_reaches_exactly_one_job() {
    let dir = Dir::new();
    let input = varied(8000);
    pipe_run(
        &dir,
        &[
            "-j",
            "3",
            "--pipe",
            "--block",
            "10k",
            "cat > out.$PARALLEL_SEQ",
        ],
        &input,
    )
    .success();
    let mut blocks = Vec::new();
    for seq in 1.. {
        match std::fs::read(dir.join(format!("out.{seq}"))) {
            Ok(b) => blocks.push(b),
            Err(_) => break,
        }
    }
    assert!(blocks.len() > 10, "{} blocks", blocks.len());
    assert_eq!(blocks.concat(), input, "the blocks in order are the input");
    for (i, b) in blocks.iter().enumerate() {
        assert!(b.ends_with(b"\n"), "a block ends with a whole record");
        assert!(b.len() <= 10_000, "10k is 10000 bytes: {}", b.len());
        if i + 1 < blocks.len() {
            assert!(
                b.len() > 9_900,
                "a block is filled up to its size: {}",
                b.len()
            );
        }
    }
}

#[test]
fn keep_order_prints_the_blocks_in_input_order() {
    let dir = Dir::new();
    let input = varied(5000);
    // Later blocks finish first; -k prints them in input order anyway.
    let out = pipe_run(
        &dir,
        &[
            "-k",
            "-j",
            "4",
            "--pipe",
            "--block",
            "5k",
            "sleep 0.$(( 4 - {#} % 5 )); cat",
        ],
        &input,
    )
    .success();
    assert_eq!(out.get_output().stdout, input);
}

#[test]
fn a_record_longer_than_the_block_is_one_block() {
    let dir = Dir::new();
    let input = [b"a\n".to_vec(), vec![b'x'; 5000], b"\nb\n".to_vec()].concat();
    let out = stdout_of(
        &pipe_run(
            &dir,
            &["-k", "--pipe", "--block", "100", "wc", "-c"],
            &input,
        )
        .success(),
    );
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["2", "5001", "2"]
    );
}

#[test]
fn recend_recstart_and_regexp() {
    let dir = Dir::new();
    let run = |args: &[&str], input: &[u8]| {
        let mut all = vec!["-k", "--pipe", "--block", "1"];
        all.extend_from_slice(args);
        all.push("cat; echo");
        stdout_of(&pipe_run(&dir, &all, input).success())
    };
    assert_eq!(
        run(&["--recend", "XX"], b"a1XXa2XXa3XX"),
        "a1XX\na2XX\na3XX\n"
    );
    assert_eq!(
        run(&["--recstart", "ST"], b"STa1STa2STa3"),
        "STa1\nSTa2\nSTa3\n"
    );
    assert_eq!(
        run(
            &["--recstart", "S", "--recend", "E\\n"],
            b"S1E\nS2E\nE\nS3E\n"
        ),
        "S1E\n\nS2E\nE\n\nS3E\n\n"
    );
    assert_eq!(
        run(&["--regexp", "--recend", ";+"], b"a1;;a2;a3;;"),
        "a1;;\na2;\na3;;\n"
    );
    assert_eq!(
        run(
            &["--regexp", "--recstart", ">[a-z]", "--recend", "\\n"],
            b">a\nAC\n>1\nGT\n>b\nTT\n"
        ),
        ">a\nAC\n>1\nGT\n\n>b\nTT\n\n"
    );
    // --recend '': no records, blocks of exactly the block size.
    let out = stdout_of(
        &pipe_run(
            &dir,
            &["-k", "--pipe", "--block", "4", "--recend", "", "cat; echo"],
            b"abcdefghij",
        )
        .success(),
    );
    assert_eq!(out, "abcd\nefgh\nij\n");
}

/// The files left in `dir`.
fn left_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn cat_puts_each_block_in_a_temporary_file_removed_after() {
    let dir = Dir::new();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = stdout_of(
        &pipe_run(
            &dir,
            &[
                "-k",
                "--tmpdir",
                s(&tmp),
                "--cat",
                "--block",
                "4",
                "cat {}; echo {}",
            ],
            b"1\n2\n3\n4\n",
        )
        .success(),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!((lines[0], lines[1]), ("1", "2"));
    assert!(lines[2].starts_with(s(&tmp)), "{out}");
    assert_eq!((lines[3], lines[4]), ("3", "4"));
    assert!(left_in(&tmp).is_empty(), "left behind: {:?}", left_in(&tmp));
    // Without {} the file's name is appended, as in GNU parallel.
    let out = stdout_of(
        &pipe_run(
            &dir,
            &["--tmpdir", s(&tmp), "--cat", "wc", "-l"],
            b"a\nb\nc\n",
        )
        .success(),
    );
    assert!(out.starts_with("3 "), "{out}");
    assert!(left_in(&tmp).is_empty());
}

#[test]
fn fifo_gives_each_block_through_a_fifo_removed_after() {
    let dir = Dir::new();
    let tmp = dir.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let input = varied(3000);
    let out = pipe_run(
        &dir,
        &[
            "-k",
            "-j",
            "2",
            "--tmpdir",
            s(&tmp),
            "--fifo",
            "--block",
            "20k",
            "test -p {} && cat {}",
        ],
        &input,
    )
    .success();
    assert_eq!(out.get_output().stdout, input);
    assert!(left_in(&tmp).is_empty(), "left behind: {:?}", left_in(&tmp));
    // A job that never opens its fifo is not waited for for ever, and the fifo goes too.
    pipe_run(
        &dir,
        &["--tmpdir", s(&tmp), "--fifo", "--block", "2", "true"],
        b"a\nb\nc\n",
    )
    .success();
    assert!(left_in(&tmp).is_empty(), "left behind: {:?}", left_in(&tmp));
}

#[test]
fn pipepart_cuts_a_file_into_ranges_each_job_reads() {
    let dir = Dir::new();
    let input = varied(20_000);
    let file = dir.write("in.txt", &input);
    let out = pipe_run(
        &dir,
        &[
            "-k",
            "-j",
            "3",
            "--pipepart",
            "-a",
            s(&file),
            "--block",
            "10k",
            "cat",
        ],
        b"",
    )
    .success();
    assert_eq!(out.get_output().stdout, input);
    let counts = stdout_of(
        &pipe_run(
            &dir,
            &[
                "-k",
                "--pipepart",
                "-a",
                s(&file),
                "--block",
                "10k",
                "wc",
                "-l",
            ],
            b"",
        )
        .success(),
    );
    let counts: Vec<usize> = counts.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert!(counts.len() > 20);
    assert_eq!(counts.iter().sum::<usize>(), 20_000);
    // :::: FILE works as -a FILE; --block -N gives N blocks per job slot.
    let out = stdout_of(
        &pipe_run(
            &dir,
            &[
                "-j",
                "2",
                "--pipepart",
                "--block",
                "-3",
                "wc",
                "-l",
                "::::",
                s(&file),
            ],
            b"",
        )
        .success(),
    );
    assert_eq!(out.lines().count(), 6, "{out}");
    assert_eq!(
        out.lines()
            .map(|l| l.trim().parse::<usize>().unwrap())
            .sum::<usize>(),
        20_000
    );
}

#[test]
fn roundrobin_starts_one_job_per_slot_and_shares_the_blocks() {
    let dir = Dir::new();
    let input = varied(20_000);
    let out = stdout_of(
        &pipe_run(
            &dir,
            &[
                "-j",
                "3",
                "--joblog",
                "jl",
                "--pipe",
                "--roundrobin",
                "--block",
                "10k",
                "wc",
                "-l",
            ],
            &input,
        )
        .success(),
    );
    let counts: Vec<usize> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(counts.len(), 3, "{out}");
    assert_eq!(counts.iter().sum::<usize>(), 20_000);
    assert_eq!(joblog_rows(&dir.join("jl")).len(), 3);
    // Fewer blocks than slots: only as many jobs as blocks; no input, no job.
    let out = stdout_of(
        &pipe_run(
            &dir,
            &["-j", "3", "--pipe", "--roundrobin", "wc", "-l"],
            b"a\nb\n",
        )
        .success(),
    );
    assert_eq!(out.trim(), "2");
    let out = stdout_of(&pipe_run(&dir, &["--pipe", "--roundrobin", "echo", "ran"], b"").success());
    assert_eq!(out, "");
}

#[test]
fn keep_order_roundrobin_gives_the_blocks_in_turn() {
    let dir = Dir::new();
    let input = (1..=30_000).map(|i| format!("{i}\n")).collect::<String>();
    let args = [
        "-k",
        "-j",
        "3",
        "--pipe",
        "--roundrobin",
        "--block",
        "10k",
        "cat > part.$PARALLEL_SEQ",
    ];
    pipe_run(&dir, &args, input.as_bytes()).success();
    // The blocks as --pipe cuts them: up to the last newline within 10000 bytes.
    let mut cut_blocks = Vec::new();
    let mut rest = input.as_bytes();
    while !rest.is_empty() {
        let cut = if rest.len() <= 10_000 {
            rest.len()
        } else {
            rest[..10_000].iter().rposition(|&b| b == b'\n').unwrap() + 1
        };
        cut_blocks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    // Block n goes to job n mod 3.
    for job in 0..3 {
        let got = std::fs::read(dir.join(format!("part.{}", job + 1))).unwrap();
        let want: Vec<u8> = cut_blocks
            .iter()
            .skip(job)
            .step_by(3)
            .flat_map(|b| b.iter().copied())
            .collect();
        assert_eq!(got, want, "job {}", job + 1);
    }
}

#[test]
fn the_joblog_seq_and_resume_count_blocks() {
    let dir = Dir::new();
    let out = stdout_of(
        &pipe_run(
            &dir,
            &[
                "-k",
                "--joblog",
                "jl",
                "--pipe",
                "--block",
                "1",
                "echo {#}:$(cat)",
            ],
            b"a\nb\n",
        )
        .success(),
    );
    assert_eq!(out, "1:a\n2:b\n");
    assert_eq!(joblog_seqs(&dir.join("jl")), [1, 2].into());
    // The same input and one more block: only the new block runs.
    let out = stdout_of(
        &pipe_run(
            &dir,
            &[
                "-k",
                "--joblog",
                "jl",
                "--resume",
                "--pipe",
                "--block",
                "1",
                "echo {#}:$(cat)",
            ],
            b"a\nb\nc\n",
        )
        .success(),
    );
    assert_eq!(out, "3:c\n");
    assert_eq!(joblog_seqs(&dir.join("jl")), [1, 2, 3].into());
}

#[test]
fn a_failed_block_counts_as_a_failed_job_and_plain_pipe_appends_nothing() {
    let dir = Dir::new();
    pipe_run(
        &dir,
        &["--pipe", "--block", "1", "grep", "-q", "b"],
        b"a\nb\nc\n",
    )
    .code(2);
    // {} is empty under --pipe (GNU parallel), and nothing is appended.
    let out = stdout_of(&pipe_run(&dir, &["--pipe", "echo", "x{}y"], b"a\n").success());
    assert_eq!(out, "xy\n");
    let out = stdout_of(&pipe_run(&dir, &["--pipe", "echo", "args:"], b"a\n").success());
    assert_eq!(out, "args:\n");
}

#[test]
fn a_job_that_reads_part_of_its_block_does_not_stall_the_run() {
    let dir = Dir::new();
    let input = varied(50_000);
    let out = stdout_of(
        &pipe_run(
            &dir,
            &["-k", "--pipe", "--block", "1M", "head", "-n", "1"],
            &input,
        )
        .success(),
    );
    assert!(out.starts_with("0:\n"), "{out}");
}

#[test]
fn memory_stays_bounded_with_a_big_input() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!(
            "SKIP memory_stays_bounded_with_a_big_input: GNU time (/usr/bin/time) is missing"
        );
        return;
    }
    let dir = Dir::new();
    let total: u64 = 300_000_000;
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(dir.join("rss"))
        .arg(fanout_path())
        .args(["-q", "-j", "2", "--pipe", "--block", "1M", "wc", "-c"]);
    clean_env(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = [b'y'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let chunk = line.repeat(10_000);
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            stdin.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
    });
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    writer.join().unwrap();
    assert!(wait_bounded(child, BOUND).is_some_and(|s| s.success()));
    let sum: u64 = out.lines().map(|l| l.trim().parse::<u64>().unwrap()).sum();
    assert_eq!(sum, total, "every byte reached a job");
    assert!(out.lines().count() >= 280, "about 1 MB blocks");
    let rss_kb: u64 = std::fs::read_to_string(dir.join("rss"))
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    // Loose: a few 1 MiB blocks in flight and fanout itself, far from 300 MB.
    assert!(rss_kb < 48 * 1024, "peak RSS {rss_kb} KiB");
}

#[test]
fn refusals_say_what_to_do() {
    let dir = Dir::new();
    let refused = |args: &[&str], says: &str| {
        let out = pipe_run(&dir, args, b"a\n").code(255);
        let err = stderr_of(&out);
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    };
    refused(&["--pipe", "echo", ":::", "a"], "takes no ::: values");
    refused(&["--pipe", "--block", "0", "cat"], "at least 1 byte");
    refused(&["--pipe", "--block", "10X", "cat"], "invalid size");
    refused(&["--pipepart", "cat"], "exactly one seekable file");
    refused(
        &["--block", "1M", "cat"],
        "--block only means something with --pipe",
    );
    refused(
        &["--pipe", "--regexp", "--recend", "(", "cat"],
        "invalid regular expression",
    );
    refused(&["--pipe", "--dry-run", "cat"], "--dry-run");
    refused(
        &["--pipe", "--roundrobin", "--retries", "2", "cat"],
        "--retries",
    );
    refused(&["--pipepart", "-a", "/dev/null", "cat"], "regular file");
    refused(
        &["--pipepart", "-a", s(&dir.join("missing")), "cat"],
        "cannot read the --pipepart file",
    );
}

/// GNU parallel's command, when it is installed.
fn gnu() -> Option<Command> {
    let ok = Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("GNU parallel"));
    ok.then(|| {
        let mut c = Command::new("parallel");
        c.arg("--will-cite");
        c
    })
}

#[test]
fn the_same_command_lines_as_gnu_parallel() {
    let Some(_) = gnu() else {
        eprintln!("SKIP the_same_command_lines_as_gnu_parallel: GNU parallel is not installed");
        return;
    };
    let dir = Dir::new();
    let varied_in = dir.write("varied.txt", varied(3000));
    let seq_in = dir.write(
        "seq.txt",
        (1..=5000).map(|i| format!("{i}\n")).collect::<String>(),
    );
    let recs = dir.write("recs.txt", "S1E\nS2E\nE\nS3E\nS4E\n");
    let fasta = dir.write("fasta.txt", ">a\nAC\nGT\n>b\nTT\n>c\nGG\nCC\nAA\n");
    let f = |p: &Path| s(p).to_string();
    // (stdin file, command line with its words separated by `|`)
    let cases: Vec<(String, Vec<String>)> = [
        (f(&seq_in), "--pipe|-k|wc|-l"),
        (f(&seq_in), "--pipe|--block|1k|-k|wc|-l"),
        (f(&seq_in), "--pipe|--block|1K|-k|wc|-c"),
        (f(&varied_in), "--pipe|--block|2k|-k|wc"),
        (f(&varied_in), "--pipe|--block|1000|-k|-j|3|md5sum"),
        (f(&varied_in), "--spreadstdin|--block-size|4k|-k|cat"),
        (
            f(&recs),
            "--pipe|--block|1|--recstart|S|--recend|E\\n|-k|cat;echo",
        ),
        (f(&recs), "--pipe|--block|1|--recend|E\\n|-k|cat;echo"),
        (f(&fasta), "--pipe|--block|1|--recstart|>|-k|cat;echo"),
        (f(&fasta), "--pipe|--block|8|--recstart|>|-k|cat;echo"),
        // Jobs that read their block: GNU parallel's exit code is racy for the others.
        (f(&seq_in), "--pipe|--block|3k|-k|cat >/dev/null; echo {#}"),
        (f(&seq_in), "--pipe|--block|3k|-k|cat >/dev/null; echo x{}y"),
        (f(&seq_in), "--pipe|--block|3k|-k|echo {#}: $(wc -l)"),
        (f(&seq_in), "--pipe|--cat|--block|10k|-k|wc -l <{}"),
        (f(&seq_in), "--pipe|--fifo|--block|10k|-k|wc -c <{}"),
        (f(&seq_in), "--pipe|--block|5k|-k|-j|1|head|-n|2"),
        (f(&seq_in), "--pipe|--block|5k|grep|-q|4999"),
        (f(&seq_in), "--pipe|--block|2k|-k|tail|-n|1"),
        (f(&seq_in), "--pipe|--roundrobin|-j|1|--block|1k|wc|-l"),
        (f(&seq_in), "--pipe|--roundrobin|-k|-j|3|--block|1k|wc|-l"),
        (
            f(&varied_in),
            "--round-robin|--pipe|-k|-j|2|--block|3k|md5sum",
        ),
        (String::from("/dev/null"), "--pipe|wc|-l"),
        // -N records per block, -L lines per record, --header on top of every block.
        (f(&seq_in), "--pipe|-N|700|-k|wc|-l"),
        (f(&seq_in), "--pipe|-N1|--block|1|-k|-j|1|head|-c|20"),
        (f(&seq_in), "--pipe|-L|3|--block|10|-k|cat;echo"),
        (f(&seq_in), "--pipe|-L|2|-N|5|-k|wc|-l"),
        (f(&seq_in), "--pipe|--header|1|--block|2k|-k|head|-n|2"),
        (f(&seq_in), "--pipe|--header|2|-N|100|-k|wc|-l"),
        (
            f(&fasta),
            "--pipe|--header|:|--recstart|>|--block|1|-k|cat;echo",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|-a|SEQ|--header|1|--block|2k|-k|head|-n|2",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|-a|SEQ|--block|1k|-k|wc|-l",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|-a|SEQ|--block|1000|-k|wc|-c",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|-a|VARIED|--block|3k|-k|md5sum",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|-a|SEQ|--block|-2|-j|2|-k|wc|-l",
        ),
        (
            String::from("/dev/null"),
            "--pipe-part|--recstart|>|--block|5|-k|-a|FASTA|cat;echo",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|--cat|-a|SEQ|--block|8k|-k|wc -l <{}",
        ),
        (
            String::from("/dev/null"),
            "--pipepart|--fifo|-a|SEQ|--block|8k|-k|wc -c <{}",
        ),
    ]
    .into_iter()
    .map(|(stdin, line)| {
        let words = line
            .split('|')
            .map(|w| {
                w.replace("SEQ", s(&seq_in))
                    .replace("VARIED", s(&varied_in))
                    .replace("FASTA", s(&fasta))
            })
            .collect::<Vec<_>>();
        (stdin, words)
    })
    .collect();
    let mut differ = Vec::new();
    for (stdin, words) in &cases {
        let run = |mut c: Command| {
            c.args(words)
                .current_dir(dir.path())
                .stdin(std::fs::File::open(stdin).unwrap())
                .output()
                .unwrap()
        };
        let theirs = run(gnu().unwrap());
        let mut ours = fanout_cmd();
        ours.arg("--no-summary");
        let ours = run(ours);
        if (theirs.stdout.clone(), theirs.status.code())
            != (ours.stdout.clone(), ours.status.code())
        {
            differ.push(format!(
                "{words:?}: GNU {:?} {:?} / fanout {:?} {:?} {}",
                theirs.status.code(),
                String::from_utf8_lossy(&theirs.stdout),
                ours.status.code(),
                String::from_utf8_lossy(&ours.stdout),
                String::from_utf8_lossy(&ours.stderr),
            ));
        }
    }
    assert!(
        differ.is_empty(),
        "differ from GNU parallel:\n{}",
        differ.join("\n")
    );
}

#[test]
fn argument_options_are_refused_with_pipe() {
    let dir = Dir::new();
    for (args, says) in [
        (&["--pipe", "-X", "echo"][..], "-X puts input values"),
        (
            &["--pipe", "--colsep", ",", "cat"][..],
            "--colsep puts input values",
        ),
        (&["--pipe", "-m", "cat"][..], "-m puts input values"),
    ] {
        let out = pipe_run(&dir, args, b"a\n").code(255);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let f = dir.write("in.txt", "a\nb\n");
    let out = fanout_cmd()
        .args(["--pipepart", "-N", "1", "-a", s(&f), "cat"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pipepart cuts the file by size"));
}
