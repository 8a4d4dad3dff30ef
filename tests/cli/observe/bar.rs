//! The progress bar as a user sees it, read from a real screen (a tmux pane, see
//! `util::screen`): a file input's total counted from the start, a spinner for a pipe, and no
//! debris (after Ctrl-C, after output that leaves a line open, after the window shrinks, at
//! narrow widths), and no bar while the values are typed on the terminal.

use std::time::Duration;

use crate::util::*;

/// A job that waits for the file `go` (bounded), so the test decides when it ends.
const WAIT: &str =
    "sh -c 'i=0; while [ ! -e go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done'";

/// Whether a row shows (a piece of) the bar: its spinner, its elapsed time or its counts.
fn barish(row: &str) -> bool {
    row.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c))
        || row.contains("00:00:")
        || row.contains(" running")
        || row.contains("/s")
        || row.contains("[==")
        || row.contains("ETA")
}

fn bar_rows(rows: &[String]) -> Vec<&String> {
    rows.iter().filter(|r| barish(r)).collect()
}

/// The one bar row on the screen; panics if there are more (debris) or none.
fn the_bar(rows: &[String]) -> String {
    let bars = bar_rows(rows);
    assert_eq!(
        bars.len(),
        1,
        "one bar row, no debris:\n{}",
        rows.join("\n")
    );
    bars[0].clone()
}

/// Whether `row` is a whole bar line (from its spinner to its counts) that fits in `width`
/// columns less the two left free.
fn whole_bar_within(row: &str, width: usize) -> bool {
    row.chars()
        .next()
        .is_some_and(|c| ('\u{2800}'..='\u{28ff}').contains(&c))
        && row.contains(" done")
        && row.chars().count() <= width - 2
}

fn go(dir: &Dir) {
    std::fs::write(dir.join("go"), "").unwrap();
}

#[test]
fn a_file_input_is_counted_so_the_bar_has_its_total_and_eta_from_the_start() {
    for (before, after) in [("", ":::: list"), ("-a list", ""), ("", "< list")] {
        let how = format!("{before}{after}");
        let dir = Dir::new();
        dir.write("list", "a\nb\nc\nd\ne\n");
        let cmd = format!("FANOUT -j1 {before} {WAIT} {after}");
        let s = Screen::start(dir.path(), &cmd, 100, 10);
        // While the first job still runs, the bar already knows the five.
        let rows = s.wait_for_text(" running");
        let bar = s
            .wait_for("the counted total", |rows| {
                rows.iter().any(|r| r.contains("0/5 done"))
            })
            .into_iter()
            .find(|r| r.contains("0/5 done"))
            .unwrap();
        assert!(bar.contains('[') && bar.contains("ETA"), "{how}: {bar}");
        assert!(!bar.contains('+'), "{how}: {bar} ({rows:?})");
        go(&dir);
        assert_eq!(s.wait_exit(), 0, "{how}");
        assert!(bar_rows(&s.rows()).is_empty(), "{how}: {:?}", s.rows());
    }
}

#[test]
fn a_pipe_gets_a_spinner_with_counts_and_no_fake_total() {
    let dir = Dir::new();
    let s = Screen::start(
        dir.path(),
        &format!("printf 'a\\nb\\nc\\n' | FANOUT -j1 {WAIT}"),
        100,
        10,
    );
    let rows = s.wait_for_text("0 done, 1 running, 0 failed, 0.0/s");
    let bar = the_bar(&rows);
    assert!(bar.contains("00:00:0"), "elapsed shown: {bar}");
    for fake in ["/", "%", "[", "ETA", "+"] {
        // `0.0/s` is the rate: look at the rest.
        let rest = bar.replace("0.0/s", "");
        assert!(!rest.contains(fake), "no {fake:?} without a total: {bar}");
    }
    go(&dir);
    assert_eq!(s.wait_exit(), 0);
}

#[test]
fn ctrl_c_leaves_no_bar_behind() {
    let dir = Dir::new();
    // 80 columns: the old bar was exactly as wide, and the echoed ^C wrapped.
    let s = Screen::start(dir.path(), &format!("FANOUT -j2 {WAIT} ::: 1 2 3"), 80, 12);
    let rows = s.wait_for_text("2 running");
    let bar = the_bar(&rows);
    s.keys(&["C-c"]);
    assert_eq!(s.wait_exit(), 130);
    let rows = s.text_rows();
    assert!(bar_rows(&rows).is_empty(), "debris:\n{}", rows.join("\n"));
    assert!(
        rows.iter().any(|r| r.contains("interrupted by SIGINT")),
        "{rows:#?}"
    );
    assert!(
        bar.chars().count() <= 78,
        "two columns stay free: {bar:?} ({})",
        bar.chars().count()
    );
}

