//! Turns SIGINT, SIGTERM and SIGHUP into cancellation. Handlers are installed explicitly (not
//! only `ctrl_c()`), which also makes them work when fanout is PID 1, where an unhandled signal
//! is ignored.

use tokio::signal::unix::{SignalKind, signal};

use crate::cancel::{Cancel, CancelReason};

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

/// Keeps the signals fanout handles (and SIGCHLD, one per job that ends) away from the calling
/// thread, for the threads that do blocking work beside the runtimes: the kernel then delivers
/// them to a runtime thread, which wakes for them anyway, instead of waking a sleeping helper
/// thread per job. Never for a thread that spawns jobs: a child inherits the blocked mask.
pub(crate) fn block_in_helper_thread() {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
    ] {
        set.add(sig);
    }
    // Only fails for an invalid `how`; a helper thread that keeps the signals still works.
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None);
}
