//! `--results FILE.csv`, `.tsv` and `.json`: GNU parallel's results tables, byte for byte in
//! its format. CSV and TSV have a header line (`Seq,Host,Starttime,JobRuntime,Send,Receive,
//! Exitval,Signal,Command,V1..Vn,Stdout,Stderr`, the `--header` names for V1..Vn) and a row per
//! job, a field quoted (`"` doubled) when it holds whitespace, the separator, a quote or NUL;
//! JSON is a line per job, `{ "Seq": 1, ..., "V": [ "a" ], "Stdout": "...", "Stderr": "" }`,
//! with GNU's escaping (bytes that are not UTF-8 are written as they are, as GNU writes them).
//! `-.csv`, `-.tsv`, `-.json` write to stdout. The columns are GNU's joblog values (Receive is
//! the job's stdout bytes). Not fanout's `--results-json` ([`super::json`]).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use super::console::Console;
use super::json::ResultsError;
use crate::cluster::Skip;
use crate::job::{JobOutcome, JobRecord};
use crate::report::events::{Captured, RunEvent};
use crate::report::{ReportError, Reporter};
use crate::results::files::{self, GuardError};

/// Which of GNU parallel's tables a `--results` path names, by its ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// `.csv`: comma separated.
    Csv,
    /// `.tsv`: tab separated.
    Tsv,
    /// `.json`: a JSON object per line.
    Json,
}

impl TableKind {
    /// The kind a path ends in (case-insensitive, as GNU parallel), `None` for a directory.
    pub fn of(path: &Path) -> Option<TableKind> {
        let name = path.as_os_str().as_encoded_bytes().to_ascii_lowercase();
        [
            (".csv", Self::Csv),
            (".tsv", Self::Tsv),
            (".json", Self::Json),
        ]
        .into_iter()
        .find(|(end, _)| name.ends_with(end.as_bytes()))
        .map(|(_, k)| k)
    }
}

enum Sink {
    File(File),
    Stdout(Console),
}

/// Writes a GNU results table as jobs finish.
pub struct GnuTable {
    kind: TableKind,
    sink: Sink,
    path: PathBuf,
    /// The `--header` names of the values (empty: V1, V2, ...).
    names: Vec<Vec<u8>>,
    header_written: bool,
    /// With `-k`: rows are written in input order, as GNU parallel writes them; a finished
    /// job's row waits here until the jobs before it are written.
    order: Option<Order>,
}

/// The rows held back for `-k`.
struct Order {
    head: u64,
    held: std::collections::BTreeMap<u64, Vec<u8>>,
    skipped: Arc<Skip>,
}

impl GnuTable {
    /// Opens (and truncates, as GNU parallel does) the table `path`; `-.csv` and the like are
    /// stdout. `keep_order` (`-k`): rows in input order, the `skipped` jobs left out.
    pub fn open(
        path: &Path,
        kind: TableKind,
        names: Vec<Vec<u8>>,
        console: &Console,
        keep_order: Option<Arc<Skip>>,
    ) -> Result<GnuTable, ResultsError> {
        let name = path.as_os_str().as_encoded_bytes().to_ascii_lowercase();
        let sink = if [&b"-.csv"[..], b"-.tsv", b"-.json"].contains(&name.as_slice()) {
            Sink::Stdout(console.clone())
        } else {
            let f = files::open_for_write(path).map_err(|e| match e {
                GuardError::Planted { dir, what } => ResultsError::Planted {
                    flag: "--results",
                    path: path.to_owned(),
                    dir,
                    what,
                },
                GuardError::Io(source) => ResultsError::OpenTable {
                    path: path.to_owned(),
                    source,
                },
            })?;
            if f.metadata().is_ok_and(|m| m.is_file()) {
                f.set_len(0).map_err(|source| ResultsError::OpenTable {
                    path: path.to_owned(),
                    source,
                })?;
            }
            Sink::File(f)
        };
        Ok(GnuTable {
            kind,
            sink,
            path: path.to_owned(),
            names,
            header_written: false,
            order: keep_order.map(|skipped| Order {
                head: 1,
                held: Default::default(),
                skipped,
            }),
        })
    }

    fn write(&mut self, line: &[u8]) -> Result<(), ReportError> {
        match &mut self.sink {
            Sink::File(f) => f.write_all(line).map_err(|e| {
                ReportError::Fatal(format!(
                    "failed to write results file `{}`: {e}; the run was stopped (make room or give another --results, then rerun with --joblog FILE --resume)",
                    self.path.display()
                ))
            }),
            Sink::Stdout(console) => console
                .out(line)
                .and_then(|()| console.flush())
                .map_err(ReportError::from_stdout),
        }
    }

    /// Writes the held rows that are next in input order (all of them when the run is over).
    fn release(&mut self, all: bool) -> Result<(), ReportError> {
        loop {
            let Some(o) = &mut self.order else {
                return Ok(());
            };
            while o.skipped.contains(&o.head) && o.head < u64::MAX {
                o.head += 1;
            }
            let row = match o.held.remove(&o.head) {
                Some(row) => row,
                None if all => match o.held.pop_first() {
                    Some((_, row)) => row,
                    None => return Ok(()),
                },
                None => return Ok(()),
            };
            o.head += 1;
            self.write(&row)?;
        }
    }

