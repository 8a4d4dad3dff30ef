//! One job from its first attempt to its record: renders it, starts attempts through the
//! executor (waiting out shortages, moving to another place when a place fails), supervises
//! each one, reads its output, and retries with `--retries` and its back-off.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::Shared;
use super::drain::{self, Drained};
use super::places::Placement;
use super::supervise::supervise;
use crate::cancel::CancelReason;
use crate::config::OutputMode;
use crate::exec::{Attempt, Exit, StartError, StartRequest};
use crate::job::{Args, Job, JobOutcome, JobRecord, JobSpec, Text};
use crate::report::events::{Captured, RunEvent, Stream};

/// How long a finished attempt's output may stay open (held by something it left behind)
/// before the executor is asked to end the holders.
const LINGER: Duration = Duration::from_millis(200);
/// How long a start that failed for a shortage (EMFILE, EAGAIN...) is tried again.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// The same when no other job runs: none will end to free what is missing, so waiting long
/// would only stall the run (fanout's own files may be all a low `ulimit -n` allows).
const LONE_START_PATIENCE: Duration = Duration::from_secs(2);
/// The first and the longest wait between starts that met a shortage.
const START_BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(500));

/// One running attempt, counted in [`Shared::running`] while it lives.
struct Live<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> Live<'a> {
    fn new(count: &'a std::sync::atomic::AtomicUsize) -> Live<'a> {
        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Live(count)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The end of one job, ready to merge and report.
pub(crate) struct Finished {
    pub record: JobRecord,
    pub tag: Option<Arc<[u8]>>,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// One attempt's start: where, which, and when.
struct Begun {
    place: Arc<str>,
    attempt: u32,
    start: SystemTime,
    t0: Instant,
}

/// What every attempt of one job shares.
struct JobCtx<'a> {
    shared: &'a Arc<Shared>,
    job: &'a Job,
    slot: u32,
    spec: JobSpec,
    command: Text,
    args: Args,
    tag: Option<Arc<[u8]>>,
}

/// A job's command and tag, rendered once before its first attempt.
pub(crate) struct Rendered {
    spec: JobSpec,
    tag: Option<Arc<[u8]>>,
}

impl Rendered {
    /// True when the job's lines are tagged.
    pub fn tagged(&self) -> bool {
        self.tag.is_some()
    }

    /// Tags the job's lines with `tag` instead (`--onall --tag`: the host).
    pub fn retag(&mut self, tag: &[u8]) {
        self.tag = Some(tag.into());
    }
}

/// Renders `job` for `slot`: its perl expressions are evaluated here, once, so a job that
/// `skip()`s or whose expression dies never starts.
pub(crate) fn render(
    shared: &Shared,
    job: &Job,
    slot: u32,
) -> Result<Rendered, crate::template::RenderError> {
    let mut spec = shared.template.render(job, slot)?;
    if let Some(files) = &shared.files {
        spec.files = Some(files.render(job, slot)?);
    }
    let tag = match (&shared.config.tag, &shared.tag) {
        (_, Some(t)) => Some(t.render_plain(job, slot)?.into()),
        (Some(crate::config::Tag::Args), None) => Some(job.args.join(&b' ').into()),
        _ => None,
    };
    Ok(Rendered { spec, tag })
}

/// Runs `job` in `slot` at the place of `placement` until it succeeds, runs out of retries or
/// the run is cancelled. Gives back the placement (it may have moved; `None` when the job
/// was lost at every place) with the result.
pub(crate) async fn run_job(
    shared: &Arc<Shared>,
    job: Job,
    slot: u32,
    rendered: Rendered,
    mut placement: Placement,
) -> (Finished, Option<Placement>) {
    let Rendered { spec, tag } = rendered;
    let ctx = JobCtx {
        shared,
        job: &job,
        slot,
        command: Text::from_bytes(spec.display_bytes()),
        args: Args::from_values(&job.args),
        tag,
        spec,
    };
    let mut attempt = 1;
    // The places that lost an attempt of this job with their connection, and those where an
    // attempt of it failed.
    let mut lost_on = Vec::new();
    let mut failed_on = Vec::new();
    loop {
        let (fin, lost) = ctx.attempt(&mut placement, attempt).await;
        if lost && shared.cancel.reason().is_none() && !shared.pinned() {
            // Not the job's failure: it starts again at a place that has not lost it, with
            // this place's room given back first (no waiting for room while holding some).
            lost_on.push(placement.index);
            shared
                .emit(RunEvent::PlaceFailed {
                    id: job.id,
                    place: placement.name.clone(),
                    message: "the connection failed while the job ran".into(),
                })
                .await;
            drop(placement);
            let mut cancel = shared.cancel.subscribe();
            let moved = tokio::select! {
                p = shared.places.acquire(&lost_on) => p,
                _ = cancel.wait_for(|c| c.is_some()) => None,
            };
            match moved {
                Some(p) => {
                    placement = p;
                    continue;
                }
                None => {
                    return (fin, None);
                }
            }
        }
        let retry = !fin.record.outcome.is_success()
            && !matches!(fin.record.outcome, JobOutcome::Cancelled { .. })
            && attempt < shared.config.retry.retries
            && shared.cancel.reason().is_none();
        if !retry {
            return (fin, Some(placement));
        }
        let delay = shared.config.retry.delay_before(attempt);
        shared
            .emit(RunEvent::JobRetrying {
                record: Box::new(fin.record.clone()),
                delay,
            })
            .await;
        let mut cancel = shared.cancel.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            // The run is stopping: the failed attempt is the job's result (no retry starts).
            _ = cancel.wait_for(|c| c.is_some()) => {
                return (fin, Some(placement));
            }
        }
        // GNU parallel's --retries: the next attempt runs at a place where this job has not
        // failed yet; when it failed at every one, they all count again (another one first).
        if shared.places.len() > 1 && !shared.pinned() {
            let everywhere = |avoid: &[usize]| (0..shared.places.len()).all(|i| avoid.contains(&i));
            let union = |a: &[usize]| -> Vec<usize> { a.iter().chain(&lost_on).copied().collect() };
            failed_on.push(placement.index);
            let mut avoid = union(&failed_on);
            if everywhere(&avoid) {
                failed_on = vec![placement.index];
                avoid = union(&failed_on);
                if everywhere(&avoid) {
                    avoid = lost_on.clone();
                }
            }
            placement.release();
            let mut cancel = shared.cancel.subscribe();
            let moved = tokio::select! {
                p = shared.places.acquire(&avoid) => p,
                _ = cancel.wait_for(|c| c.is_some()) => None,
            };
            match moved {
                Some(p) => placement = p,
                None => {
                    return (fin, None);
                }
            }
        }
        attempt += 1;
    }
}

impl JobCtx<'_> {
    fn record(
        &self,
        begun: &Begun,
        outcome: JobOutcome,
        handle: Option<crate::exec::Handle>,
        out: &Drained,
        usage: Option<crate::job::Usage>,
    ) -> JobRecord {
        JobRecord {
            id: self.job.id,
            slot: self.slot,
            place: begun.place.clone(),
            handle,
            args: self.args.clone(),
            command: self.command.clone(),
            outcome,
            start: begun.start,
            duration: begun.t0.elapsed(),
            attempts: begun.attempt,
            stdout_bytes: out.stdout_bytes,
            stderr_bytes: out.stderr_bytes,
            usage,
        }
    }

    /// One attempt; true beside its end when its place lost it ([`Exit::Lost`]).
    async fn attempt(&self, placement: &mut Placement, attempt: u32) -> (Finished, bool) {
        let shared = self.shared;
        let (start, t0) = (SystemTime::now(), Instant::now());
        let started = self.start(placement, attempt).await;
        // Where the attempt ran: a failed place may have moved it.
        let mut begun = Begun {
            place: placement.name.clone(),
            attempt,
            start,
            t0,
        };
        let mut running = match started {
            Ok(a) => a,
            Err(e) => return (self.not_started(&begun, e).await, false),
        };
        let _live = Live::new(&shared.running);
        let handle = running.handle();
        if let Some(at) = running.ran_at() {
            begun.place = at;
        }
        shared
            .emit(RunEvent::JobStarted {
                id: self.job.id,
                slot: self.slot,
                place: begun.place.clone(),
                handle: handle.clone(),
                attempt,
                args: self.args.shared().clone(),
                arg_values: Some(self.args.clone()),
                command: self.command.shared().clone(),
            })
            .await;
        let (stdout, stderr) = running.take_output();
        let reading = drain::both(shared, self.job.id, &self.tag, stdout, stderr);
        tokio::pin!(reading);
        let mut captured = None;
        let ended = {
            let waiting = supervise(
                shared,
                running.as_mut(),
                self.job.id,
                self.command.shared(),
                t0,
            );
            tokio::pin!(waiting);
            loop {
                tokio::select! {
                    c = &mut reading, if captured.is_none() => captured = Some(c),
                    e = &mut waiting => break e,
                }
            }
        };
        let out = match captured {
            Some(c) => c,
            None => reclaim(&mut reading, running.as_mut()).await,
        };
        let usage = running.usage();
        drop(running);
        // Output lost to a full temporary directory: the job did not really finish (its
        // output is incomplete), so it is recorded as cancelled and `--resume` runs it again.
        let outcome = match out.incomplete() {
            true => JobOutcome::Cancelled { signal: None },
            false => ended.outcome(),
        };
        let lost = ended.exit == Exit::Lost && ended.ending.is_none();
        if shared.config.timeout_percent.is_some() && outcome.is_success() {
            shared.median.add(t0.elapsed());
        }
        let fin = Finished {
            tag: self.tag.clone(),
            record: self.record(&begun, outcome, Some(handle), &out, usage),
            stdout: out.stdout,
            stderr: out.stderr,
        };
        (fin, lost)
    }

    /// Starts an attempt: a shortage is waited out with a growing back-off (not for ever, and
    /// not once the run is stopping); a failed place gives way to another one.
    async fn start(
        &self,
        placement: &mut Placement,
        attempt: u32,
    ) -> Result<Box<dyn Attempt>, StartError> {
        let shared = self.shared;
        let first_try = Instant::now();
        let mut backoff = START_BACKOFF.0;
        let mut failed_places = Vec::new();
        loop {
            let request = StartRequest {
                spec: &self.spec,
                id: self.job.id,
                slot: self.slot,
                place: placement.index,
                attempt,
            };
            let e = match shared.executor.start(request).await {
                Ok(a) => return Ok(a),
                Err(e) => e,
            };
            match &e {
                StartError::Shortage { message } => {
                    // Only a running job can end and free what is missing.
                    let patience = if shared.running() > 0 {
                        START_PATIENCE
                    } else {
                        LONE_START_PATIENCE
                    };
                    if first_try.elapsed() >= patience {
                        return Err(e);
                    }
                    tracing::debug!(seq = self.job.id.0, error = %message, "start failed for lack of resources; retrying");
                    // A stopping run does not wait for resources to start one more job.
                    let mut cancel = shared.cancel.subscribe();
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = cancel.wait_for(Option::is_some) => return Err(e),
                    }
                    backoff = (backoff * 2).min(START_BACKOFF.1);
                }
                StartError::Place { message } => {
                    shared
                        .emit(RunEvent::PlaceFailed {
                            id: self.job.id,
                            place: placement.name.clone(),
                            message: message.clone(),
                        })
                        .await;
                    // `--onall`: the job is this place's; it fails here.
                    if shared.pinned() {
                        return Err(e);
                    }
                    failed_places.push(placement.index);
                    placement.release();
                    match shared.places.acquire(&failed_places).await {
                        Some(other) => *placement = other,
                        None => {
                            // Every place failed it: the others' jobs would fail the same
                            // way, one after the other, so the run stops here instead.
                            if shared.cancel.escalate(CancelReason::NoPlace) {
                                tracing::error!(
                                    seq = self.job.id.0,
                                    error = %message,
                                    "no host could start job {} (last: {message}): no more jobs start; those not run are not in the joblog, so --resume runs them",
                                    self.job.id
                                );
                            }
                            return Err(e);
                        }
                    }
                }
                _ => return Err(e),
            }
        }
    }

    /// The record of an attempt that never started. A shortage given up on because the run
    /// is stopping is a cancelled job (it never ran, and runs on resume).
    async fn not_started(&self, begun: &Begun, e: StartError) -> Finished {
        let shared = self.shared;
        let prog = self.spec.argv[0].to_string_lossy();
        let (outcome, msg) = match e {
            StartError::Job { code, message } => (JobOutcome::SpawnFailed { code }, message),
            StartError::Shortage { message } => (
                if shared.cancel.reason().is_some() {
                    JobOutcome::Cancelled { signal: None }
                } else {
                    JobOutcome::SpawnFailed { code: 126 }
                },
                format!("fanout: {prog}: cannot start: {message}\n"),
            ),
            // It never ran, and runs on resume, when the run stopped for it.
            StartError::Place { message } => (
                match shared.cancel.reason() {
                    Some(_) => JobOutcome::Cancelled { signal: None },
                    None => JobOutcome::SpawnFailed { code: 255 },
                },
                format!("fanout: {prog}: no place could start it: {message}\n"),
            ),
        };
        let out = Drained {
            stderr: msg.clone().into_bytes().into(),
            stderr_bytes: msg.len() as u64,
            ..Drained::default()
        };
        if shared.config.output != OutputMode::Group {
            shared
                .emit(RunEvent::JobOutput {
                    id: self.job.id,
                    tag: self.tag.clone(),
                    stream: Stream::Stderr,
                    data: msg.into_bytes(),
                })
                .await;
        }
        Finished {
            tag: self.tag.clone(),
            record: self.record(begun, outcome, None, &out, None),
            stdout: Captured::default(),
            stderr: out.stderr,
        }
    }
}

/// The attempt has ended with its output still open: after [`LINGER`], asks the executor to
/// end whatever holds it, then reads it to its end.
async fn reclaim(
    reading: &mut std::pin::Pin<&mut impl std::future::Future<Output = Drained>>,
    attempt: &mut dyn Attempt,
) -> Drained {
    let linger = tokio::time::sleep(LINGER);
    tokio::pin!(linger);
    loop {
        tokio::select! {
            c = reading.as_mut() => return c,
            _ = &mut linger => {
                if attempt.reclaim_output().await {
                    return reading.as_mut().await;
                }
                // It could not look now (a start was in flight): again in a moment.
                linger.as_mut().reset(Instant::now() + Duration::from_millis(10));
            }
        }
    }
}
