//! The joblog in GNU parallel's format: a header, then one tab-separated line per finished job
//! (`Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`), written by the runner
//! with one `write` as each job ends, so a crash loses no line of a finished job. On `--resume`
//! the old joblog is read to find the jobs already done; a torn last line (a crash mid-write)
//! is cut off and its job runs again.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use crate::config::ResumeMode;
use crate::job::{JobOutcome, JobRecord};

pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// A joblog that cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JoblogError {
    #[error("cannot open joblog `{path}`: {source}; give a writable path to --joblog")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{path}` is not a joblog (its first line is not GNU parallel's joblog header); give another --joblog path"
    )]
    NotAJoblog { path: PathBuf },
    #[error(
        "cannot write joblog `{path}`: {source}; free some space or give another --joblog path"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("joblog `{path}` line {line} is malformed; fix or remove that line to resume")]
    Malformed { path: PathBuf, line: usize },
    /// A line could not be written mid-run: the run was stopped there.
    #[error(
        "failed to write joblog `{path}`: {source}; the run was stopped (use --resume to go on once it is writable)"
    )]
    Stopped {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One parsed joblog line: the seq and whether the job succeeded.
fn parse_line(line: &str) -> Option<(u64, bool)> {
    let f: Vec<&str> = line.splitn(9, '\t').collect();
    if f.len() != 9 {
        return None;
    }
    let seq = f[0].trim().parse().ok()?;
    f[2].trim().parse::<f64>().ok()?;
    f[3].trim().parse::<f64>().ok()?;
    let exit: i64 = f[6].trim().parse().ok()?;
    let sig: i64 = f[7].trim().parse().ok()?;
    Some((seq, exit == 0 && sig == 0))
}

/// Reads an existing joblog for `--resume`: the seqs to skip, and the length of the valid
/// prefix (shorter than the file when its last line is torn).
pub fn read_done(path: &Path, mode: ResumeMode) -> Result<(HashSet<u64>, u64), JoblogError> {
    let open_err = |source| JoblogError::Open {
        path: path.to_owned(),
        source,
    };
    let mut text = String::new();
    match File::open(path) {
        Ok(mut f) => {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(open_err)?;
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(open_err(e)),
    }
    // Empty, or a header torn by a crash before any job ended: nothing is done yet.
    if text.len() < HEADER.len() && HEADER.starts_with(text.as_str()) {
        return Ok((HashSet::new(), 0));
    }
    if !text.starts_with(HEADER.trim_end()) {
        return Err(JoblogError::NotAJoblog {
            path: path.to_owned(),
        });
    }
    let mut last: HashMap<u64, bool> = HashMap::new();
    let mut valid = 0u64;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, raw) in lines.iter().enumerate() {
        let is_last = i + 1 == lines.len();
        if i == 0 {
            if !raw.ends_with('\n') {
                break;
            }
            valid += raw.len() as u64;
            continue;
        }
        let complete = raw.ends_with('\n');
        match parse_line(raw.trim_end_matches('\n')) {
            Some((seq, ok)) if complete => {
                last.insert(seq, ok);
                valid += raw.len() as u64;
            }
            // A torn or garbled last line: a crash mid-write. Cut it; its job runs again.
            _ if is_last => break,
            _ => {
                return Err(JoblogError::Malformed {
                    path: path.to_owned(),
                    line: i + 1,
                });
            }
        }
    }
    let skip = last
        .into_iter()
        .filter(|&(_, ok)| mode == ResumeMode::Resume || ok)
        .map(|(seq, _)| seq)
        .collect();
    Ok((skip, valid))
}

/// Writes joblog lines as jobs finish. A cheap handle: the runner writes through it from each
/// job's task, the session keeps one to learn of a write error.
///
/// The line is written by the runner the moment its job ends, before any event about the job
/// is sent, rather than by a reporter: a reporter waits behind job output that our stdout's
/// reader may be slow to take, and a line waiting there would be lost to a SIGKILL.
#[derive(Clone)]
pub struct JoblogWriter {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    file: File,
    path: PathBuf,
    /// Whether a write failed; nothing is written after it, so a torn line stays the last.
    failed: bool,
    /// The first write error, until it is taken.
    error: Option<JoblogError>,
}

impl JoblogWriter {
    /// Opens the joblog: afresh (with the header), or on resume appended to after cutting the
    /// torn tail at `valid_len`.
    pub fn open(path: &Path, resume: Option<u64>) -> Result<JoblogWriter, JoblogError> {
        let open_err = |source| JoblogError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = match resume {
            Some(valid_len) => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(open_err)?;
                if f.metadata().map_err(open_err)?.len() > valid_len {
                    f.set_len(valid_len).map_err(open_err)?;
                }
                f
            }
            None => File::create(path).map_err(open_err)?,
        };
        if file.metadata().map_err(open_err)?.len() == 0 {
            file.write_all(HEADER.as_bytes())
                .map_err(|source| JoblogError::Write {
                    path: path.to_owned(),
                    source,
                })?;
        }
        Ok(JoblogWriter {
            inner: Arc::new(Mutex::new(Inner {
                file,
                path: path.to_owned(),
                failed: false,
                error: None,
            })),
        })
    }

    /// Writes the line of a finished job with one `write` (unbuffered: once it returns, the
    /// line is the kernel's and survives our death). A job fanout itself ended (`--halt now`,
    /// a signal) did not finish: it is left out so that `--resume` runs it again. Returns
    /// false when the joblog cannot be written (now or before): the run must stop.
    pub fn record(&self, r: &JobRecord) -> bool {
        let mut inner = self
            .inner
            .lock()
            .expect("never poisoned: no panics under it");
        if inner.failed {
            return false;
        }
        if matches!(r.outcome, JobOutcome::Cancelled { .. }) {
            return true;
        }
        if let Err(source) = inner.file.write_all(line(r).as_bytes()) {
            inner.failed = true;
            inner.error = Some(JoblogError::Stopped {
                path: inner.path.clone(),
                source,
            });
            return false;
        }
        true
    }

    /// The write error that stopped the run, if one did (given out once).
    pub fn take_failure(&self) -> Option<JoblogError> {
        self.inner.lock().expect("never poisoned").error.take()
    }
}

