//! fanout's stdout and stderr, shared by the reporters on the reporter thread. stdout is
//! buffered and flushed whenever no event is waiting, so bursts of small outputs cost few
//! writes; anything written while a progress bar is shown suspends the bar first, so the bar is
//! never torn.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};

use super::bar::Bar;

struct Inner {
    out: BufWriter<File>,
    bar: Option<Bar>,
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
                i.out.flush()
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
            Some(bar) => bar.suspend(write),
            None => write(),
        }
        Ok(())
    }

    /// Flushes stdout.
    pub fn flush(&self) -> std::io::Result<()> {
        self.lock().out.flush()
    }
}