    /// The CSV/TSV header line: GNU's columns, with V1..Vn or the `--header` names.
    fn header(&self, line: &mut Vec<u8>, sep: u8, values: usize) {
        let mut head: Vec<Vec<u8>> = [
            "Seq",
            "Host",
            "Starttime",
            "JobRuntime",
            "Send",
            "Receive",
            "Exitval",
            "Signal",
            "Command",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        head.extend((0..values).map(|i| match self.names.is_empty() {
            true => format!("V{}", i + 1).into_bytes(),
            false => self.names.get(i).cloned().unwrap_or_default(),
        }));
        head.extend([b"Stdout".to_vec(), b"Stderr".to_vec()]);
        let refs: Vec<&[u8]> = head.iter().map(Vec::as_slice).collect();
        csv_line(line, sep, &refs);
    }

    /// A job's row (JSON: its line).
    fn row(&self, r: &JobRecord, out: &[u8], err: &[u8]) -> Vec<u8> {
        let start = r
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let exitval = match r.outcome {
            JobOutcome::Signaled { .. } => 0,
            o => o.exit_code().unwrap_or(-1),
        };
        let signal = r.outcome.signal().unwrap_or(0);
        let numbers = [
            r.id.0.to_string(),
            r.place.to_string(),
            format!("{start:.3}"),
            format!("{:.3}", r.duration.as_secs_f64()),
            "0".into(),
            r.stdout_bytes.to_string(),
            exitval.to_string(),
            signal.to_string(),
        ];
        let values: Vec<&[u8]> = r.args.values().iter().map(|v| v.as_bytes()).collect();
        let sep = match self.kind {
            TableKind::Json => return json_row(&numbers, r.command.as_bytes(), &values, out, err),
            TableKind::Csv => b',',
            TableKind::Tsv => b'\t',
        };
        let mut line = Vec::new();
        let mut fields: Vec<&[u8]> = numbers.iter().map(|s| s.as_bytes()).collect();
        fields.push(r.command.as_bytes());
        fields.extend(values);
        fields.extend([out, err]);
        csv_line(&mut line, sep, &fields);
        line
    }
}

/// Appends one CSV/TSV line with GNU parallel's quoting (its `combine_ref`).
fn csv_line(line: &mut Vec<u8>, sep: u8, fields: &[&[u8]]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(sep);
        }
        let quote = f
            .iter()
            .any(|&b| b == b'"' || b == sep || b == 0 || b" \t\n\r\x0b\x0c".contains(&b));
        if !quote {
            line.extend_from_slice(f);
            continue;
        }
        line.push(b'"');
        for &b in *f {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    }
    line.push(b'\n');
}

/// GNU parallel's `jsonquote`: `\` and `"` escaped, control bytes as `\u00XX`.
fn json_quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            0..=31 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn json_row(numbers: &[String], cmd: &[u8], values: &[&[u8]], out: &[u8], err: &[u8]) -> Vec<u8> {
    let mut l = format!("{{ \"Seq\": {}, \"Host\": ", numbers[0]).into_bytes();
    json_quote(&mut l, numbers[1].as_bytes());
    l.extend_from_slice(
        format!(
            ", \"Starttime\": {}, \"JobRuntime\": {}, \"Send\": {}, \"Receive\": {}, \"Exitval\": {}, \"Signal\": {}, \"Command\": ",
            numbers[2], numbers[3], numbers[4], numbers[5], numbers[6], numbers[7]
        )
        .as_bytes(),
    );
    json_quote(&mut l, cmd);
    l.extend_from_slice(b", \"V\": [ ");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            l.push(b',');
        }
        json_quote(&mut l, v);
    }
    l.extend_from_slice(b" ], \"Stdout\": ");
    json_quote(&mut l, out);
    l.extend_from_slice(b", \"Stderr\": ");
    json_quote(&mut l, err);
    l.extend_from_slice(b" }\n");
    l
}

fn whole(c: &Captured, path: &Path) -> Result<Vec<u8>, ReportError> {
    c.read().map(|b| b.into_owned()).map_err(|e| {
        ReportError::Fatal(format!(
            "cannot read a job's output back for `{}`: {e}",
            path.display()
        ))
    })
}

impl Reporter for GnuTable {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        if let RunEvent::RunFinished { .. } = event {
            return self.release(true);
        }
        let RunEvent::JobFinished {
            record,
            stdout,
            stderr,
            ..
        } = event
        else {
            return Ok(());
        };
        let (out, err) = (whole(stdout, &self.path)?, whole(stderr, &self.path)?);
        if !self.header_written && self.kind != TableKind::Json {
            // The first job to end gives the header (its number of values, as GNU's does),
            // written at once also with -k.
            self.header_written = true;
            let sep = if self.kind == TableKind::Csv {
                b','
            } else {
                b'\t'
            };
            let mut head = Vec::new();
            self.header(&mut head, sep, record.args.values().len());
            self.write(&head)?;
        }
        let line = self.row(record, &out, &err);
        match &mut self.order {
            None => self.write(&line),
            Some(o) => {
                o.held.insert(record.id.0, line);
                self.release(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_gnu_parallel() {
        let mut l = Vec::new();
        csv_line(&mut l, b',', &[b"A", b"b,\"c", b"echo A", b"", b"x\n"]);
        assert_eq!(l, b"A,\"b,\"\"c\",\"echo A\",,\"x\n\"\n");
        let mut j = Vec::new();
        json_quote(&mut j, b"a\"\\\n");
        assert_eq!(j, b"\"a\\\"\\\\\\u000a\"");
        assert_eq!(TableKind::of(Path::new("x.CSV")), Some(TableKind::Csv));
        assert_eq!(TableKind::of(Path::new("dir")), None);
    }
}
