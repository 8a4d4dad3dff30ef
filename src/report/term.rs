//! stderr as shared by the progress bar and the log lines: a slot where the bar is registered
//! once it exists, a `tracing` writer that suspends that bar around every log line (so a line
//! never tears the bar), and the bar's terminal: stderr with two columns left free, parked
//! while a job's output leaves a line open, each frame drawn so that neither a resize nor an
//! echoed `^C` leaves pieces of it behind. Nothing here decides whether a bar is shown (see
//! `bar.rs`).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressDrawTarget, TermLike};

/// Where the progress bar is registered while it is shown, shared by the log writer (set up
/// before the run) and the session (which creates the bar).
#[derive(Clone, Default)]
pub struct BarSlot(Arc<Mutex<Option<ShownBar>>>);

/// A shown bar and its terminal's state.
type ShownBar = (ProgressBar, Arc<BarState>);

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
    /// Registers the bar and its terminal's state (or none).
    pub(crate) fn set(&self, bar: Option<ShownBar>) {
        *self.0.lock().expect("bar slot users never panic") = bar;
    }

    /// The bar, if one is shown.
    pub fn get(&self) -> Option<ProgressBar> {
        self.shown().map(|(bar, _)| bar)
    }

    fn shown(&self) -> Option<ShownBar> {
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
        match self.slot.shown() {
            Some((bar, state)) if !bar.is_hidden() => bar.suspend(|| {
                write();
                // A log line ends the line a job's output left open: the bar may come back.
                if self.buf.ends_with(b"\n") {
                    state.park(false);
                }
            }),
            _ => write(),
        }
    }
}

/// Columns left free at the right of the bar's line: a `^C` echoed after the line stays on
/// it (a line as wide as the terminal made the echo wrap, and the wrong line was cleared).
const FREE_COLUMNS: usize = 2;

/// What the bar's terminal knows between draws: whether it is parked (a job left a line open
/// on the screen: nothing is drawn until it is ended).
#[derive(Debug, Default)]
pub(crate) struct BarState {
    parked: AtomicBool,
}

impl BarState {
    /// The columns the bar's line may use.
    pub fn width(&self) -> usize {
        real_width().saturating_sub(FREE_COLUMNS).max(1)
    }

    /// Draws nothing while `parked`.
    pub fn park(&self, parked: bool) {
        self.parked.store(parked, Ordering::Relaxed);
    }

    /// Whether drawing is parked.
    pub fn parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }
}

/// The terminal's width: stderr's when it is a terminal, else `COLUMNS`, else 80.
fn real_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map(|(_, w)| w as usize)
        .filter(|&w| w > 0)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(80)
}

/// The draw target for a bar, and its state: stderr, with [`FREE_COLUMNS`] left free, drawn
/// whatever stderr is (the caller decides whether a bar is wanted: `--progress` on a pipe or
/// file asks for the escape codes).
pub(crate) fn draw_target() -> (ProgressDrawTarget, Arc<BarState>) {
    let state = Arc::new(BarState::default());
    let term = BarTerm {
        state: state.clone(),
        frame: Mutex::new(String::new()),
    };
    let target = ProgressDrawTarget::term_like_with_hz(Box::new(term), 10);
    (target, state)
}

/// stderr as the bar's terminal. Each frame is gathered and written in one piece, with line
/// wrapping off (DECAWM) while it is written and the cursor put back at the start of the line:
/// - a frame laid out for a width the terminal no longer has (the window shrank, and the
///   size has not reached us yet) is cut at the margin instead of wrapping onto a second row;
/// - when a resize rewraps the drawn line into several rows (tmux, VTE, kitty... do), the
///   cursor stays on the first of them (tmux pushes the rows above a cursor on the top row
///   into the scrollback instead), and the next frame's erase-below (`ESC [J`) takes them
///   all, on any terminal, without having to know whether it rewraps;
/// - a `^C` echoed by the terminal lands on the line itself, and is cleared with it.
///
/// One write per frame also means no frame is left half drawn with wrapping off.
#[derive(Debug)]
struct BarTerm {
    state: Arc<BarState>,
    frame: Mutex<String>,
}

impl BarTerm {
    fn push(&self, s: &str) {
        self.frame
            .lock()
            .expect("bar users never panic")
            .push_str(s);
    }

    fn moved(&self, n: usize, code: char) -> std::io::Result<()> {
        if n > 0 {
            self.push(&format!("\x1b[{n}{code}"));
        }
        Ok(())
    }
}

impl TermLike for BarTerm {
    fn width(&self) -> u16 {
        self.state.width().min(u16::MAX as usize) as u16
    }

    fn height(&self) -> u16 {
        console::Term::stderr()
            .size_checked()
            .map(|(h, _)| h)
            .unwrap_or(24)
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'A')
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'B')
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'C')
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.moved(n, 'D')
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.push(s);
        self.push("\n");
        Ok(())
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.push(s);
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        // The bar is the last thing on the screen: its line and every row below are its. The
        // erase-below starts one column in: from the top left corner it would be a clear of
        // the whole screen, which tmux (scroll-on-clear) copies into the scrollback first.
        self.push("\r\x1b[2K\x1b[C\x1b[J\r");
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        let frame = std::mem::take(&mut *self.frame.lock().expect("bar users never panic"));
        if frame.is_empty() || self.state.parked() {
            // Parked: a job's output holds the line; neither draw over it nor clear it.
            return Ok(());
        }
        let mut e = std::io::stderr().lock();
        e.write_all(format!("\x1b[?7l{frame}\r\x1b[?7h").as_bytes())?;
        e.flush()
    }
}
