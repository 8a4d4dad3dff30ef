//! An executor that starts no process: each attempt plays a [`Script`] (output, a run time, an
//! exit, how it answers each signal) on tokio's clock, so with `tokio::time::pause()` the
//! runner's timing (timeouts, the terminate sequence, grace, retries, `--slow`) is tested to
//! the instant and in no time. It logs what it was asked to do ([`FakeEvent`]). Built for
//! tests and with the `testing` feature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::{
    Attempt, Executor, Exit, Handle, OutputStream, Place, Signal, StartError, StartRequest,
};
use crate::job::JobId;

/// What one attempt does.
#[derive(Debug, Clone)]
pub struct Script {
    exit: Exit,
    runs_for: Duration,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// How the attempt answers a signal: not listed, it dies of it.
    answers: Vec<(Signal, Answer)>,
    /// Starts that fail before one succeeds.
    start_failures: Vec<StartFailure>,
}

/// How a scripted attempt answers a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// It goes on as if nothing came (SIGKILL cannot be ignored: it always ends the attempt).
    Ignore,
    /// It ends with this exit.
    Exit(Exit),
}

/// A start that fails, scripted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartFailure {
    /// [`StartError::Shortage`].
    Shortage,
    /// [`StartError::Job`] with this code.
    Job(i32),
}

impl Script {
    /// An attempt that ends at once with `code`.
    pub fn exit(code: i32) -> Script {
        Script {
            exit: Exit::Code(code),
            runs_for: Duration::ZERO,
            stdout: Vec::new(),
            stderr: Vec::new(),
            answers: Vec::new(),
            start_failures: Vec::new(),
        }
    }

    /// It runs for `d` before it ends.
    pub fn runs_for(mut self, d: Duration) -> Script {
        self.runs_for = d;
        self
    }

    /// It writes `data` to stdout.
    pub fn stdout(mut self, data: impl Into<Vec<u8>>) -> Script {
        self.stdout = data.into();
        self
    }

    /// It writes `data` to stderr.
    pub fn stderr(mut self, data: impl Into<Vec<u8>>) -> Script {
        self.stderr = data.into();
        self
    }

    /// It answers `signal` with `answer`.
    pub fn on(mut self, signal: Signal, answer: Answer) -> Script {
        self.answers.push((signal, answer));
        self
    }

    /// Its first starts fail like this, one per entry, before one succeeds.
    pub fn failing_starts(mut self, failures: impl IntoIterator<Item = StartFailure>) -> Script {
        self.start_failures.extend(failures);
        self
    }
}

/// What the fake executor was asked to do, and when (on tokio's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeEvent {
    /// An attempt started.
    Started {
        /// The job.
        id: JobId,
        /// Its attempt number.
        attempt: u32,
        /// The place's name.
        place: Arc<str>,
        /// When.
        at: Instant,
    },
    /// A start failed (scripted, or at a failing place).
    StartFailed {
        /// The job.
        id: JobId,
        /// The place's name.
        place: Arc<str>,
        /// When.
        at: Instant,
    },
    /// A signal was delivered to a running attempt.
    Signalled {
        /// The job.
        id: JobId,
        /// The signal.
        signal: Signal,
        /// When.
        at: Instant,
    },
    /// An attempt ended.
    Ended {
        /// The job.
        id: JobId,
        /// How.
        exit: Exit,
        /// The place's name.
        place: Arc<str>,
        /// When.
        at: Instant,
    },
}

