//! The run's cancellation state: a reason that only ever escalates (nextest's `begin_cancel`),
//! broadcast with a `watch` channel so every running job sees the newest one.

use tokio::sync::watch;

/// Why the run stopped starting jobs before its input ran out, weakest first: a reason only
/// ever gives way to a stronger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CancelReason {
    /// stdout was closed by its reader (`fanout ... | head`): stop quietly.
    OutputClosed,
    /// `--halt soon` was triggered.
    HaltSoon,
    /// No place could start a job (every ssh host is down): no new job starts, the running
    /// ones finish.
    NoPlace,
    /// `--halt now` was triggered.
    HaltNow,
    /// fanout could not go on: a joblog or results write error, or an input read error.
    ReportFailed,
    /// A signal was received; running jobs get it forwarded.
    Signal(i32),
    /// A second signal: everything is killed at once.
    SecondSignal(i32),
}

/// A cloneable handle to cancel the run. Tests and embedders pass their own; `main` wires
/// signals to it.
#[derive(Debug, Clone)]
pub struct Cancel {
    tx: watch::Sender<Option<CancelReason>>,
}

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    /// A run not cancelled yet.
    pub fn new() -> Cancel {
        Cancel {
            tx: watch::channel(None).0,
        }
    }

    /// Raises the cancellation to `reason` unless a stronger one is already in force. Returns
    /// true when it changed.
    pub fn escalate(&self, reason: CancelReason) -> bool {
        self.tx.send_if_modified(|cur| match cur {
            Some(c) if *c >= reason => false,
            _ => {
                *cur = Some(reason);
                true
            }
        })
    }

    /// The reason in force, if any.
    pub fn reason(&self) -> Option<CancelReason> {
        *self.tx.borrow()
    }

    /// A receiver that sees every escalation.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Option<CancelReason>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_escalates() {
        let c = Cancel::new();
        assert!(c.escalate(CancelReason::HaltSoon));
        assert!(c.escalate(CancelReason::Signal(15)));
        assert!(!c.escalate(CancelReason::HaltNow));
        assert_eq!(c.reason(), Some(CancelReason::Signal(15)));
        assert!(c.escalate(CancelReason::SecondSignal(2)));
    }
}