#[test]
fn output_without_a_newline_does_not_get_the_bar_drawn_after_it() {
    let dir = Dir::new();
    dir.script(
        "job.sh",
        "if [ \"$1\" = 1 ]; then printf abc; exit 0; fi\n\
         i=0; while [ ! -e go1 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done\n\
         echo; echo def\n\
         i=0; while [ ! -e go2 ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
    );
    let s = Screen::start(dir.path(), "FANOUT -j1 -u ./job.sh ::: 1 2", 80, 12);
    let rows = s.wait_for_text("abc");
    let abc = rows.iter().find(|r| r.contains("abc")).unwrap();
    assert_eq!(
        abc,
        "abc",
        "the bar drawn after the open line:\n{}",
        rows.join("\n")
    );
    // Still so a while later, however many frames went by.
    std::thread::sleep(Duration::from_millis(500));
    let rows = s.rows();
    assert!(rows.contains(&"abc".to_string()), "{}", rows.join("\n"));
    assert!(bar_rows(&rows).is_empty(), "{}", rows.join("\n"));
    // The line ended: the bar comes back, under it, and `abc` is still there.
    std::fs::write(dir.join("go1"), "").unwrap();
    let rows = s.wait_for("def, then the bar", |rows| {
        rows.iter().any(|r| r == "def") && rows.iter().any(|r| r.contains("1/2 done"))
    });
    assert!(rows.contains(&"abc".to_string()), "{}", rows.join("\n"));
    the_bar(&rows);
    std::fs::write(dir.join("go2"), "").unwrap();
    assert_eq!(s.wait_exit(), 0);
    let rows = s.text_rows();
    assert!(rows.starts_with(&["abc".into(), "def".into()]), "{rows:#?}");
    assert!(bar_rows(&rows).is_empty(), "{rows:#?}");
}

#[test]
fn shrinking_the_window_leaves_no_fragment_of_the_bar() {
    let dir = Dir::new();
    // Lines above the bar, as at a shell prompt: at the top row, the rows a resize rewrapped
    // the bar into would be in the scrollback, out of reach.
    let s = Screen::start(
        dir.path(),
        &format!("seq 3; FANOUT -j1 {WAIT} ::: 1 2"),
        100,
        12,
    );
    let rows = s.wait_for_text("1 running");
    assert!(the_bar(&rows).chars().count() > 60, "{rows:?}");
    // tmux rewraps the 98-column line into two rows of 50, as most terminals do.
    s.resize(50, 12);
    let rows = s.wait_for("the bar redrawn for 50 columns", |rows| {
        rows.iter().any(|r| whole_bar_within(r, 50))
    });
    the_bar(&rows);
    go(&dir);
    assert_eq!(s.wait_exit(), 0);
    let rows = s.text_rows();
    assert!(bar_rows(&rows).is_empty(), "debris:\n{}", rows.join("\n"));
}

#[test]
fn narrow_terminals_drop_parts_of_the_line_not_the_bar_and_never_wrap() {
    let dir = Dir::new();
    let s = Screen::start(
        dir.path(),
        &format!("seq 3; FANOUT -j2 {WAIT} ::: 1 2 3 4 5 6 7 8 9 10 11 12"),
        60,
        12,
    );
    let rows = s.wait_for_text("2 running");
    let bar = the_bar(&rows);
    assert!(bar.chars().count() <= 58, "{bar:?}");
    let inside = bar
        .split_once('[')
        .and_then(|(_, r)| r.split_once(']'))
        .map(|(b, _)| b.chars().count())
        .unwrap_or(0);
    assert!(inside >= 10, "a real bar at 60 columns: {bar:?}");
    assert!(
        bar.contains("0/12 done") && bar.contains("0 failed"),
        "{bar:?}"
    );
    for width in [40u16, 24] {
        s.resize(width, 12);
        let rows = s.wait_for(&format!("the bar redrawn for {width} columns"), |rows| {
            rows.iter().any(|r| whole_bar_within(r, width.into()))
        });
        let bar = the_bar(&rows);
        assert!(bar.contains("0/12 done"), "{width}: {bar:?}");
    }
    go(&dir);
    assert_eq!(s.wait_exit(), 0);
    let rows = s.text_rows();
    assert!(bar_rows(&rows).is_empty(), "debris:\n{}", rows.join("\n"));
}

#[test]
fn no_bar_while_values_are_typed_on_the_terminal() {
    let dir = Dir::new();
    let s = Screen::start(dir.path(), "FANOUT echo got-{}", 80, 12);
    s.wait_for_text("reading input from the terminal");
    s.keys(&["x1", "Enter"]);
    let rows = s.wait_for_text("got-x1");
    assert!(bar_rows(&rows).is_empty(), "{}", rows.join("\n"));
    s.keys(&["C-d"]);
    assert_eq!(s.wait_exit(), 0);
    let rows = s.text_rows();
    assert!(bar_rows(&rows).is_empty(), "{}", rows.join("\n"));
}
