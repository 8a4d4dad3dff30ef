//! `fanout timeline`: the Gantt chart of a finished run, drawn from a real run's joblog and
//! `--results-json` file (failing jobs, one timing out) and from a GNU parallel joblog written
//! here; each bar is checked against the joblog, the SVG is rendered to a PNG with
//! `rsvg-convert`, and 100,000 jobs must stay under 5 MB.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::joblog::HEADER;
use crate::util::*;

/// One `<rect>` of the bars group: its attributes and its title.
#[derive(Debug)]
struct Bar {
    x: f64,
    y: f64,
    w: f64,
    class: String,
    seq: Option<u64>,
    jobs: u64,
    title: String,
}

/// The parts of a timeline SVG a test checks.
#[derive(Debug)]
struct Picture {
    width: f64,
    px_per_s: f64,
    t0: f64,
    bars: Vec<Bar>,
    /// The row labels (`slot 1`, `server1 lane 2`).
    labels: Vec<String>,
}

/// The value of `name="..."` in a tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

fn num(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number in {tag}"))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Reads the SVG the way a test needs it: the root's width, the bars' group and every bar in
/// it, and the row labels. Checks on the way that the tags it reads are balanced.
fn picture(svg: &str) -> Picture {
    let root = &svg[svg.find("<svg ").expect("an <svg> element")..];
    let root_tag = &root[..root.find('>').unwrap()];
    assert!(
        root.trim_end().ends_with("</svg>") || root.contains("</svg>\n<div id=\"tip\">"),
        "the <svg> element is closed"
    );
    let g_at = root.find("<g id=\"bars\"").expect("the bars group");
    let g_tag = &root[g_at..g_at + root[g_at..].find('>').unwrap()];
    let body = &root[g_at..g_at + root[g_at..].find("</g>").expect("the bars group ends")];
    let mut bars = Vec::new();
    for chunk in body.split("<rect ").skip(1) {
        let tag_end = chunk.find('>').unwrap();
        let tag = format!(" {}", &chunk[..tag_end]);
        let rest = &chunk[tag_end + 1..];
        let title = rest
            .strip_prefix("<title>")
            .and_then(|r| r.split_once("</title></rect>"))
            .unwrap_or_else(|| panic!("a bar with a title: {chunk}"))
            .0;
        bars.push(Bar {
            x: num(&tag, "x"),
            y: num(&tag, "y"),
            w: num(&tag, "width"),
            class: attr(&tag, "class").unwrap().to_owned(),
            seq: attr(&tag, "data-seq").map(|s| s.parse().unwrap()),
            jobs: attr(&tag, "data-jobs").map_or(1, |s| s.parse().unwrap()),
            title: unescape(title),
        });
    }
    let rows = &root[root.find("<g id=\"rows\">").unwrap()..];
    let rows = &rows[..rows.find("</g>").unwrap()];
    let labels = rows
        .split("<text ")
        .skip(1)
        .map(|t| unescape(&t[t.find('>').unwrap() + 1..t.find("</text>").unwrap()]))
        .collect();
    Picture {
        width: num(root_tag, "width"),
        px_per_s: num(g_tag, "data-px-per-s"),
        t0: num(g_tag, "data-t0"),
        bars,
        labels,
    }
}

/// `fanout timeline INPUT -o OUTPUT`, which must succeed; returns the output's text.
fn timeline(input: &Path, output: &Path) -> String {
    fanout()
        .args(["timeline", s(input), "-o", s(output)])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    std::fs::read_to_string(output).unwrap()
}

/// A joblog row's start, duration, Exitval and Signal.
fn times(row: &[String]) -> (f64, f64, i64, i64) {
    let f = |i: usize| row[i].trim().parse::<f64>().unwrap();
    (f(2), f(3), f(6) as i64, f(7) as i64)
}

/// Checks that `bar` is drawn from `start` for `duration` seconds (at least 1 px wide).
fn assert_placed(pic: &Picture, bar: &Bar, start: f64, duration: f64) {
    let x = (start - pic.t0) * pic.px_per_s;
    let w = (duration * pic.px_per_s).max(1.0);
    assert!((bar.x - x).abs() < 0.01, "x of {bar:?}: want {x}");
    assert!((bar.w - w).abs() < 0.01, "width of {bar:?}: want {w}");
}

/// Runs nine jobs on three slots: 3 and 6 fail with exit 3, 5 runs past the one-second
/// timeout, the others sleep 10 to 90 ms. Returns the joblog and the results file.
fn real_run(dir: &Dir) -> (std::path::PathBuf, std::path::PathBuf) {
    let job = dir.script(
        "job.sh",
        "case $1 in 3|6) sleep 0.1; exit 3;; 5) sleep 10;; *) sleep 0.0$1;; esac",
    );
    let (jl, rj) = (dir.join("run.log"), dir.join("results.jsonl"));
    dir.fanout()
        .args(["--no-summary", "--quiet", "-j3", "--timeout", "1s"])
        .args(["--joblog", s(&jl), "--results-json", s(&rj), s(&job), ":::"])
        .args((1..=9).map(|n| n.to_string()))
        .assert()
        .code(3);
    (jl, rj)
}

#[test]
fn the_svg_of_a_joblog_has_one_bar_per_job_where_the_joblog_puts_it() {
    let dir = Dir::new();
    let (jl, _) = real_run(&dir);
    let pic = picture(&timeline(&jl, &dir.join("run.svg")));
    let rows = joblog_rows(&jl);
    assert_eq!(rows.len(), 9);
    assert_eq!(pic.bars.len(), 9, "one bar per job: {:?}", pic.bars);
    let seqs: BTreeSet<u64> = pic.bars.iter().filter_map(|b| b.seq).collect();
    assert_eq!(seqs, joblog_seqs(&jl));
    let t0 = rows
        .iter()
        .map(|r| times(r).0)
        .fold(f64::INFINITY, f64::min);
    assert!(
        (pic.t0 - t0).abs() < 1e-6,
        "the axis starts at the first start"
    );
    let mut lanes: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for row in &rows {
        let seq: u64 = row[0].parse().unwrap();
        let (start, dur, exitval, signal) = times(row);
        let bar = pic.bars.iter().find(|b| b.seq == Some(seq)).unwrap();
        assert_placed(&pic, bar, start, dur);
        let class = match (exitval, signal) {
            (0, 0) => "ok",
            (_, 0) => "fa",
            _ => "si",
        };
        assert_eq!(bar.class, class, "job {seq}: {row:?}");
        assert!(
            bar.title.starts_with(&format!("job {seq}: ")),
            "{}",
            bar.title
        );
        assert!(bar.title.contains(&format!("{dur:.3} s")), "{}", bar.title);
        assert!(bar.title.ends_with(&row[8]), "the command: {}", bar.title);
        lanes
            .entry(bar.y.to_bits())
            .or_default()
            .push((start, start + dur));
    }
    let failed = pic.bars.iter().find(|b| b.seq == Some(3)).unwrap();
    assert!(failed.title.contains("failed (exit 3)"), "{}", failed.title);
    let killed = pic.bars.iter().find(|b| b.seq == Some(5)).unwrap();
    assert!(killed.title.contains("SIGTERM"), "{}", killed.title);
    // -j3: three lanes, and no two jobs of a lane overlap (joblog times are rounded to 1 ms).
    assert_eq!(lanes.len(), 3, "{lanes:?}");
    for lane in lanes.values_mut() {
        lane.sort_by(|a, b| a.0.total_cmp(&b.0));
        for pair in lane.windows(2) {
            assert!(
                pair[1].0 >= pair[0].1 - 0.002,
                "overlap in a lane: {pair:?}"
            );
        }
    }
    assert_eq!(pic.labels, ["lane 1", "lane 2", "lane 3"]);
    let right = pic.bars.iter().map(|b| b.x + b.w).fold(0.0, f64::max);
    assert!(
        (right - 1200.0).abs() < 0.01,
        "the last end is the plot's right edge"
    );
}

#[test]
fn the_results_file_gives_slots_and_tells_a_timeout_from_a_failure_in_svg_and_html() {
    let dir = Dir::new();
    let (_, rj) = real_run(&dir);
    let svg = timeline(&rj, &dir.join("run.svg"));
    let pic = picture(&svg);
    let lines = json_lines(&std::fs::read_to_string(&rj).unwrap());
    assert_eq!(pic.bars.len(), lines.len());
    let mut slot_y: BTreeMap<u64, f64> = BTreeMap::new();
    for v in &lines {
        let seq = v["seq"].as_u64().unwrap();
        let bar = pic.bars.iter().find(|b| b.seq == Some(seq)).unwrap();
        let dur = v["duration_ms"].as_f64().unwrap() / 1000.0;
        assert_placed(&pic, bar, v["start"].as_f64().unwrap(), dur);
        let class = match v["outcome"].as_str().unwrap() {
            "success" => "ok",
            "failed" => "fa",
            "timed_out" => "to",
            other => panic!("unexpected outcome {other}"),
        };
        assert_eq!(bar.class, class);
        // Every job of a slot is on that slot's row.
        let y = *slot_y.entry(v["slot"].as_u64().unwrap()).or_insert(bar.y);
        assert_eq!(bar.y, y, "job {seq} is on its slot's row");
    }
    let timed_out = pic.bars.iter().find(|b| b.seq == Some(5)).unwrap();
    assert!(
        timed_out.title.contains("timed out (SIGTERM)"),
        "{}",
        timed_out.title
    );
    assert_eq!(pic.labels, ["slot 1", "slot 2", "slot 3"]);
    assert!(svg.contains("timed out: 1") && svg.contains("failed: 2") && svg.contains("ok: 6"));

    let html = timeline(&rj, &dir.join("run.html"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<script>") && html.contains("id=\"tip\""));
    // Self-contained: nothing to fetch (the SVG namespace is a name, not a request).
    for needle in [" src=", " href=", "<link", "url(", "@import"] {
        assert!(
            !html.contains(needle),
            "the page fetches something: {needle}"
        );
    }
    let in_html = picture(&html);
    assert_eq!(in_html.bars.len(), 9);
    assert!(in_html.bars.iter().all(|b| b.title.contains("job.sh")));
}

#[test]
fn a_gnu_parallel_joblog_gets_a_row_per_host_and_lane() {
    let dir = Dir::new();
    // GNU parallel pads JobRuntime; two jobs overlap on this machine, one ran on server1, and
    // the fourth starts on this machine after the first has ended.
    let jl = dir.write(
        "gnu.log",
        format!(
            "{HEADER}\
             1\t:\t1700000000.000\t     2.000\t0\t5\t0\t0\techo a\n\
             2\t:\t1700000000.500\t     1.000\t0\t0\t1\t0\tfalse b\n\
             3\tserver1\t1700000001.000\t     0.250\t0\t5\t0\t9\tsleep & <c>\n\
             4\t:\t1700000002.000\t     2.000\t0\t5\t0\t0\techo d\n"
        ),
    );
    let pic = picture(&timeline(&jl, &dir.join("gnu.svg")));
    assert_eq!(pic.bars.len(), 4);
    assert_eq!(
        pic.labels,
        ["local lane 1", "local lane 2", "server1 lane 1"]
    );
    assert!((pic.px_per_s - 300.0).abs() < 1e-9, "4 s over 1200 px");
    let bar = |seq| pic.bars.iter().find(|b| b.seq == Some(seq)).unwrap();
    for (seq, start, dur) in [(1, 0.0, 2.0), (2, 0.5, 1.0), (3, 1.0, 0.25), (4, 2.0, 2.0)] {
        assert_placed(&pic, bar(seq), 1_700_000_000.0 + start, dur);
    }
    assert_eq!(bar(1).y, bar(4).y, "job 4 reuses the lane job 1 freed");
    assert!(bar(2).y > bar(1).y && bar(3).y > bar(2).y);
    assert_eq!(
        [&bar(1).class, &bar(2).class, &bar(3).class],
        ["ok", "fa", "si"]
    );
    assert!(bar(3).title.ends_with("sleep & <c>"), "{}", bar(3).title);
    assert!(bar(3).title.contains("SIGKILL") && bar(3).title.contains("server1"));
}

/// A joblog of `n` jobs, eight at a time back to back, 0 to 20 ms each; one in 500 fails.
fn synthetic_joblog(n: u64) -> String {
    let mut text = String::from(HEADER);
    let mut ends = [1_700_000_000.0f64; 8];
    for seq in 1..=n {
        let lane = (seq % 8) as usize;
        let dur = (seq * 7919 % 21) as f64 / 1000.0;
        let exit = u8::from(seq % 500 == 0);
        text.push_str(&format!(
            "{seq}\t:\t{:.3}\t{dur:.3}\t0\t0\t{exit}\t0\t./job.sh {seq}\n",
            ends[lane]
        ));
        ends[lane] += dur + 0.001;
    }
    text
}

#[test]
fn a_hundred_thousand_jobs_stay_small_and_quick_and_every_job_is_counted() {
    let dir = Dir::new();
    let jl = dir.write("big.log", synthetic_joblog(100_000));
    let started = Instant::now();
    let svg = timeline(&jl, &dir.join("big.svg"));
    let took = started.elapsed();
    assert!(svg.len() < 5_000_000, "{} bytes", svg.len());
    // Loose: a debug build on a slow machine (a release build takes well under a second).
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let pic = picture(&svg);
    assert!(pic.bars.len() <= 8_000, "{} shapes", pic.bars.len());
    assert_eq!(pic.bars.iter().map(|b| b.jobs).sum::<u64>(), 100_000);
    assert!(
        pic.bars.iter().any(|b| b.class == "fa"),
        "failures stay visible"
    );
    assert!(svg.contains("merged into runs of busy time"));

    // The same jobs as results lines, drawn as HTML.
    let mut jsonl = String::new();
    for row in synthetic_joblog(100_000).lines().skip(1) {
        let f: Vec<&str> = row.split('\t').collect();
        let ms = (f[3].parse::<f64>().unwrap() * 1000.0).round();
        let outcome = if f[6] == "0" { "success" } else { "failed" };
        jsonl.push_str(&format!(
            "{{\"seq\":{},\"slot\":{},\"host\":\":\",\"start\":{},\"duration_ms\":{ms},\"outcome\":\"{outcome}\",\"exit_code\":{},\"signal\":null,\"command\":\"{}\"}}\n",
            f[0],
            f[0].parse::<u64>().unwrap() % 8 + 1,
            f[2],
            f[6],
            f[8]
        ));
    }
    let rj = dir.write("big.jsonl", jsonl);
    let started = Instant::now();
    let html = timeline(&rj, &dir.join("big.html"));
    let took = started.elapsed();
    assert!(html.len() < 5_000_000, "{} bytes", html.len());
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert_eq!(picture(&html).labels.len(), 8, "one row per slot");
}

/// `rsvg-convert`, when it is installed (scripts/test.sh installs librsvg2-bin).
fn rsvg_convert() -> bool {
    let found = std::process::Command::new("rsvg-convert")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "note: rsvg-convert is missing (Debian package librsvg2-bin; scripts/test.sh installs it): timeline PNG test skipped"
        );
    }
    found
}

