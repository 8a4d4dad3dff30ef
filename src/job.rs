//! What a job is (its id, arguments and command) and what became of it (its outcome and record).
//! Plain data shared by the runner, the result store and the reporters; no I/O here.

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A job's sequence number: its position in the input, counted from 1 (GNU parallel's `{#}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One input tuple turned into a job: one value per input group, raw bytes (never re-encoded).
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's sequence number (`{#}`).
    pub id: JobId,
    /// One value per input source, in source order (`{1}`, `{2}`, ...).
    pub args: Vec<Vec<u8>>,
    /// What the job reads on stdin (a block of `--pipe`); `/dev/null` otherwise.
    pub stdin: Stdin,
    /// Something that must live as long as the job (the temporary file of `--cat`, removed
    /// when it is dropped).
    pub hold: Option<Hold>,
}

/// See [`Job::hold`].
pub type Hold = Arc<dyn fmt::Debug + Send + Sync>;

impl Job {
    /// A job with these arguments and nothing on stdin.
    pub fn new(id: JobId, args: Vec<Vec<u8>>) -> Job {
        Job {
            id,
            args,
            stdin: Stdin::Null,
            hold: None,
        }
    }

    /// The arguments as one display string (lossy UTF-8, space separated), for logs and `--tag`.
    pub fn args_display(&self) -> String {
        let mut s = String::new();
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(&String::from_utf8_lossy(a));
        }
        s
    }
}

/// How a job is started: the program and its arguments, exec'd directly or through `sh -c`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// `argv[0]` is the program.
    pub argv: Vec<OsString>,
    /// True when argv is `sh -c SCRIPT`; kept so reporters can show the script alone.
    pub shell: bool,
    /// What the job reads on stdin; every executor must feed it (or refuse the job).
    pub stdin: Stdin,
    /// Files an ssh host sends and returns around the job (`--transferfile`, `--return`,
    /// `--workdir`), rendered for this job; `None` without them. Only remote executors read
    /// it: a job run on this machine already has its files.
    pub files: Option<Arc<JobFiles>>,
}

/// A job's `--transferfile`, `--return` and `--workdir`, rendered for it like its command
/// (raw bytes, as the user's file names are).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFiles {
    /// Sent to the host before the job starts.
    pub transfer: Vec<OsString>,
    /// Fetched from the host after the job ends.
    pub returns: Vec<OsString>,
    /// The job's directory on the host (`None`: the login directory).
    pub workdir: Option<OsString>,
}

/// What a job reads on its stdin. Data, not a file descriptor, so that any executor can feed
/// it: the local one writes it into a pipe, a remote one into its connection's stdin (the
/// local way is `exec::stdin`; `--roundrobin` jobs share a [`BlockQueue`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Nothing: `/dev/null`, so a job never waits on a terminal.
    #[default]
    Null,
    /// These pieces in order, then end of file.
    Feed(Arc<[Chunk]>),
}

/// One piece of a job's stdin.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// These bytes (a block of `--pipe`, a `--header`).
    Bytes(bytes::Bytes),
    /// `len` bytes of the file at `path` from `offset` (`--pipepart`): read by whoever feeds
    /// the job, never held in memory by fanout.
    File {
        /// The file, as given.
        path: Arc<std::path::Path>,
        /// Where the range starts.
        offset: u64,
        /// How many bytes it has.
        len: u64,
    },
    /// Every block still to come from a queue the jobs share (`--roundrobin`): a feeder takes
    /// the next block once it has written the last, until the queue ends.
    Queue(BlockQueue),
}

impl PartialEq for Chunk {
    fn eq(&self, other: &Chunk) -> bool {
        match (self, other) {
            (Chunk::Bytes(a), Chunk::Bytes(b)) => a == b,
            (
                Chunk::File {
                    path: a,
                    offset: ao,
                    len: al,
                },
                Chunk::File {
                    path: b,
                    offset: bo,
                    len: bl,
                },
            ) => (a, ao, al) == (b, bo, bl),
            (Chunk::Queue(a), Chunk::Queue(b)) => Arc::ptr_eq(&a.0, &b.0),
            _ => false,
        }
    }
}

impl Eq for Chunk {}

/// Blocks shared by several jobs, taken one at a time (see [`Chunk::Queue`]).
#[derive(Clone)]
pub struct BlockQueue(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<bytes::Bytes>>>);

impl BlockQueue {
    /// The queue of the blocks `rx` receives.
    pub fn new(rx: tokio::sync::mpsc::Receiver<bytes::Bytes>) -> BlockQueue {
        BlockQueue(Arc::new(tokio::sync::Mutex::new(rx)))
    }

    /// The next block, waiting for it; `None` once the queue has ended.
    pub async fn next(&self) -> Option<bytes::Bytes> {
        self.0.lock().await.recv().await
    }

