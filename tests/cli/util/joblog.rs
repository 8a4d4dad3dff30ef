//! The one reader of joblogs (GNU parallel's format: a header line, then one tab-separated
//! line per job).

use std::collections::BTreeSet;
use std::path::Path;

/// The joblog's first line.
pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// The rows after the header, split on tabs (none when there is no joblog). A torn last line
/// is a row too.
pub fn joblog_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().skip(1).map(split).collect()
}

/// The rows whose line is whole (ends in a newline): what `--resume` trusts.
pub fn joblog_complete_rows(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .skip(1)
        .filter_map(|l| l.strip_suffix('\n'))
        .map(split)
        .collect()
}

/// The row of job `seq` (panics when there is none or more than one).
pub fn joblog_row(path: &Path, seq: u64) -> Vec<String> {
    let rows: Vec<_> = joblog_rows(path)
        .into_iter()
        .filter(|r| r[0] == seq.to_string())
        .collect();
    assert_eq!(rows.len(), 1, "one joblog row for job {seq}: {rows:?}");
    rows.into_iter().next().unwrap()
}

/// The seqs the joblog records.
pub fn joblog_seqs(path: &Path) -> BTreeSet<u64> {
    joblog_rows(path)
        .iter()
        .map(|r| r[0].parse().unwrap_or_else(|_| panic!("a seq: {r:?}")))
        .collect()
}

fn split(line: &str) -> Vec<String> {
    line.split('\t').map(String::from).collect()
}
