//! Runs every job as a job step of one Slurm allocation (`--slurm`): the one fanout runs
//! inside (`SLURM_JOB_ID`), or one it gets with `salloc --no-shell` for the run and releases
//! at its end ([`alloc`]). Each attempt is one `srun --exact -n1` ([`step`]); the run's `-j`
//! bounds how many are in flight, so steps never flood slurmctld. Signals and timeouts reach
//! the step through `scancel --signal=SIG JOBID.STEP`; srun's own failures are told from the
//! job's exit. Every Slurm command gets `SLURM_CONF` (found before the run), so no client ever
//! looks for a controller in DNS.

mod alloc;
mod stderr;
mod step;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use super::{AcquireError, Attempt, Executor, Place, StartError, StartRequest};
use crate::cancel::Cancel;
use crate::cluster::{Allocation, SlurmConfig};

/// The Slurm job-step executor.
pub struct Slurm {
    shared: Arc<Shared>,
}

/// What the executor and its steps share.
struct Shared {
    config: SlurmConfig,
    /// The allocation's job id, once there is one.
    job_id: Mutex<Option<String>>,
    /// The allocation fanout made, to release at the end.
    made: Mutex<Option<alloc::Made>>,
    /// The run's cancellation (from `acquire`), so a start that waits gives up.
    cancel: Mutex<Option<Cancel>>,
    /// The steps running now (`JOBID.STEP`), for Ctrl-Z.
    running: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Slurm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slurm")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Slurm {
    /// Steps as `config` says; nothing is started before the run.
    pub fn new(config: SlurmConfig) -> Slurm {
        let job_id = match &config.allocation {
            Allocation::Existing { job_id } => Some(job_id.clone()),
            _ => None,
        };
        Slurm {
            shared: Arc::new(Shared {
                config,
                job_id: Mutex::new(job_id),
                made: Mutex::new(None),
                cancel: Mutex::new(None),
                running: Mutex::new(HashSet::new()),
            }),
        }
    }

    fn signal_all(&self, signal: &str) {
        let steps: Vec<String> = self
            .shared
            .running
            .lock()
            .expect("never poisoned")
            .iter()
            .cloned()
            .collect();
        for s in steps {
            // Ctrl-Z: fanout stops right after this, so wait for scancel here.
            let _ = self
                .shared
                .command_std("scancel")
                .arg(format!("--signal={signal}"))
                .arg(&s)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

impl Shared {
    /// A Slurm command with this run's `SLURM_CONF`.
    fn command(&self, program: &str) -> tokio::process::Command {
        tokio::process::Command::from(self.command_std(program))
    }

    fn command_std(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(program);
        cmd.env("SLURM_CONF", &self.config.conf);
        cmd
    }

    /// Resolves when the run is cancelled (never, before `acquire`).
    fn cancelled(&self) -> BoxFuture<'static, ()> {
        let cancel = self.cancel.lock().expect("never poisoned").clone();
        Box::pin(async move {
            match cancel {
                Some(c) => {
                    let mut rx = c.subscribe();
                    let _ = rx.wait_for(Option::is_some).await;
                }
                None => std::future::pending().await,
            }
        })
    }
}

impl Executor for Slurm {
    fn places(&self) -> Vec<Place> {
        // One place, the allocation; the joblog's Host column gets each step's node.
        let name = match &*self.shared.job_id.lock().expect("never poisoned") {
            Some(j) => format!("slurm:{j}"),
            None => "slurm".into(),
        };
        vec![Place::new(name, usize::MAX)]
    }

    fn start<'a>(
        &'a self,
        request: StartRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Attempt>, StartError>> {
        Box::pin(async move {
            let job_id = self.shared.job_id.lock().expect("never poisoned").clone();
            let Some(job_id) = job_id else {
                return Err(StartError::Place {
                    message: "there is no Slurm allocation".into(),
                });
            };
            let s = step::start(&self.shared, &job_id, &request).await?;
            Ok(Box::new(s) as Box<dyn Attempt>)
        })
    }

    fn acquire<'a>(&'a self, cancel: &'a Cancel) -> BoxFuture<'a, Result<(), AcquireError>> {
        *self.shared.cancel.lock().expect("never poisoned") = Some(cancel.clone());
        Box::pin(async move {
            let Allocation::New { tasks } = self.shared.config.allocation else {
                return Ok(());
            };
            if let Some(made) = alloc::allocate(&self.shared, tasks, cancel).await? {
                *self.shared.job_id.lock().expect("never poisoned") = Some(made.job_id.clone());
                *self.shared.made.lock().expect("never poisoned") = Some(made);
            }
            Ok(())
        })
    }

    fn suspend(&self) {
        self.signal_all("STOP");
    }

    fn resume(&self) {
        self.signal_all("CONT");
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let made = self.shared.made.lock().expect("never poisoned").take();
        Box::pin(async move {
            if let Some(made) = made {
                made.release(&self.shared).await;
            }
        })
    }
}
