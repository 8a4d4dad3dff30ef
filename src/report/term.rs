//! stderr as shared by the progress bar and the log lines: a slot where the bar is registered
//! once it exists, a `tracing` writer that suspends that bar around every log line (so a line
//! never tears the bar), and the draw target used when `--progress` forces a bar onto a stderr
//! that is not a terminal. Nothing here decides whether a bar is shown (see `progress.rs`).

use std::io::Write;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, TermLike};

/// Where the progress bar is registered while it is shown, shared by the log writer (set up
/// before the run) and the session (which creates the bar).
#[derive(Clone, Default)]
pub struct BarSlot(Arc<Mutex<Option<ProgressBar>>>);

impl std::fmt::Debug for BarSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() {
            "BarSlot(bar)"
        } else {
            "BarSlot(empty)"
        })
    }
}

impl BarSlot {
    /// Registers the bar (or none).
    pub fn set(&self, bar: Option<ProgressBar>) {
        *self.0.lock().expect("bar slot users never panic") = bar;
    }

    /// The bar, if one is shown.
    pub fn get(&self) -> Option<ProgressBar> {
        self.0.lock().expect("bar slot users never panic").clone()
    }

    /// A `tracing` writer for stderr that suspends the bar around each line.
    pub fn stderr_writer(&self) -> SuspendingStderr {
        SuspendingStderr { slot: self.clone() }
    }
}

/// A `MakeWriter` for stderr: each log event is gathered whole, then written in one piece with
/// the bar (if any) suspended.
#[derive(Clone)]
pub struct SuspendingStderr {
    slot: BarSlot,
}

/// One log event on its way to stderr; written when dropped.
pub struct LineWriter {
    slot: BarSlot,
    buf: Vec<u8>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SuspendingStderr {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            slot: self.slot.clone(),
            buf: Vec::with_capacity(256),
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let write = || {
            let mut e = std::io::stderr().lock();
            // A log line that cannot be written has nowhere else to go.
            let _ = e.write_all(&self.buf);
            let _ = e.flush();
        };
        match self.slot.get() {
            Some(bar) if !bar.is_hidden() => bar.suspend(write),
            _ => write(),
        }
    }
}

/// The draw target for a bar: stderr, drawn only when it is a terminal, or drawn regardless
/// (`--progress` on a pipe or file: the user asked for the escape codes).
pub fn draw_target(force: bool) -> ProgressDrawTarget {
    if force && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressDrawTarget::term_like_with_hz(Box::new(ForcedStderr), 10)
    } else {
        ProgressDrawTarget::stderr_with_hz(10)
    }
}

/// stderr treated as an ANSI terminal whatever it is.
#[derive(Debug)]
struct ForcedStderr;

impl ForcedStderr {
    fn put(&self, s: &str) -> std::io::Result<()> {
        std::io::stderr().lock().write_all(s.as_bytes())
    }
}

impl TermLike for ForcedStderr {
    fn width(&self) -> u16 {
        std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(80)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}A"))
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}B"))
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}C"))
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        self.put(&format!("\x1b[{n}D"))
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.put(s)?;
        self.put("\n")
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.put(s)
    }

    fn clear_line(&self) -> std::io::Result<()> {
        self.put("\r\x1b[2K")
    }

    fn flush(&self) -> std::io::Result<()> {
        std::io::stderr().lock().flush()
    }
}