/// The width and height in a PNG's header.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[test]
fn the_svg_renders_to_a_png() {
    if !rsvg_convert() {
        return;
    }
    let dir = Dir::new();
    let (jl, _) = real_run(&dir);
    let svg_path = dir.join("run.svg");
    let pic = picture(&timeline(&jl, &svg_path));
    let png_path = dir.join("run.png");
    assert_cmd::Command::new("rsvg-convert")
        .timeout(BOUND)
        .args([s(&svg_path), "-o", s(&png_path)])
        .assert()
        .success();
    let png = std::fs::read(&png_path).unwrap();
    let (w, h) = png_size(&png);
    assert_eq!(f64::from(w), pic.width, "the PNG is as wide as the SVG");
    assert!(h >= 150, "{w}x{h}");
    assert!(
        png.len() > 4_000,
        "a picture with something in it: {} bytes",
        png.len()
    );

    // The aggregated picture renders too, quickly.
    let big = dir.write("big.log", synthetic_joblog(100_000));
    timeline(&big, &dir.join("big.svg"));
    let started = Instant::now();
    assert_cmd::Command::new("rsvg-convert")
        .timeout(BOUND)
        .args([s(&dir.join("big.svg")), "-o", s(&dir.join("big.png"))])
        .assert()
        .success();
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(png_size(&std::fs::read(dir.join("big.png")).unwrap()).1 >= 150);
}