/// One joblog line, newline included.
fn line(r: &JobRecord) -> String {
    let start = r
        .start
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let exitval = r.outcome.exit_code().unwrap_or(-1);
    let signal = r.outcome.signal().unwrap_or(0);
    // Tabs and newlines in a command would break the format: written as \t and \n.
    let command = r.command.replace('\t', "\\t").replace('\n', "\\n");
    format!(
        "{}\t{}\t{:.3}\t{:.3}\t0\t{}\t{}\t{}\t{}\n",
        r.id,
        r.place,
        start,
        r.duration.as_secs_f64(),
        r.stdout_bytes + r.stderr_bytes,
        exitval,
        signal,
        command
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_cut_and_failures_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let good = format!(
            "{HEADER}1\t:\t1.000\t0.100\t0\t0\t0\t0\techo a\n2\t:\t1.000\t0.100\t0\t0\t3\t0\tfalse\n"
        );
        std::fs::write(&p, format!("{good}3\t:\t1.0")).unwrap();
        let (skip, valid) = read_done(&p, ResumeMode::Resume).unwrap();
        assert_eq!(skip, HashSet::from([1, 2]));
        assert_eq!(valid, good.len() as u64);
        let (skip, _) = read_done(&p, ResumeMode::ResumeFailed).unwrap();
        assert_eq!(skip, HashSet::from([1]));
        let w = JoblogWriter::open(&p, Some(valid)).unwrap();
        drop(w);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), good);
    }

    #[test]
    fn a_torn_header_means_nothing_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, &HEADER[..7]).unwrap();
        let (skip, valid) = read_done(&p, ResumeMode::Resume).unwrap();
        assert!(skip.is_empty());
        assert_eq!(valid, 0);
        drop(JoblogWriter::open(&p, Some(valid)).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), HEADER);
    }

    #[test]
    fn garbage_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, format!("{HEADER}junk\n1\t:\t1\t1\t0\t0\t0\t0\tx\n")).unwrap();
        assert!(matches!(
            read_done(&p, ResumeMode::Resume),
            Err(JoblogError::Malformed { line: 2, .. })
        ));
        std::fs::write(&p, "hello\n").unwrap();
        assert!(matches!(
            read_done(&p, ResumeMode::Resume),
            Err(JoblogError::NotAJoblog { .. })
        ));
    }
}
