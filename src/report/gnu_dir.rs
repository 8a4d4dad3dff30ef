//! `--results DIR` as GNU parallel lays it out: a directory per input value, named by the
//! source's number (or its `--header` name) and then the value, holding `stdout`, `stderr`
//! and `seq`:
//!
//! ```text
//! DIR/1/<value1>/2/<value2>/stdout   the job's stdout, byte for byte
//! DIR/1/<value1>/2/<value2>/stderr   its stderr
//! DIR/1/<value1>/2/<value2>/seq      its sequence number (no newline, as GNU writes it)
//! ```
//!
//! Names are escaped as GNU parallel escapes them (`\` as `\\`, tab as `\t`, NUL as `\0`, `/`
//! as `\_`) and cut to 255 bytes (the longest file name Linux file systems take; GNU parallel
//! probes the same limit). fanout adds what GNU lacks so nothing is ever written outside DIR:
//! an empty name, `.` and `..` become `\`, `\.` and `\..` (names GNU's escaping never makes),
//! and `--header` names are escaped like values. The files are written through a temporary
//! name and renamed, so none is half-written; a rerun overwrites. Not the per-seq layout of
//! `--results-by-seq` ([`super::dir`]).

use std::path::{Path, PathBuf};

use super::dir::{open_root, write_whole};
use super::json::ResultsError;
use crate::job::JobRecord;
use crate::report::events::{Captured, RunEvent};
use crate::report::{ReportError, Reporter};

/// The longest name one directory entry may have, in bytes (`NAME_MAX` on Linux).
pub(crate) const NAME_MAX: usize = 255;

/// Writes GNU parallel's results tree.
pub struct GnuResultsDir {
    root: PathBuf,
    columns: Columns,
}

/// How a job's values are named: by their position in a record (`1`, `2`, ... or the
/// `--header` names) and how many values make one record (with `-N`, a job has several).
#[derive(Debug, Clone, Default)]
pub(crate) struct Columns {
    /// The `--header` names by position (empty: none; an empty name: the number).
    pub names: Vec<Vec<u8>>,
    /// Values per record; 0: all of a job's values are one record (`--colsep`).
    pub per_record: usize,
}

impl Columns {
    /// The name of position `i` (from 0) in a record.
    fn name(&self, i: usize) -> Vec<u8> {
        match self.names.get(i) {
            Some(n) if !n.is_empty() => n.clone(),
            _ => (i + 1).to_string().into_bytes(),
        }
    }

    /// The relative path of a job with these values: name/value pairs, the names of each
    /// record in GNU's order (numerically, then as text), every part escaped.
    pub fn path_of(&self, values: &[&[u8]]) -> PathBuf {
        use std::os::unix::ffi::OsStrExt;
        let per = match self.per_record {
            0 => values.len().max(1),
            n => n,
        };
        let mut path = PathBuf::new();
        for record in values.chunks(per) {
            let mut order: Vec<usize> = (0..record.len()).collect();
            order.sort_by(|&a, &b| {
                let (na, nb) = (self.name(a), self.name(b));
                perl_number(&na)
                    .total_cmp(&perl_number(&nb))
                    .then_with(|| na.cmp(&nb))
            });
            for i in order {
                path.push(std::ffi::OsStr::from_bytes(&escape(&self.name(i))));
                path.push(std::ffi::OsStr::from_bytes(&escape(record[i])));
            }
        }
        path
    }
}

/// A name's value as perl's `<=>` reads it: its leading decimal number, else 0.
fn perl_number(s: &[u8]) -> f64 {
    let t = s.trim_ascii_start();
    let end = t
        .iter()
        .enumerate()
        .take_while(|&(i, &b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b"+-".contains(&b)))
        .count();
    (1..=end)
        .rev()
        .find_map(|n| std::str::from_utf8(&t[..n]).ok()?.parse().ok())
        .unwrap_or(0.0)
}

/// One directory name for `value`: GNU parallel's escaping, then fanout's for the names
/// that would leave the directory (`""`, `.`, `..`), cut to [`NAME_MAX`] bytes.
pub(crate) fn escape(value: &[u8]) -> Vec<u8> {
    match value {
        b"" => return b"\\".to_vec(),
        b"." | b".." => return [b"\\", value].concat(),
        _ => {}
    }
    let mut out = Vec::with_capacity(value.len());
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0 => out.extend_from_slice(b"\\0"),
            b'/' => out.extend_from_slice(b"\\_"),
            _ => out.push(b),
        }
    }
    out.truncate(NAME_MAX);
    out
}

impl GnuResultsDir {
    /// Creates DIR (and its parents) if needed; in a world-writable sticky directory it must
    /// be a real directory of our own.
    pub fn create(root: &Path, columns: Columns) -> Result<GnuResultsDir, ResultsError> {
        open_root(root, "--results")?;
        Ok(GnuResultsDir {
            root: root.to_owned(),
            columns,
        })
    }

    fn write_job(
        &self,
        r: &JobRecord,
        stdout: &Captured,
        stderr: &Captured,
    ) -> Result<(), ReportError> {
        let values: Vec<&[u8]> = r.args.values().iter().map(|v| v.as_bytes()).collect();
        let dir = self.root.join(self.columns.path_of(&values));
        let fatal = |what: &Path, e: std::io::Error| {
            ReportError::Fatal(format!(
                "failed to write results `{}`: {e}; the run was stopped (fix DIR or give another --results, then rerun with --joblog FILE --resume)",
                what.display()
            ))
        };
        std::fs::create_dir_all(&dir).map_err(|e| fatal(&dir, e))?;
        let seq = Captured::from(r.id.0.to_string().into_bytes());
        for (name, data) in [("stdout", stdout), ("stderr", stderr), ("seq", &seq)] {
            write_whole(&dir, name, data).map_err(|e| fatal(&dir.join(name), e))?;
        }
        Ok(())
    }
}

impl Reporter for GnuResultsDir {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        if let RunEvent::JobFinished {
            record,
            stdout,
            stderr,
            ..
        } = event
        {
            self.write_job(record, stdout, stderr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_gnu_and_never_leaves_the_directory() {
        assert_eq!(escape(b"a/b"), b"a\\_b");
        assert_eq!(escape(b"a\\b\tc\0"), b"a\\\\b\\tc\\0");
        assert_eq!(escape(b".."), b"\\..");
        assert_eq!(escape(b"."), b"\\.");
        assert_eq!(escape(b""), b"\\");
        assert_eq!(escape(b"-n\nx"), b"-n\nx");
        assert_eq!(escape(&[b'L'; 300]).len(), NAME_MAX);
    }

    #[test]
    fn names_sort_as_gnu_sorts_them() {
        let plain = Columns::default();
        assert_eq!(plain.path_of(&[b"A", b"C"]), Path::new("1/A/2/C"));
        let named = Columns {
            names: vec![b"f2".to_vec(), b"f1".to_vec()],
            per_record: 2,
        };
        assert_eq!(named.path_of(&[b"A", b"C"]), Path::new("f1/C/f2/A"));
        let grouped = Columns {
            names: Vec::new(),
            per_record: 1,
        };
        assert_eq!(grouped.path_of(&[b"a", b"b"]), Path::new("1/a/1/b"));
        assert_eq!(perl_number(b"10x"), 10.0);
        assert_eq!(perl_number(b"x"), 0.0);
    }
}
