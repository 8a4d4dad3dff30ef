//! The thread that reads the input of `--pipe` (or walks the ranges of `--pipepart`) and
//! hands the runner one [`Block`] per job through a channel of one, so it is never more
//! than a block ahead; with `--roundrobin`, a queue of blocks that a job per slot shares.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::part::{self, Ranges};
use super::split::{Rules, Splitter};
use super::{PipeConfig, PipeError, PipeMode, temp};
use crate::job::{BlockQueue, Chunk, Hold, Stdin};

/// One job's share of the input.
#[derive(Debug)]
pub(crate) struct Block {
    /// Its arguments: none, or with `--cat`/`--fifo` the file's name (`{}`).
    pub args: Vec<Vec<u8>>,
    /// What it reads on stdin.
    pub stdin: Stdin,
    /// What removes its temporary file when it ends.
    pub hold: Option<Hold>,
}

/// The input, opened and checked before any job starts.
enum Input {
    Stream(File),
    Part {
        file: File,
        size: u64,
        path: Arc<Path>,
    },
}

/// The opened input of `--pipe` or `--pipepart`, ready to [`PipeSource::start`].
pub(crate) struct PipeSource {
    input: Input,
    config: PipeConfig,
    tmpdir: PathBuf,
    /// `-k` with `--roundrobin`: blocks go to the jobs in turn.
    in_turn: bool,
}

impl std::fmt::Debug for PipeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeSource")
            .field("config", &self.config)
            .finish()
    }
}

impl PipeSource {
    /// Opens stdin (or the `--pipepart` file) and checks the record rules. `keep_order`
    /// (`-k`) makes `--roundrobin` give the blocks to the jobs in turn.
    pub fn open(
        config: &PipeConfig,
        tmpdir: Option<&Path>,
        keep_order: bool,
    ) -> Result<PipeSource, PipeError> {
        Rules::new(&config.recend, &config.recstart, config.regexp)?;
        let input = match &config.part_file {
            Some(path) => {
                let (file, size) = part::open(path)?;
                Input::Part {
                    file,
                    size,
                    path: path.as_path().into(),
                }
            }
            None => {
                let fd = std::os::fd::AsFd::as_fd(&std::io::stdin())
                    .try_clone_to_owned()
                    .map_err(PipeError::Read)?;
                Input::Stream(File::from(fd))
            }
        };
        Ok(PipeSource {
            input,
            config: config.clone(),
            tmpdir: tmpdir.map_or_else(std::env::temp_dir, Path::to_path_buf),
            in_turn: keep_order,
        })
    }

