//! Supervises one running attempt until it ends, over any executor: `--timeout` with the
//! terminate sequence, `--slow` warnings, and the run's cancellation (a halt follows the
//! terminate sequence; a signal is forwarded, then KILL after the grace; a second signal
//! kills at once). It decides when a signal is sent; the attempt decides how.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::{Instant, sleep_until};

use super::Shared;
use crate::cancel::CancelReason;
use crate::exec::{Attempt, Exit};
use crate::job::{JobId, JobOutcome};
use crate::report::events::RunEvent;

/// Why fanout is ending an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    Timeout,
    Cancel,
}

/// How a supervised attempt ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ended {
    pub exit: Exit,
    /// Set when fanout ended it.
    pub ending: Option<Ending>,
    /// The signal forwarded on interruption, if one was.
    pub forwarded: Option<i32>,
}

impl Ended {
    /// The attempt's outcome.
    pub fn outcome(self) -> JobOutcome {
        let signal = match self.exit {
            Exit::Signal(s) => Some(s),
            _ => None,
        };
        match (self.ending, self.exit) {
            // A job past its timeout is timed out even if it caught the signal and exited 0.
            (Some(Ending::Timeout), _) => JobOutcome::TimedOut { signal },
            (_, Exit::Code(0)) => JobOutcome::Success,
            (Some(Ending::Cancel), _) => JobOutcome::Cancelled {
                signal: signal.or(self.forwarded),
            },
            (None, Exit::Code(code)) => JobOutcome::Failed { code },
            (None, Exit::Signal(signal)) => JobOutcome::Signaled { signal },
            // Lost with its place on every place that was tried (ssh's own 255).
            (None, Exit::Lost) => JobOutcome::Failed { code: 255 },
            (None, _) => JobOutcome::Failed { code: -1 },
        }
    }
}

/// Waits for `attempt` to end, started at `t0`, sending it the signals the run's timing asks
/// for.
pub(crate) async fn supervise(
    shared: &Shared,
    attempt: &mut dyn Attempt,
    id: JobId,
    command: &Arc<str>,
    t0: Instant,
) -> Ended {
    let config = &shared.config;
    let mut cancel = shared.cancel.subscribe();
    // A cancellation that came while this job was being started must still reach it.
    cancel.mark_changed();
    // The instants below are on the attempt's own clock, which stands still while the run is
    // stopped (Ctrl-Z): `now()` is the real time less the stopped time since the start, and a
    // timer set for `v` sleeps until `v` plus the stopped time.
    let stopped_before = shared.pause.stopped();
    let shift = || shared.pause.stopped().saturating_sub(stopped_before);
    let now = || Instant::now() - shift();
    let mut deadline = config.timeout.map(|t| t0 + t);
    // `--timeout N%`: the deadline follows the median of the successful runtimes.
    let mut median = config
        .timeout_percent
        .map(|p| (p, shared.median.subscribe()));
    if let Some((p, rx)) = &mut median {
        deadline = rx.borrow_and_update().map(|m| t0 + m.mul_f64(*p / 100.0));
    }
    let mut slow_at = config.slow.map(|s| t0 + s);
    // The signals still to send (last first), and when to send the next one.
    let mut plan: Vec<(Signal, Duration)> = Vec::new();
    let mut next_at: Option<Instant> = None;
    let mut ending: Option<Ending> = None;
    let mut forwarded = None;
    let far = t0 + Duration::from_secs(86400 * 365);
    let mut cancel_open = true;
    let termseq = || config.termseq.0.iter().rev().cloned().collect::<Vec<_>>();
    loop {
        // What to do once the select has let go of the attempt.
        enum Step {
            Exited(Exit),
            Timeout,
            Next,
            Slow,
            Cancel(Option<CancelReason>),
            /// The median runtime changed (`--timeout N%`), or can no longer change.
            Median(bool),
            /// The run's cancellation can no longer change.
            Closed,
            Nothing,
        }
        let shifted = shift();
        // A timer that fires early (the run was stopped meanwhile) is set again.
        let due = |at: Option<Instant>, step: Step| match at {
            Some(at) if now() >= at => step,
            _ => Step::Nothing,
        };
        let step = tokio::select! {
            exit = attempt.wait() => Step::Exited(exit),
            _ = sleep_until(deadline.unwrap_or(far) + shifted), if deadline.is_some() && ending.is_none() => due(deadline, Step::Timeout),
            _ = sleep_until(next_at.unwrap_or(far) + shifted), if next_at.is_some() => due(next_at, Step::Next),
            _ = sleep_until(slow_at.unwrap_or(far) + shifted), if slow_at.is_some() => due(slow_at, Step::Slow),
            changed = async { median.as_mut().expect("guarded").1.changed().await }, if median.is_some() => Step::Median(changed.is_ok()),
            changed = cancel.changed(), if cancel_open => match changed {
                Ok(()) => Step::Cancel(*cancel.borrow_and_update()),
                Err(_) => Step::Closed,
            },
        };
        match step {
            Step::Exited(exit) => {
                return Ended {
                    exit,
                    ending,
                    forwarded,
                };
            }
            Step::Timeout => {
                ending = Some(Ending::Timeout);
                plan = termseq();
                next_at = Some(now());
            }
            Step::Next => match plan.pop() {
                Some((sig, wait)) => {
                    attempt.signal(sig);
                    next_at = Some(now() + wait);
                }
                None => next_at = None,
            },
            Step::Slow => {
                let period = config.slow.expect("slow_at is set only with --slow");
                slow_at = slow_at.map(|s| s + period);
                shared
                    .emit(RunEvent::JobSlow {
                        id,
                        elapsed: now() - t0,
                        command: command.clone(),
                    })
                    .await;
            }
            Step::Cancel(reason) => match reason {
                Some(
                    CancelReason::HaltNow | CancelReason::ReportFailed | CancelReason::OutputClosed,
                ) if ending.is_none() => {
                    ending = Some(Ending::Cancel);
                    plan = termseq();
                    next_at = Some(now());
                }
                Some(CancelReason::Signal(sig)) => {
                    ending = Some(Ending::Cancel);
                    forwarded = Some(sig);
                    attempt.signal(Signal::try_from(sig).unwrap_or(Signal::SIGTERM));
                    plan = vec![(Signal::SIGKILL, Duration::ZERO)];
                    next_at = Some(now() + config.grace);
                }
                Some(CancelReason::SecondSignal(_)) => {
                    ending = Some(Ending::Cancel);
                    attempt.signal(Signal::SIGKILL);
                }
                _ => {}
            },
            Step::Median(open) => match &mut median {
                Some((p, rx)) if open => {
                    deadline = rx.borrow_and_update().map(|m| t0 + m.mul_f64(*p / 100.0));
                }
                _ => median = None,
            },
            Step::Nothing => {}
            Step::Closed => cancel_open = false,
        }
    }
}