    /// The same, from a thread outside the runtime (a feeder).
    pub fn next_blocking(&self) -> Option<bytes::Bytes> {
        self.0.blocking_lock().blocking_recv()
    }
}

impl fmt::Debug for BlockQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlockQueue")
    }
}

impl JobSpec {
    /// The command as a user would type it: the script in shell mode, else argv with each word
    /// quoted where needed. Lossy UTF-8, for logs and the summary; see [`JobSpec::display_bytes`].
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.display_bytes()).into_owned()
    }

    /// The same as [`JobSpec::display`], byte for byte (`--dry-run` prints the raw bytes, as GNU
    /// parallel does).
    pub fn display_bytes(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        if self.shell {
            return self
                .argv
                .last()
                .map(|a| a.as_bytes())
                .unwrap_or(b"")
                .to_vec();
        }
        let mut out = Vec::new();
        for (i, a) in self.argv.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            crate::quote::quote_into(&mut out, a.as_bytes());
        }
        out
    }
}

/// What became of one attempt at a job. A job failure is data, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Exited 0.
    Success,
    /// Exited with a non-zero code.
    Failed {
        /// The non-zero exit code.
        code: i32,
    },
    /// Killed by a signal we did not send for a timeout (it may be ours on interruption).
    Signaled {
        /// The signal's number.
        signal: i32,
    },
    /// Ran past `--timeout` and was ended with the terminate sequence.
    TimedOut {
        /// The signal it died of; `None` when it exited by itself once signalled.
        signal: Option<i32>,
    },
    /// Never started: program missing (127), not executable (126), or no resources.
    SpawnFailed {
        /// The exit code reported in its stead, as above (255 when no place could start it).
        code: i32,
    },
    /// Ended by fanout because the run was halted or interrupted.
    Cancelled {
        /// The signal it died of, else the one forwarded to it; `None` when neither.
        signal: Option<i32>,
    },
}

impl JobOutcome {
    /// True when the job exited 0.
    pub fn is_success(self) -> bool {
        matches!(self, JobOutcome::Success)
    }

    /// Stable lowercase name used in logs, results and the summary.
    pub fn name(self) -> &'static str {
        match self {
            JobOutcome::Success => "success",
            JobOutcome::Failed { .. } => "failed",
            JobOutcome::Signaled { .. } => "signaled",
            JobOutcome::TimedOut { .. } => "timed_out",
            JobOutcome::SpawnFailed { .. } => "spawn_failed",
            JobOutcome::Cancelled { .. } => "cancelled",
        }
    }

    /// The exit code as a shell would show it (`None` when the job died of a signal).
    pub fn exit_code(self) -> Option<i32> {
        match self {
            JobOutcome::Success => Some(0),
            JobOutcome::Failed { code } | JobOutcome::SpawnFailed { code } => Some(code),
            _ => None,
        }
    }

    /// The signal that ended the job, if one did.
    pub fn signal(self) -> Option<i32> {
        match self {
            JobOutcome::Signaled { signal } => Some(signal),
            JobOutcome::TimedOut { signal } | JobOutcome::Cancelled { signal } => signal,
            _ => None,
        }
    }
}

/// The result of a finished job as merged into the result store and written to the joblog.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// The job's sequence number (`{#}`).
    pub id: JobId,
    /// The slot the last attempt ran in, counted from 1 (`{%}`).
    pub slot: u32,
    /// The place that ran the last attempt (the joblog's Host column; `:` is this machine).
    pub place: Arc<str>,
    /// The last attempt's handle (its pid here); `None` when it never started.
    pub handle: Option<Handle>,
    /// The arguments: one by one ([`Args::values`]) and space separated (through `Deref`);
    /// shared, so copies of a record cost no copy of them.
    pub args: Args,
    /// The command ([`JobSpec::display_bytes`]), byte for byte in [`Text::as_bytes`].
    pub command: Text,
    /// What became of the last attempt.
    pub outcome: JobOutcome,
    /// When the last attempt started (wall clock).
    pub start: SystemTime,
    /// How long the last attempt ran.
    pub duration: Duration,
    /// How many attempts ran (1 unless `--retries` reran it).
    pub attempts: u32,
    /// Bytes the last attempt wrote to stdout.
    pub stdout_bytes: u64,
    /// Bytes the last attempt wrote to stderr.
    pub stderr_bytes: u64,
    /// What the kernel accounted to the last attempt, when its executor can tell.
    pub usage: Option<Usage>,
}

/// CPU time and peak memory of an attempt, from the kernel's accounting of the reaped process
/// (with the children it waited for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// CPU time in user mode.
    pub user: Duration,
    /// CPU time in the kernel.
    pub system: Duration,
    /// Peak resident memory of the largest process, in KiB (`ru_maxrss`).
    pub max_rss_kib: u64,
}