    /// Starts the reading thread for a run of `slots` job slots.
    pub fn start(self, slots: usize) -> BlockFeed {
        if self.config.roundrobin {
            return self.start_roundrobin(slots);
        }
        let (tx, rx) = mpsc::channel(1);
        spawn(move || {
            if let Err(e) = self.each(slots, &tx) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        BlockFeed::Each(rx)
    }

    /// Round robin: the first block of each slot's job comes through `firsts`, so every
    /// slot gets a job (GNU parallel starts `-j` of them) before the running ones get the
    /// rest: from one shared queue (whichever job is ready), or with `-k` (`in_turn`) from a
    /// queue per job, block `n` to job `n mod slots`, the same blocks to the same job in every
    /// run (GNU parallel's `-k --roundrobin`).
    fn start_roundrobin(self, slots: usize) -> BlockFeed {
        let slots = slots.max(1);
        let (first_tx, firsts) = mpsc::channel(1);
        let queues = if self.in_turn { slots } else { 1 };
        let (mut txs, mut rxs) = (Vec::new(), Vec::new());
        for _ in 0..queues {
            let (tx, rx) = mpsc::channel(1);
            txs.push(Some(tx));
            rxs.push(Some(BlockQueue::new(rx)));
        }
        let header = Arc::new(OnceLock::new());
        let error = Arc::new(Mutex::new(None));
        let (h, e) = (header.clone(), error.clone());
        spawn(move || {
            let Input::Stream(file) = self.input else {
                unreachable!("--pipepart is never round robin (refused at setup)")
            };
            let mut first_tx = Some(first_tx);
            let read = || -> Result<(), PipeError> {
                let mut s = Splitter::new(file, &self.config)?;
                let mut n = 0;
                while let Some(mut b) = s.next_block().map_err(PipeError::Read)? {
                    let _ = h.set(s.header().cloned());
                    if let Some(f) = &first_tx {
                        n += 1;
                        let sent = f.blocking_send(b).is_ok();
                        if n == slots {
                            first_tx = None;
                        }
                        if !sent {
                            break;
                        }
                        continue;
                    }
                    // The next job in turn; a job that has ended leaves the turn.
                    loop {
                        let k = n % txs.len();
                        n += 1;
                        let Some(tx) = &txs[k] else {
                            if txs.iter().all(Option::is_none) {
                                return Ok(());
                            }
                            continue;
                        };
                        match tx.blocking_send(b) {
                            Ok(()) => break,
                            Err(mpsc::error::SendError(back)) => {
                                txs[k] = None;
                                b = back;
                            }
                        }
                    }
                }
                Ok(())
            };
            if let Err(err) = read() {
                *e.lock().expect("never poisoned") = Some(err);
            }
        });
        BlockFeed::RoundRobin {
            firsts,
            queues: rxs,
            started: 0,
            header,
            error,
        }
    }

    /// The reading thread of one job per block.
    fn each(
        self,
        slots: usize,
        tx: &mpsc::Sender<Result<Block, PipeError>>,
    ) -> Result<(), PipeError> {
        let send = |chunks: Vec<Chunk>| -> Result<bool, PipeError> {
            let block = self.block(chunks)?;
            Ok(tx.blocking_send(Ok(block)).is_ok())
        };
        match &self.input {
            Input::Stream(file) => {
                let mut s = Splitter::new(file, &self.config)?;
                while let Some(b) = s.next_block().map_err(PipeError::Read)? {
                    let mut chunks: Vec<Chunk> =
                        s.header().cloned().map(Chunk::Bytes).into_iter().collect();
                    chunks.push(Chunk::Bytes(b));
                    if !send(chunks)? {
                        break;
                    }
                }
            }
            Input::Part { file, size, path } => {
                let part_err = |source| PipeError::Part {
                    path: path.to_path_buf(),
                    source,
                };
                let (header, start) = match &self.config.header {
                    Some(h) => {
                        let end = part::header_end(file, *size, h).map_err(part_err)?;
                        let mut buf = vec![0; end as usize];
                        std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, 0)
                            .map_err(part_err)?;
                        (Some(Bytes::from(buf)), end)
                    }
                    None => (None, 0),
                };
                let block = match self.config.blocks_per_slot {
                    Some(n) => (size - start).div_ceil((n * slots.max(1)) as u64),
                    None => self.config.block_size as u64,
                };
                let rules = Rules::new(
                    &self.config.recend,
                    &self.config.recstart,
                    self.config.regexp,
                )?;
                let file = file.try_clone().map_err(part_err)?;
                for range in Ranges::new(file, *size, block, rules, start) {
                    let (offset, len) = range.map_err(part_err)?;
                    let mut chunks: Vec<Chunk> =
                        header.clone().map(Chunk::Bytes).into_iter().collect();
                    chunks.push(Chunk::File {
                        path: path.clone(),
                        offset,
                        len,
                    });
                    if !send(chunks)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// A block's job input in the configured mode.
    fn block(&self, chunks: Vec<Chunk>) -> Result<Block, PipeError> {
        Ok(match self.config.mode {
            PipeMode::Stdin => Block {
                args: Vec::new(),
                stdin: Stdin::Feed(chunks.into()),
                hold: None,
            },
            PipeMode::Cat => {
                let (name, hold) = temp::cat(&self.tmpdir, &chunks)?;
                Block {
                    args: vec![name],
                    stdin: Stdin::Null,
                    hold: Some(hold),
                }
            }
            PipeMode::Fifo => {
                let (name, hold) = temp::fifo(&self.tmpdir, chunks.into())?;
                Block {
                    args: vec![name],
                    stdin: Stdin::Null,
                    hold: Some(hold),
                }
            }
        })
    }
}

fn spawn(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name("fanout-pipe".into())
        .spawn(move || {
            crate::signals::block_in_helper_thread();
            f()
        })
        .expect("spawning the --pipe reading thread");
}

/// Where the runner takes the next job's block from.
pub(crate) enum BlockFeed {
    /// One job per block.
    Each(mpsc::Receiver<Result<Block, PipeError>>),
    /// `--roundrobin`: a job per slot, each started with a block of its own (from
    /// `firsts`), then taking blocks from its queue (shared, or its own with `-k`).
    RoundRobin {
        firsts: mpsc::Receiver<Bytes>,
        /// The queues not yet given out; a job's own queue is given away (not kept here), so
        /// a job that ends closes it and leaves the turn.
        queues: Vec<Option<BlockQueue>>,
        started: usize,
        header: Arc<OnceLock<Option<Bytes>>>,
        error: Arc<Mutex<Option<PipeError>>>,
    },
}

impl BlockFeed {
    /// The next job's block; `None` at the end of the input.
    pub async fn next(&mut self) -> Option<Result<Block, PipeError>> {
        match self {
            BlockFeed::Each(rx) => rx.recv().await,
            BlockFeed::RoundRobin {
                firsts,
                queues,
                started,
                header,
                error,
            } => {
                // Asked again once every slot has its job: when a job ends, and at the end
                // of the run, so a read error that ended the queues is reported then.
                let Some(first) = firsts.recv().await else {
                    queues.clear();
                    return error.lock().expect("never poisoned").take().map(Err);
                };
                let k = *started % queues.len();
                *started += 1;
                let queue = if queues.len() == 1 {
                    queues[0].clone()
                } else {
                    queues[k].take()
                }
                .expect("a queue per job slot, each given out once");
                let mut chunks: Vec<Chunk> = header
                    .get()
                    .cloned()
                    .flatten()
                    .map(Chunk::Bytes)
                    .into_iter()
                    .collect();
                chunks.push(Chunk::Bytes(first));
                chunks.push(Chunk::Queue(queue));
                Some(Ok(Block {
                    args: Vec::new(),
                    stdin: Stdin::Feed(chunks.into()),
                    hold: None,
                }))
            }
        }
    }
}
