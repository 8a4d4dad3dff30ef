//! GNU parallel's `--results`: the tree `--results DIR` writes, compared with the tree GNU
//! parallel writes for the same command line (when it is installed), values that must never
//! reach outside DIR, and the `.csv`/`.tsv`/`.json` tables; `--results-by-seq` prints output.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::*;

/// Every file under `root` by its relative path (bytes), with its contents.
fn tree(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(root)
                .unwrap()
                .as_os_str()
                .as_bytes()
                .to_vec();
            if p.is_dir() {
                out.insert([rel.as_slice(), b"/"].concat(), Vec::new());
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn have_gnu_parallel() -> bool {
    Command::new("parallel")
        .args(["--will-cite", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `args` with `--results DIR` through fanout and (when installed) GNU parallel, and
/// returns fanout's tree after checking it is GNU's.
fn same_tree_as_gnu(args: &[&str]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let dir = Dir::new();
    let ours = dir.join("ours");
    let out = fanout()
        .arg("--results")
        .arg(&ours)
        .args(args)
        .assert()
        .success();
    assert_eq!(
        stdout_of(&out),
        "",
        "--results prints no job output, as GNU"
    );
    let mine = tree(&ours);
    if !have_gnu_parallel() {
        eprintln!("SKIP the GNU comparison: GNU parallel is not installed");
        return mine;
    }
    let theirs = dir.join("gnu");
    let mut gnu = Command::new("timeout");
    clean_env(&mut gnu);
    let st = gnu
        .args(["60", "parallel", "--will-cite", "--results"])
        .arg(&theirs)
        .args(args)
        .env_remove("PARALLEL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(st.status.success(), "GNU parallel ran");
    assert_eq!(st.stdout, b"", "GNU prints no job output with --results");
    let gnu_tree = tree(&theirs);
    assert_eq!(
        mine.keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        gnu_tree
            .keys()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>()
    );
    assert_eq!(mine, gnu_tree, "the same files with the same contents");
    mine
}

#[test]
fn results_dir_is_gnu_parallels_tree() {
    let long = "L".repeat(300);
    let t = same_tree_as_gnu(&[
        "-k", "echo", ":::", "A", "a/b", "x\\y", "tab\tt", "-n", "sp ace", "$HOME", &long,
    ]);
    assert_eq!(t[&b"1/A/stdout"[..]], b"A\n");
    assert_eq!(t[&b"1/A/seq"[..]], b"1");
    assert_eq!(t[&b"1/a\\_b/stdout"[..]], b"a/b\n");
    assert_eq!(t[&b"1/x\\\\y/seq"[..]], b"3");
    assert_eq!(t[&b"1/tab\\tt/stderr"[..]], b"");
    assert!(t.contains_key(&b"1/-n/seq"[..]));
    // Cut to the longest file name (255 bytes), as GNU parallel cuts it.
    let cut = format!("1/{}/stdout", "L".repeat(255));
    assert_eq!(t[cut.as_bytes()], format!("{long}\n").as_bytes());
}

#[test]
fn results_dir_names_sources_by_number_header_and_group_as_gnu() {
    let t = same_tree_as_gnu(&["echo", ":::", "A", "B", ":::", "C"]);
    assert_eq!(t[&b"1/B/2/C/stdout"[..]], b"B C\n");
    // --header names, sorted as GNU sorts them (f1 before f2 whatever the source order).
    let t = same_tree_as_gnu(&["--header", ":", "echo", ":::", "f2", "A", ":::", "f1", "B"]);
    assert_eq!(t[&b"f1/B/f2/A/stdout"[..]], b"A B\n");
    let t = same_tree_as_gnu(&["-k", "-N2", "echo", ":::", "a", "b", "c"]);
    assert_eq!(t[&b"1/a/1/b/stdout"[..]], b"a b\n");
    assert_eq!(t[&b"1/c/seq"[..]], b"2");
    // A failing job's stderr, with a shell.
    let t = same_tree_as_gnu(&["echo out {}; echo err {} >&2", ":::", "x"]);
    assert_eq!(t[&b"1/x/stderr"[..]], b"err x\n");
}

#[test]
fn no_value_makes_results_dir_write_outside_it() {
    let dir = Dir::new();
    let root = dir.join("box");
    std::fs::create_dir(&root).unwrap();
    let res = root.join("res");
    let long = "../".repeat(200);
    let values = [
        "..",
        ".",
        "",
        "../../escape",
        "/etc/x",
        "-rf",
        "nl\nx",
        "../",
        &long,
    ];
    fanout()
        .arg("--results")
        .arg(&res)
        .args(["-k", "echo", ":::"])
        .args(values)
        .assert()
        .success();
    // Only DIR was made beside it, and inside DIR only the source's directory.
    let beside: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, ["res"]);
    let top: Vec<_> = std::fs::read_dir(&res)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["1"]);
    let t = tree(&res);
    for (name, seq) in [
        (&b"\\.."[..], "1"),
        (b"\\.", "2"),
        (b"\\", "3"),
        (b"..\\_..\\_escape", "4"),
        (b"\\_etc\\_x", "5"),
        (b"-rf", "6"),
        (b"nl\nx", "7"),
        (b"..\\_", "8"),
    ] {
        let key = [b"1/", name, b"/seq"].concat();
        assert_eq!(
            t.get(&key).map(Vec::as_slice),
            Some(seq.as_bytes()),
            "{}",
            String::from_utf8_lossy(&key)
        );
    }
    // 600 bytes of `../` escape to 800 and are cut to one name of 255 bytes.
    let cut = format!("1/{}/seq", "..\\_".repeat(64).get(..255).unwrap());
    assert_eq!(t[cut.as_bytes()], b"9");
    // Every file is stdout, stderr or seq of a value's directory, two levels down.
    for k in t.keys().filter(|k| !k.ends_with(b"/")) {
        let parts = k.split(|&b| b == b'/').count();
        assert_eq!(parts, 3, "{}", String::from_utf8_lossy(k));
    }
}

#[test]
fn results_tables_are_gnu_parallels_csv_tsv_and_json() {
    let dir = Dir::new();
    let (csv, tsv, json) = (dir.join("r.csv"), dir.join("r.TSV"), dir.join("r.json"));
    for file in [&csv, &tsv, &json] {
        let out = fanout()
            .arg("--results")
            .arg(file)
            .args([
                "-k",
                "echo o {}; echo e {} >&2; exit 3",
                ":::",
                "A",
                "b,\"c",
            ])
            .assert()
            .code(2);
        assert_eq!(stdout_of(&out), "");
    }
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr"
    );
    let cols: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(cols[..2], ["1", ":"]);
    assert_eq!(cols[4..8], ["0", "4", "3", "0"]);
    assert!(
        text.contains(",\"b,\"\"c\",\"o b,\"\"c\n\",\"e b,\"\"c\n\"\n"),
        "{text}"
    );
    let text = std::fs::read_to_string(&tsv).unwrap();
    assert!(text.starts_with("Seq\tHost\tStarttime\t"), "{text}");
    assert!(text.contains("\tA\t\"o A\n\"\t\"e A\n\"\n"), "{text}");
    let lines = json_lines(&std::fs::read_to_string(&json).unwrap());
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["Seq"], 2);
    assert_eq!(lines[1]["V"], serde_json::json!(["b,\"c"]));
    assert_eq!(lines[1]["Stdout"], "o b,\"c\n");
    assert_eq!(lines[1]["Exitval"], 3);
    for field in [
        "Host",
        "Starttime",
        "JobRuntime",
        "Send",
        "Receive",
        "Signal",
        "Command",
    ] {
        assert_ne!(lines[0][field], Value::Null, "{field}");
    }
}

#[test]
fn results_table_to_stdout_in_input_order_with_k() {
    // Job 1 ends last; -k still writes its row first, as GNU parallel does.
    let dir = Dir::new();
    let flag = dir.join("flag");
    let job = format!(
        "[ {{}} = 1 ] && {{ {} }}; [ {{}} = 2 ] && touch {}; echo {{}}",
        wait_for_file_sh(&flag),
        flag.display()
    );
    let out = fanout()
        .args(["-k", "-j2", "--results", "-.csv", &job, ":::", "1", "2"])
        .assert()
        .success();
    let text = stdout_of(&out);
    let seqs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(',').next())
        .filter(|s| s.parse::<u64>().is_ok())
        .collect();
    assert_eq!(seqs, ["1", "2"], "{text}");
    assert!(text.starts_with("Seq,"), "{text}");
}

#[test]
fn results_by_seq_keeps_printing_the_output() {
    let dir = Dir::new();
    let res = dir.join("res");
    let out = fanout()
        .arg("--results-by-seq")
        .arg(&res)
        .args(["echo", ":::", "a/b"])
        .assert()
        .success();
    assert_eq!(stdout_of(&out), "a/b\n");
    assert_eq!(std::fs::read(res.join("1/stdout")).unwrap(), b"a/b\n");
}

#[test]
fn results_with_a_replacement_string_is_refused() {
    let dir = Dir::new();
    let out = fanout()
        .current_dir(dir.path())
        .args(["--results", "my_{}", "echo", ":::", "a"])
        .assert()
        .code(255);
    assert!(stderr_of(&out).contains("replacement string"));
    assert!(!dir.join("my_{}").exists() && !dir.join("my_a").exists());
}