impl Usage {
    /// User plus system time.
    pub fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

/// A job's arguments or command as people read it (lossy UTF-8, [`Text::as_str`], also
/// through `Deref`) and as it really is ([`Text::as_bytes`]), for the joblog and the results
/// files, which keep names byte for byte. Cheap to clone; the bytes are held apart only when
/// they are not valid UTF-8.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Text {
    text: Arc<str>,
    /// The exact bytes, only when `text` is a lossy rendering of them.
    raw: Option<Arc<[u8]>>,
}

impl Text {
    /// Text from raw bytes: as is when they are UTF-8, else lossy with the bytes kept.
    pub fn from_bytes(bytes: Vec<u8>) -> Text {
        match String::from_utf8(bytes) {
            Ok(s) => Text::from(s),
            Err(e) => {
                let raw: Arc<[u8]> = e.into_bytes().into();
                Text {
                    text: String::from_utf8_lossy(&raw).into(),
                    raw: Some(raw),
                }
            }
        }
    }

    /// The text (lossy where the bytes are not UTF-8).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The exact bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.text.as_bytes())
    }

    /// The exact bytes when they are not valid UTF-8 (so [`Text::as_str`] lost some).
    pub fn non_utf8_bytes(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    /// The text as a shared string, for events that carry it.
    pub fn shared(&self) -> &Arc<str> {
        &self.text
    }
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text {
            text: s.into(),
            raw: None,
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text {
            text: s.into(),
            raw: None,
        }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.raw {
            None => fmt::Debug::fmt(&*self.text, f),
            Some(raw) => write!(f, "b\"{}\"", raw.escape_ascii()),
        }
    }
}

/// A job's arguments: the values one by one (`{1}`, `{2}`, ...) for the JSON logs and results,
/// and joined by spaces (through `Deref` to [`Text`]), as the joblog, `--tag` and the summary
/// show them. A single value is held once.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Args(Arc<ArgsInner>);

/// One shared allocation, so an event that carries a job's args stays small.
#[derive(PartialEq, Eq, Hash)]
struct ArgsInner {
    joined: Text,
    /// The values, only when there are not exactly one (one value is `joined` itself).
    values: Option<Box<[Text]>>,
}

impl Args {
    /// The arguments of a job with these values.
    pub fn from_values(values: &[Vec<u8>]) -> Args {
        Args(Arc::new(match values {
            [one] => ArgsInner {
                joined: Text::from_bytes(one.clone()),
                values: None,
            },
            many => ArgsInner {
                joined: Text::from_bytes(many.join(&b' ')),
                values: Some(many.iter().map(|v| Text::from_bytes(v.clone())).collect()),
            },
        }))
    }

    /// The values, in source order.
    pub fn values(&self) -> &[Text] {
        match &self.0.values {
            Some(v) => v,
            None => std::slice::from_ref(&self.0.joined),
        }
    }

    /// The values joined by spaces.
    pub fn joined(&self) -> &Text {
        &self.0.joined
    }
}

impl std::ops::Deref for Args {
    type Target = Text;

    fn deref(&self) -> &Text {
        &self.0.joined
    }
}

impl From<&str> for Args {
    /// One value.
    fn from(s: &str) -> Args {
        Args(Arc::new(ArgsInner {
            joined: s.into(),
            values: None,
        }))
    }
}

impl fmt::Display for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.joined.as_str())
    }
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.values(), f)
    }
}

/// How a running attempt is known in records, events and logs: a pid on this machine, a
/// backend's own name elsewhere (`host:pid`, a Slurm step id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Handle {
    /// A process on this machine.
    Pid(u32),
    /// A backend's own identifier.
    Named(Arc<str>),
}

impl Handle {
    /// The pid, when the attempt is a process on this machine.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Handle::Pid(p) => Some(*p),
            Handle::Named(_) => None,
        }
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handle::Pid(p) => p.fmt(f),
            Handle::Named(n) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_bytes_that_are_not_utf8() {
        let plain = Text::from_bytes(b"echo a".to_vec());
        assert_eq!(
            (plain.as_str(), plain.as_bytes()),
            ("echo a", &b"echo a"[..])
        );
        assert_eq!(plain.non_utf8_bytes(), None);
        let raw = Text::from_bytes(b"echo caf\xe9".to_vec());
        assert_eq!(raw.as_str(), "echo caf\u{fffd}");
        assert_eq!(raw.as_bytes(), b"echo caf\xe9");
        assert_eq!(raw.non_utf8_bytes(), Some(&b"echo caf\xe9"[..]));
        assert_eq!(format!("{raw:?}"), r#"b"echo caf\xe9""#);
        assert_eq!(Text::from("x"), Text::from_bytes(b"x".to_vec()));
    }
}
