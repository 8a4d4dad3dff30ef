//! fanout's stdout and stderr, shared by the reporters on the reporter thread. stdout is
//! buffered and flushed whenever no event is waiting, so bursts of small outputs cost few
//! writes; anything written while a progress bar is shown suspends the bar first, so the bar is
//! never torn, and output that leaves a line open parks the bar until a line is ended.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use super::bar::Bar;

struct Inner {
    out: BufWriter<File>,
    bar: Option<Bar>,
    /// stdout is a terminal (the bar's, presumably): its open lines park the bar.
    stdout_tty: bool,
}

/// A write that leaves a line open on the screen (`-u`, `printf abc`) parks the bar: drawn
/// after it, the bar would be cleared with the line. The next write that ends a line brings it
/// back.
fn park_for(bar: &Bar, data: &[u8]) {
    if let Some(&last) = data.last() {
        bar.park(last != b'\n');
    }
}

/// A cheap handle to the console.
#[derive(Clone)]
pub(crate) struct Console {
    inner: Arc<Mutex<Inner>>,
}

impl Console {
    /// Takes over stdout (a duplicate of fd 1, so Rust's line-buffered `Stdout` is bypassed).
    pub fn new(bar: Option<Bar>) -> std::io::Result<Console> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Console {
            inner: Arc::new(Mutex::new(Inner {
                out: BufWriter::with_capacity(64 * 1024, File::from(fd)),
                bar,
                stdout_tty: std::io::IsTerminal::is_terminal(&std::io::stdout()),
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("console users never panic while holding it")
    }

    /// Writes to stdout.
    pub fn out(&self, data: &[u8]) -> std::io::Result<()> {
        let mut i = self.lock();
        match i.bar.clone() {
            Some(bar) => bar.suspend(|| {
                i.out.write_all(data)?;
                i.out.flush()?;
                if i.stdout_tty {
                    park_for(&bar, data);
                }
                Ok(())
            }),
            None => i.out.write_all(data),
        }
    }

    /// Writes to stderr, after what is buffered for stdout (so a job's stdout comes first).
    /// Only a stdout error is returned: a stderr that cannot be written (a closed terminal,
    /// a full disk) loses what was for it, and the run goes on.
    pub fn err(&self, data: &[u8]) -> std::io::Result<()> {
        let mut i = self.lock();
        i.out.flush()?;
        let write = || {
            let mut e = std::io::stderr().lock();
            let _ = e.write_all(data).and_then(|()| e.flush());
        };
        match i.bar.clone() {
            Some(bar) => bar.suspend(|| {
                write();
                park_for(&bar, data);
            }),
            None => write(),
        }
        Ok(())
    }

    /// Flushes stdout.
    pub fn flush(&self) -> std::io::Result<()> {
        self.lock().out.flush()
    }
}
