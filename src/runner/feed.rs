//! Where the schedulers take their next job from: the input's argument tuples, numbered in
//! input order, with the jobs an earlier joblog has (`--resume`) skipped. Several scheduler
//! threads share one [`Jobs`] behind an async lock, so sequence numbers stay in input order.

use tokio::sync::mpsc;

use super::Shared;
use crate::cancel::CancelReason;
use crate::cluster::Skip;
use crate::input::{ArgStream, InputError};
use crate::job::{Job, JobId};
use crate::pipe::{Block, BlockFeed};
use crate::report::events::RunEvent;

/// The jobs' arguments, read on a thread of their own when they come from a stream (so a slow
/// stdin never blocks the runtime), in place when they are in memory. The thread sends what
/// it has read in batches: as many values as its buffer already holds (up to [`BATCH`]), so a
/// fast input costs one wake-up per batch, while a slow one still hands over each value as
/// soon as it arrives.
pub(crate) enum Feed {
    Inline(ArgStream),
    /// `--pipe`: a block of the input per job.
    Blocks(BlockFeed),
    Thread {
        rx: mpsc::Receiver<Batch>,
        batch: std::vec::IntoIter<Result<Vec<Vec<u8>>, InputError>>,
    },
}

type Batch = Vec<Result<Vec<Vec<u8>>, InputError>>;

/// The most values the input thread hands over at once.
const BATCH: usize = 64;

impl Feed {
    pub fn new(input: ArgStream, depth: usize) -> Feed {
        if !input.is_stream() {
            return Feed::Inline(input);
        }
        let (tx, rx) = mpsc::channel(depth.div_ceil(BATCH).max(2));
        std::thread::Builder::new()
            .name("fanout-input".into())
            .spawn(move || read_batches(input, tx))
            .expect("spawning the input thread");
        Feed::Thread {
            rx,
            batch: Vec::new().into_iter(),
        }
    }

    async fn next(&mut self) -> Option<Result<Block, InputError>> {
        let args = match self {
            Feed::Inline(s) => s.next(),
            Feed::Blocks(b) => return b.next().await.map(|r| r.map_err(InputError::from)),
            Feed::Thread { rx, batch } => match batch.next() {
                Some(item) => Some(item),
                None => {
                    *batch = rx.recv().await?.into_iter();
                    batch.next()
                }
            },
        };
        Some(args?.map(|args| Block {
            args,
            stdin: crate::job::Stdin::Null,
            hold: None,
        }))
    }
}

/// The input thread: reads values and sends them in batches until the input ends, fails or
/// the runner stops listening.
fn read_batches(mut input: ArgStream, tx: mpsc::Sender<Batch>) {
    crate::signals::block_in_helper_thread();
    loop {
        let mut batch = Vec::new();
        let mut failed = false;
        // The first value may wait for a read; the others are taken only while buffered.
        while batch.len() < BATCH && (batch.is_empty() || input.has_buffered_value()) {
            match input.next() {
                Some(item) => {
                    failed = item.is_err();
                    batch.push(item);
                    if failed {
                        break;
                    }
                }
                None => break,
            }
        }
        let last = batch.is_empty() || failed;
        if batch.is_empty() || tx.blocking_send(batch).is_err() || last {
            return;
        }
    }
}

/// The input as jobs: the next sequence number, the skipped ones, and how the input ended.
pub(crate) struct Jobs {
    feed: Feed,
    skip: Skip,
    /// The last sequence number given out (or skipped).
    pub seq: u64,
    pub skipped: u64,
    /// The input ran out or failed: no job comes any more.
    done: bool,
    pub error: Option<InputError>,
    /// When the last job was given out, for `--delay`.
    last_start: Option<tokio::time::Instant>,
}

impl Jobs {
    pub fn new(feed: Feed, skip: Skip) -> Jobs {
        Jobs {
            feed,
            skip,
            seq: 0,
            skipped: 0,
            done: false,
            error: None,
            last_start: None,
        }
    }

    /// The next job to run, or `None` once the input ran out (reported once, as `InputDone`),
    /// failed (the run is cancelled with `ReportFailed`) or the run is stopping.
    pub async fn next(&mut self, shared: &Shared) -> Option<Job> {
        // `--delay`: wait before taking the input, so a cancellation (which drops this
        // future) loses no value.
        if let (Some(d), Some(last)) = (shared.config.delay, self.last_start) {
            tokio::time::sleep_until(last + d).await;
        }
        loop {
            if self.done {
                return None;
            }
            let block = match self.feed.next().await {
                None => {
                    self.done = true;
                    shared
                        .emit(RunEvent::InputDone {
                            total: self.skip.jobs_upto(self.seq),
                        })
                        .await;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.error = Some(e);
                    shared.cancel.escalate(CancelReason::ReportFailed);
                    return None;
                }
                Some(Ok(b)) => b,
            };
            // A cancellation may have come while the input was read: start nothing after it.
            if shared.cancel.reason().is_some() {
                return None;
            }
            self.seq += 1;
            if self.skip.contains(&self.seq) {
                // Another shard's job is not this run's: not counted as skipped.
                self.skipped += u64::from(self.skip.resumed(self.seq));
                continue;
            }
            self.last_start = Some(tokio::time::Instant::now());
            return Some(Job {
                id: JobId(self.seq),
                args: block.args,
                stdin: block.stdin,
                hold: block.hold,
            });
        }
    }
}