#[test]
fn usage_mistakes_and_unreadable_inputs_are_one_line_errors() {
    let dir = Dir::new();
    let jl = dir.write(
        "j.log",
        format!("{HEADER}1\t:\t1700000000.000\t1.000\t0\t0\t0\t0\ttrue\n"),
    );
    let not_ours = dir.write("notes.txt", "hello\n");
    let cases: [(&[&str], &str); 6] = [
        (&["timeline"], "needs a joblog or results file"),
        (&["timeline", s(&jl)], "needs a joblog or results file"),
        (&["timeline", s(&jl), "-o"], "`-o` needs"),
        (
            &["timeline", s(&jl), "-o", "x.png"],
            "name it `*.svg` or `*.html`",
        ),
        (
            &["timeline", "missing.log", "-o", "x.svg"],
            "cannot read `missing.log`",
        ),
        (
            &["timeline", s(&not_ours), "-o", "x.svg"],
            "is neither a joblog",
        ),
    ];
    for (args, want) in cases {
        let out = dir.fanout().args(args).assert().code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("fanout: error: ") && err.contains(want),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.join("x.svg").exists());
    let help = dir.fanout().args(["timeline", "--help"]).assert().success();
    assert!(stdout_of(&help).starts_with("usage: fanout timeline"));
}