type ScriptFn = dyn Fn(&StartRequest<'_>) -> Script + Send + Sync;

struct Inner {
    places: Vec<Place>,
    /// Place changes to play: after each wait (from the previous change), these places.
    changes: Vec<(Duration, Vec<Place>)>,
    /// The places now, once a change was played.
    current: Mutex<Option<Vec<Place>>>,
    played: std::sync::atomic::AtomicUsize,
    failing_places: Vec<usize>,
    script: Box<ScriptFn>,
    log: Mutex<Vec<FakeEvent>>,
    /// Failed starts so far, per job.
    start_failures: Mutex<HashMap<JobId, usize>>,
}

/// The fake executor; clones share one log.
#[derive(Clone)]
pub struct FakeExecutor {
    inner: Arc<Inner>,
}

impl FakeExecutor {
    /// An executor with one place, `fake`, with room for any number of jobs, whose attempts
    /// play what `script` gives for each start.
    pub fn new(script: impl Fn(&StartRequest<'_>) -> Script + Send + Sync + 'static) -> Self {
        FakeExecutor {
            inner: Arc::new(Inner {
                places: vec![Place::new("fake", usize::MAX)],
                changes: Vec::new(),
                current: Mutex::new(None),
                played: Default::default(),
                failing_places: Vec::new(),
                script: Box::new(script),
                log: Mutex::new(Vec::new()),
                start_failures: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::get_mut(&mut self.inner).expect("places are set before the executor is shared")
    }

    /// Runs at these places instead.
    pub fn with_places(mut self, places: Vec<Place>) -> Self {
        self.inner_mut().places = places;
        self
    }

    /// `after` the previous change (or the first call of `places_changed`), the places
    /// become `places`; the total slots are then the sum of the places' slots.
    pub fn changing_places(mut self, after: Duration, places: Vec<Place>) -> Self {
        self.inner_mut().changes.push((after, places));
        self
    }

    fn current_places(&self) -> Vec<Place> {
        let current = self.inner.current.lock().expect("never poisoned");
        current.clone().unwrap_or_else(|| self.inner.places.clone())
    }

    /// Every start at place `index` fails as a failure of the place.
    pub fn failing_place(mut self, index: usize) -> Self {
        self.inner_mut().failing_places.push(index);
        self
    }

    /// Everything logged so far.
    pub fn log(&self) -> Vec<FakeEvent> {
        self.inner.log.lock().expect("never poisoned").clone()
    }

    /// How many attempts started.
    pub fn starts(&self) -> usize {
        self.log()
            .iter()
            .filter(|e| matches!(e, FakeEvent::Started { .. }))
            .count()
    }

    /// The most attempts that ran at once at the place named `place`.
    pub fn most_running_at(&self, place: &str) -> usize {
        let (mut now, mut most) = (0usize, 0usize);
        for e in self.log() {
            match e {
                FakeEvent::Started { place: p, .. } if &*p == place => now += 1,
                FakeEvent::Ended { place: p, .. } if &*p == place => now -= 1,
                _ => {}
            }
            most = most.max(now);
        }
        most
    }

    fn note(&self, e: FakeEvent) {
        self.inner.log.lock().expect("never poisoned").push(e);
    }
}

impl Executor for FakeExecutor {
    fn places(&self) -> Vec<Place> {
        self.current_places()
    }

    fn places_changed(&self) -> BoxFuture<'_, Vec<Place>> {
        Box::pin(async move {
            let next = self
                .inner
                .played
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((after, places)) = self.inner.changes.get(next) else {
                return std::future::pending().await;
            };
            tokio::time::sleep(*after).await;
            *self.inner.current.lock().expect("never poisoned") = Some(places.clone());
            places.clone()
        })
    }

    fn total_slots(&self, jobs: usize) -> usize {
        match self.inner.changes.is_empty() {
            true => jobs,
            false => self.current_places().iter().map(|p| p.slots).sum(),
        }
    }

    fn start<'a>(
        &'a self,
        request: StartRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Attempt>, StartError>> {
        let place: Arc<str> = self.current_places()[request.place].name.clone();
        let failed = |me: &Self| {
            me.note(FakeEvent::StartFailed {
                id: request.id,
                place: place.clone(),
                at: Instant::now(),
            })
        };
        if self.inner.failing_places.contains(&request.place) {
            failed(self);
            let message = format!("{place} is down");
            return Box::pin(async move { Err(StartError::Place { message }) });
        }
        let script = (self.inner.script)(&request);
        let failure = {
            let mut counts = self.inner.start_failures.lock().expect("never poisoned");
            let n = counts.entry(request.id).or_default();
            let f = script.start_failures.get(*n).cloned();
            if f.is_some() {
                *n += 1;
            }
            f
        };
        if let Some(f) = failure {
            failed(self);
            let e = match f {
                StartFailure::Shortage => StartError::Shortage {
                    message: "scripted shortage".into(),
                },
                StartFailure::Job(code) => StartError::Job {
                    code,
                    message: format!("fake: cannot start (exit {code})\n"),
                },
            };
            return Box::pin(async move { Err(e) });
        }
        let at = Instant::now();
        self.note(FakeEvent::Started {
            id: request.id,
            attempt: request.attempt,
            place: place.clone(),
            at,
        });
        let attempt = FakeAttempt {
            executor: self.clone(),
            id: request.id,
            place,
            ends_at: at + script.runs_for,
            script,
            ended: None,
        };
        Box::pin(async move { Ok(Box::new(attempt) as Box<dyn Attempt>) })
    }
}

struct FakeAttempt {
    executor: FakeExecutor,
    id: JobId,
    place: Arc<str>,
    script: Script,
    ends_at: Instant,
    /// Set by a signal that ends it.
    ended: Option<Exit>,
}

impl Attempt for FakeAttempt {
    fn handle(&self) -> Handle {
        Handle::Named(format!("fake:{}", self.id).into())
    }

    fn take_output(&mut self) -> (OutputStream, OutputStream) {
        let out = std::io::Cursor::new(std::mem::take(&mut self.script.stdout));
        let err = std::io::Cursor::new(std::mem::take(&mut self.script.stderr));
        (Box::pin(out), Box::pin(err))
    }

    fn signal(&mut self, signal: Signal) {
        self.executor.note(FakeEvent::Signalled {
            id: self.id,
            signal,
            at: Instant::now(),
        });
        if self.ended.is_some() {
            return;
        }
        let answer = self
            .script
            .answers
            .iter()
            .find(|(s, _)| *s == signal)
            .map(|(_, a)| *a);
        self.ended = match (signal, answer) {
            (Signal::SIGKILL, _) => Some(Exit::Signal(Signal::SIGKILL as i32)),
            (_, Some(Answer::Ignore)) => None,
            (_, Some(Answer::Exit(e))) => Some(e),
            (s, None) => Some(Exit::Signal(s as i32)),
        };
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(async move {
            let exit = match self.ended {
                Some(e) => e,
                None => {
                    tokio::time::sleep_until(self.ends_at).await;
                    self.script.exit
                }
            };
            self.executor.note(FakeEvent::Ended {
                id: self.id,
                exit,
                place: self.place.clone(),
                at: Instant::now(),
            });
            exit
        })
    }
}
