//! Ctrl-Z and `fg`: the time a run spends stopped. On SIGTSTP the runner stops every job
//! (through the executor), then fanout itself; on SIGCONT it continues them. The clock here
//! keeps the stopped time, so that `--timeout`, `--slow` and the terminate sequence count only
//! the time the jobs could run (nextest does the same).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::Shared;
use crate::report::events::RunEvent;

#[derive(Debug, Default)]
struct State {
    /// When the current stop began, while stopped.
    since: Option<Instant>,
    /// Every finished stop, added up.
    total: Duration,
}

/// The run's stopped time. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct PauseClock(Arc<Mutex<State>>);

impl PauseClock {
    /// All the time stopped so far, the current stop included.
    pub fn stopped(&self) -> Duration {
        let s = self.0.lock().expect("never poisoned");
        s.total + s.since.map_or(Duration::ZERO, |t| t.elapsed())
    }

    fn stop(&self) {
        let mut s = self.0.lock().expect("never poisoned");
        s.since.get_or_insert_with(Instant::now);
    }

    /// Ends the current stop; returns how long it lasted.
    fn cont(&self) -> Duration {
        let mut s = self.0.lock().expect("never poisoned");
        let d = s.since.take().map_or(Duration::ZERO, |t| t.elapsed());
        s.total += d;
        d
    }
}

/// Runs for the whole run (when `Config::job_control` is on): stops the jobs and fanout on
/// SIGTSTP, continues them on SIGCONT.
pub(crate) async fn job_control(shared: Arc<Shared>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut tstp), Ok(mut cont)) = (
        signal(SignalKind::from_raw(libc::SIGTSTP)),
        signal(SignalKind::from_raw(libc::SIGCONT)),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = tstp.recv() => {
                shared.pause.stop();
                shared.executor.suspend();
                shared.emit(RunEvent::Stopped).await;
                // Stops every thread of fanout until a SIGCONT (`fg`, `kill -CONT`).
                let _ = nix::sys::signal::raise(Signal::SIGSTOP);
                resume(&shared).await;
            }
            _ = cont.recv() => resume(&shared).await,
        }
    }
}

async fn resume(shared: &Shared) {
    let stopped_for = shared.pause.cont();
    shared.executor.resume();
    if !stopped_for.is_zero() {
        shared.emit(RunEvent::Continued { stopped_for }).await;
    }
}
