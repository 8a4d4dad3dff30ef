//! `--results DIR`: each finished job's output and status in files of its own, one directory
//! per job named by its sequence number:
//!
//! ```text
//! DIR/<seq>/cmd          the command line, as in the joblog
//! DIR/<seq>/args         the job's arguments (space separated)
//! DIR/<seq>/stdout       the job's stdout, byte for byte
//! DIR/<seq>/stderr       the job's stderr, byte for byte
//! DIR/<seq>/result.json  the record: the fields of a --results-json line, without the output
//! DIR/<seq>/exitval      the exit status as a shell shows it ($?: 128+N for signal N), written last
//! ```
//!
//! Not GNU parallel's `DIR/1/<value>/...`: a value with `/` in it, or longer than a file name may
//! be, breaks that layout, and values need escaping; the seq is always a safe name, and the
//! joblog and `--results-json` use the same number. Every file is written to a temporary name
//! and renamed, so none is ever half-written; `exitval` is removed first and written last, so a
//! job directory without it is one whose results are incomplete. A rerun overwrites.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::json::{RecordFields, ResultsError};
use crate::job::JobRecord;
use crate::report::events::RunEvent;
use crate::report::{ReportError, Reporter};

/// Writes a directory per finished job.
pub struct ResultsDir {
    root: PathBuf,
}

impl ResultsDir {
    /// Creates DIR (and its parents) if needed.
    pub fn create(root: &Path) -> Result<ResultsDir, ResultsError> {
        std::fs::create_dir_all(root).map_err(|source| ResultsError::CreateDir {
            path: root.to_owned(),
            source,
        })?;
        Ok(ResultsDir {
            root: root.to_owned(),
        })
    }

    fn write_job(&self, r: &JobRecord, stdout: &[u8], stderr: &[u8]) -> Result<(), ReportError> {
        let dir = self.root.join(r.id.0.to_string());
        let fatal = |what: &Path, e: std::io::Error| {
            ReportError::Fatal(format!(
                "failed to write results `{}`: {e}; the run was stopped (fix DIR or give another --results, then rerun with --joblog FILE --resume)",
                what.display()
            ))
        };
        std::fs::create_dir_all(&dir).map_err(|e| fatal(&dir, e))?;
        let exitval = dir.join("exitval");
        match std::fs::remove_file(&exitval) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fatal(&exitval, e)),
            _ => {}
        }
        let mut meta =
            serde_json::to_vec(&RecordFields::of(r)).expect("plain fields always serialize");
        meta.push(b'\n');
        let status = match (r.outcome.exit_code(), r.outcome.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => crate::exit::for_signal(sig),
            (None, None) => -1,
        };
        let (cmd, args, status) = (
            format!("{}\n", r.command),
            format!("{}\n", r.args),
            format!("{status}\n"),
        );
        let files: [(&str, &[u8]); 6] = [
            ("cmd", cmd.as_bytes()),
            ("args", args.as_bytes()),
            ("stdout", stdout),
            ("stderr", stderr),
            ("result.json", &meta),
            ("exitval", status.as_bytes()),
        ];
        for (name, data) in files {
            let path = dir.join(name);
            write_whole(&dir, name, data).map_err(|e| fatal(&path, e))?;
        }
        Ok(())
    }
}

/// Writes `data` to `dir/name` through a temporary file and a rename: readers see the old file
/// or the new one, never a part.
fn write_whole(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))
}

impl Reporter for ResultsDir {
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
    use crate::job::{JobId, JobOutcome};
    use std::time::{Duration, SystemTime};

    #[test]
    fn writes_every_file_and_exitval_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ResultsDir::create(&dir.path().join("r")).unwrap();
        let record = JobRecord {
            id: JobId(3),
            slot: 1,
            args: "x".into(),
            command: "sh -c 'kill -9 $$'".into(),
            outcome: JobOutcome::Signaled { signal: 9 },
            start: SystemTime::now(),
            duration: Duration::from_millis(5),
            attempts: 1,
            stdout_bytes: 1,
            stderr_bytes: 0,
            place: ":".into(),
            handle: Some(crate::exec::Handle::Pid(1)),
        };
        let ev = RunEvent::JobFinished {
            record: Box::new(record),
            tag: None,
            stdout: b"\xfe".to_vec(),
            stderr: Vec::new(),
        };
        w.on_event(&ev).unwrap();
        let job = dir.path().join("r/3");
        assert_eq!(std::fs::read(job.join("stdout")).unwrap(), b"\xfe");
        assert_eq!(std::fs::read(job.join("stderr")).unwrap(), b"");
        assert_eq!(
            std::fs::read_to_string(job.join("exitval")).unwrap(),
            "137\n"
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(job.join("result.json")).unwrap()).unwrap();
        assert_eq!(meta["signal"], 9);
        let mut names: Vec<String> = std::fs::read_dir(&job)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["args", "cmd", "exitval", "result.json", "stderr", "stdout"]
        );
    }
}
