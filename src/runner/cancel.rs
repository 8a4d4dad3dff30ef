//! The run's cancellation state: a reason that only ever escalates (nextest's `begin_cancel`),
//! broadcast with a `watch` channel so every running job sees the newest one.

use tokio::sync::watch;

use crate::report::events::CancelReason;

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

    pub fn subscribe(&self) -> watch::Receiver<Option<CancelReason>> {
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
