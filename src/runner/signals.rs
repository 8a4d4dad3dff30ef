//! Turns SIGINT, SIGTERM and SIGHUP into cancellation. Handlers are installed explicitly (not
//! only `ctrl_c()`), which also makes them work when fanout is PID 1, where an unhandled signal
//! is ignored.

use tokio::signal::unix::{SignalKind, signal};

use super::cancel::Cancel;
use crate::report::events::CancelReason;

/// Listens until the process ends: the first signal cancels with `Signal(n)` (forwarded to the
/// jobs, then killed after the grace period), a second SIGINT or SIGTERM kills at once.
pub async fn listen(cancel: Cancel) -> std::io::Result<()> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut seen = false;
    loop {
        let (sig, second_kills) = tokio::select! {
            _ = int.recv() => (libc::SIGINT, true),
            _ = term.recv() => (libc::SIGTERM, true),
            _ = hup.recv() => (libc::SIGHUP, false),
        };
        if !seen {
            seen = true;
            cancel.escalate(CancelReason::Signal(sig));
        } else if second_kills {
            cancel.escalate(CancelReason::SecondSignal(sig));
        }
    }
}
