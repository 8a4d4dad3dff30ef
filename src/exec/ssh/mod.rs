//! Runs jobs on other machines through the user's own OpenSSH, as GNU parallel's
//! `--sshlogin` does: one place per sshlogin with its own slots, `:` being this machine (run
//! by the [`Local`] executor inside this one, so the two mix in one run).
//!
//! Per host: ControlMasters made one at a time, sessions per master capped (`host`); per
//! job: a mux client whose remote command is the job's argv quoted once for the remote sh,
//! inside a wrapper that ends the job when fanout or the connection goes away and reports the
//! job's status with a marker (`remote`, `attempt`). An attempt without the marker was
//! lost with its connection ([`Exit::Lost`](crate::exec::Exit::Lost)): the runner starts the
//! job again at another place, and a host that keeps failing is taken out for a while.
//!
//! The places are append only: an `--slf` file that changes during the run (`watch`) adds
//! places for its new logins and retires those of the logins it lost ([`Place::retired`]).

mod attempt;
mod files;
mod host;
mod login;
mod remote;
mod watch;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use futures::future::BoxFuture;

pub use files::{FileOptions, Workdir};
pub use login::{Login, read_login_file, split_command};

use super::{AcquireError, Attempt, Executor, Local, Place, StartError, StartRequest};
use attempt::{Control, SshAttempt};
use host::Host;
use watch::LoginFiles;

/// What `-S`, `--slf`, `--ssh` and `--env` ask for.
#[derive(Debug, Clone, Default)]
pub struct SshConfig {
    /// Every sshlogin, from `-S` and `--slf` in order (duplicates are dropped).
    pub logins: Vec<Login>,
    /// The `--slf` files: read again when one changes during the run, and the hosts follow.
    pub login_files: Vec<PathBuf>,
    /// The `-S` logins alone (the start of `logins`): they stay when the files are read again.
    pub sshlogins: Vec<Login>,
    /// The ssh program and its options (`--ssh`); empty: `ssh`.
    pub ssh: Vec<OsString>,
    /// Variables copied from fanout's environment into every remote job (`--env`).
    pub env: Vec<OsString>,
    /// `-j` as given: the slots of every host without an `N/` prefix (counted against that
    /// host's CPUs for `N%`, `+N`, `-N`); `None`: each host's CPU count.
    pub jobs: Option<String>,
    /// `--filter-hosts`: hosts that cannot be logged in to at the start are left out of the
    /// run (a warning each) instead of being tried again later.
    pub filter_hosts: bool,
    /// `--transferfile`, `--return`, `--cleanup`, `--basefile`, `--workdir`.
    pub files: FileOptions,
}

/// One place of the run: a login, its host (`None` for `:`) and its slots.
struct Entry {
    login: Login,
    host: Option<Arc<Host>>,
    slots: usize,
    /// The login left the `--slf` file: no new jobs go here.
    retired: bool,
}

/// The executor for sshlogins (and `:`, through the [`Local`] one inside).
pub struct Ssh {
    local: Arc<Local>,
    ssh: Arc<[OsString]>,
    /// The logins of the run's start, with their hosts (`None` for `:`).
    logins: Vec<Login>,
    hosts: Vec<Option<Arc<Host>>>,
    jobs: Option<String>,
    env: Vec<(OsString, OsString)>,
    nonce: String,
    prefix: Arc<[u8]>,
    filter_hosts: bool,
    /// The logins (indices into `logins`) that are the run's first places, in order: all of
    /// them, or those that answered `--filter-hosts`'s probe.
    active: Mutex<Vec<usize>>,
    /// The run's places from [`Executor::open`] on, by index: append only.
    table: Mutex<Vec<Entry>>,
    /// The hosts made for logins that came with a changed `--slf` file (closed at the end).
    added: Mutex<Vec<Arc<Host>>>,
    /// The `--slf` files to follow, if any.
    login_files: Option<LoginFiles>,
    /// The control directory's path (the directory itself is in `dir`).
    dir_path: PathBuf,
    /// Each login's CPU count, when `--filter-hosts` has already asked.
    probed: Mutex<Option<Vec<Option<usize>>>>,
    dir: Mutex<Option<tempfile::TempDir>>,
    files: Arc<FileOptions>,
    controls: Mutex<Vec<Weak<Control>>>,
}

impl std::fmt::Debug for Ssh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh")
            .field("places", &self.table.lock().map_or(0, |t| t.len()))
            .finish_non_exhaustive()
    }
}

impl Ssh {
    /// The executor for `config`'s logins; `local` runs the jobs of `:` and the ssh clients.
    /// Fails when the private directory for the ControlMaster sockets cannot be made.
    pub fn new(config: SshConfig, local: Local) -> std::io::Result<Ssh> {
        // Socket paths are limited to 108 bytes: a short directory.
        let base = std::env::temp_dir();
        let base = if base.as_os_str().len() > 60 {
            "/tmp".into()
        } else {
            base
        };
        let dir = tempfile::Builder::new()
            .prefix("fanout-ssh.")
            .tempdir_in(base)?;
        let local = Arc::new(local);
        let ssh: Arc<[OsString]> = match config.ssh.is_empty() {
            true => vec![OsString::from("ssh")].into(),
            false => config.ssh.into(),
        };
        let mut seen = std::collections::HashSet::new();
        let logins: Vec<Login> = config
            .logins
            .into_iter()
            .filter(|l| seen.insert(l.name.clone()))
            .collect();
        let hosts = logins
            .iter()
            .enumerate()
            .map(|(i, login)| {
                login.dest.is_some().then(|| {
                    let tag = format!("h{i}");
                    Arc::new(Host::new(
                        login.clone(),
                        tag,
                        ssh.clone(),
                        dir.path().to_owned(),
                        local.clone(),
                    ))
                })
            })
            .collect::<Vec<_>>();
        let login_files = (!config.login_files.is_empty())
            .then(|| LoginFiles::new(config.login_files, config.sshlogins));
        let env = config
            .env
            .into_iter()
            .filter_map(|n| std::env::var_os(&n).map(|v| (n, v)))
            .collect();
        let nonce = format!(
            "{:x}{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        Ok(Ssh {
            local,
            ssh,
            jobs: config.jobs,
            env,
            prefix: remote::marker_prefix(&nonce).into(),
            nonce,
            table: Mutex::new(Vec::new()),
            added: Mutex::new(Vec::new()),
            login_files,
            dir_path: dir.path().to_owned(),
            filter_hosts: config.filter_hosts,
            files: Arc::new(config.files),
            active: Mutex::new((0..logins.len()).collect()),
            probed: Mutex::new(None),
            dir: Mutex::new(Some(dir)),
            controls: Mutex::new(Vec::new()),
            logins,
            hosts,
        })
    }

    fn slots_for(&self, login: &Login, cpus: usize) -> usize {
        if let Some(n) = login.slots {
            return n;
        }
        match &self.jobs {
            Some(j) => crate::config::parse_slots(j, cpus).unwrap_or(cpus),
            None => cpus,
        }
    }

    /// The base files (once per host), then the job's `--transferfile`s; a failure is the
    /// job's (exit 255, with rsync's words).
    async fn send_files(
        &self,
        host: &Host,
        path: &std::path::Path,
        plan: &files::Plan,
    ) -> Result<(), StartError> {
        let fail = |message: String| StartError::Job {
            code: 255,
            message: format!("fanout: {}: {message}\n", host.name()),
        };
        if !self.files.basefiles.is_empty() {
            host.send_basefiles(path, &self.files).await.map_err(fail)?;
        }
        for name in &plan.transfer {
            let shown = String::from_utf8_lossy(name);
            let readable = std::fs::File::open(std::ffi::OsStr::from_bytes(name)).is_ok();
            if !readable {
                return Err(fail(format!(
                    "--transferfile `{shown}` cannot be read here, so it is not sent"
                )));
            }
            let (src, dest) = files::send_args(name, &plan.workdir);
            host.send(path, src, dest)
                .await
                .map_err(|e| fail(format!("cannot send `{shown}`: {e}")))?;
        }
        Ok(())
    }

    /// Every host of the run: those of its start and those added since.
    fn all_hosts(&self) -> Vec<Arc<Host>> {
        let added = self.added.lock().expect("never poisoned");
        self.hosts
            .iter()
            .flatten()
            .chain(added.iter())
            .cloned()
            .collect()
    }

    fn send_all(&self, signal: nix::sys::signal::Signal) {
        let mut controls = self.controls.lock().expect("never poisoned");
        controls.retain(|c| c.strong_count() > 0);
        for c in controls.iter().filter_map(Weak::upgrade) {
            c.send(signal);
        }
    }
}

impl Executor for Ssh {
    fn places(&self) -> Vec<Place> {
        self.table
            .lock()
            .expect("never poisoned")
            .iter()
            .map(|e| {
                let mut place = Place::new(e.login.name.as_str(), e.slots);
                place.retired = e.retired;
                place
            })
            .collect()
    }

    fn places_changed(&self) -> BoxFuture<'_, Vec<Place>> {
        Box::pin(self.follow_login_files())
    }

    fn acquire<'a>(
        &'a self,
        cancel: &'a crate::cancel::Cancel,
    ) -> BoxFuture<'a, Result<(), AcquireError>> {
        let _ = cancel;
        Box::pin(async move {
            if !self.filter_hosts {
                return Ok(());
            }
            let answers = futures::future::join_all(self.hosts.iter().map(|h| async move {
                match h {
                    None => Ok(crate::config::default_slots()),
                    Some(h) => h.probe().await,
                }
            }))
            .await;
            let mut active = Vec::new();
            let mut why = Vec::new();
            for (i, answer) in answers.iter().enumerate() {
                match answer {
                    Ok(_) => active.push(i),
                    Err(e) => {
                        let name = &self.logins[i].name;
                        tracing::warn!(
                            host = name.as_str(),
                            error = e.as_str(),
                            "--filter-hosts: leaving out ssh host {name}: {e}"
                        );
                        why.push(format!("{name}: {e}"));
                    }
                }
            }
            if active.is_empty() {
                return Err(AcquireError {
                    message: format!(
                        "--filter-hosts: no host answered ({}): check each with `ssh HOST true`",
                        why.join("; ")
                    ),
                });
            }
            *self.active.lock().expect("never poisoned") = active;
            *self.probed.lock().expect("never poisoned") =
                Some(answers.into_iter().map(Result::ok).collect());
            Ok(())
        })
    }

    fn total_slots(&self, _jobs: usize) -> usize {
        // Retired places too: their jobs may still run.
        self.table
            .lock()
            .expect("never poisoned")
            .iter()
            .map(|e| e.slots)
            .sum::<usize>()
            .max(1)
    }

    fn start<'a>(
        &'a self,
        request: StartRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Attempt>, StartError>> {
        Box::pin(async move {
            let host = self.table.lock().expect("never poisoned")[request.place]
                .host
                .clone();
            let Some(host) = host else {
                return self.local.start(request).await;
            };
            let (path, session) = host
                .session()
                .await
                .map_err(|message| StartError::Place { message })?;
            // ssh's stdin carries the wrapper's signals, so there is no room for a block.
            if request.spec.stdin != crate::job::Stdin::Null {
                return Err(StartError::Job {
                    code: 255,
                    message: "a job's stdin cannot be fed to an ssh host yet (--pipe with -S)\n"
                        .into(),
                });
            }
            let mut env: Vec<(OsString, OsString)> = request
                .job_env()
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            env.push(("PARALLEL_SSHLOGIN".into(), host.name().into()));
            env.extend(self.env.iter().cloned());
            let plan = files::Plan::new(&self.files, request.spec.files.as_deref(), request.id);
            if let Some(plan) = &plan {
                self.send_files(&host, &path, plan).await?;
            }
            let line = remote::command_line(
                &request.spec.argv,
                &env,
                &self.nonce,
                plan.as_ref()
                    .filter(|p| p.changes_dir())
                    .map(|p| &p.workdir[..]),
                host.default_signal(),
            );
            let mut cmd = host.command(&path, false);
            cmd.arg(line)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            let mut client = self
                .local
                .spawn_tracked(&mut cmd, request.id)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM) => {
                        StartError::Shortage {
                            message: e.to_string(),
                        }
                    }
                    _ => StartError::Job {
                        code: 127,
                        message: format!("fanout: cannot run ssh for {}: {e}\n", host.name()),
                    },
                })?;
            let control = client
                .take_stdin()
                .and_then(Control::new)
                .map(Arc::new)
                .unwrap_or_default();
            self.controls
                .lock()
                .expect("never poisoned")
                .push(Arc::downgrade(&control));
            let after = plan.map(|plan| attempt::After { plan, path });
            let attempt =
                SshAttempt::new(client, control, self.prefix.clone(), host, session, after);
            Ok(Box::new(attempt) as Box<dyn Attempt>)
        })
    }

    fn open(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.local.open().await;
            let probed = self.probed.lock().expect("never poisoned").take();
            let cpus = match probed {
                Some(cpus) => cpus,
                None => {
                    futures::future::join_all(self.hosts.iter().map(|h| async move {
                        match h {
                            None => Some(crate::config::default_slots()),
                            Some(h) => h.connect().await.ok(),
                        }
                    }))
                    .await
                }
            };
            let active = self.active.lock().expect("never poisoned").clone();
            let table = active
                .into_iter()
                .map(|i| Entry {
                    login: self.logins[i].clone(),
                    host: self.hosts[i].clone(),
                    // A host down at the start counts as 1 CPU.
                    slots: self.slots_for(&self.logins[i], cpus[i].unwrap_or(1)),
                    retired: false,
                })
                .collect();
            *self.table.lock().expect("never poisoned") = table;
        })
    }

    fn suspend(&self) {
        self.local.suspend();
        self.send_all(nix::sys::signal::Signal::SIGTSTP);
    }

    fn resume(&self) {
        self.send_all(nix::sys::signal::Signal::SIGCONT);
        self.local.resume();
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.files.cleanup && !self.files.basefiles.is_empty() {
                let names: Vec<Vec<u8>> = self
                    .files
                    .basefiles
                    .iter()
                    .map(|f| f.as_os_str().as_bytes().to_vec())
                    .collect();
                let names: Vec<&[u8]> = names.iter().map(|n| &n[..]).collect();
                let script = files::removal_script(&names, &self.files.base_workdir());
                let script = &script;
                futures::future::join_all(
                    self.all_hosts()
                        .iter()
                        .filter(|h| h.has_basefiles())
                        .map(|h| async move {
                            let removed = match h.session().await {
                                Ok((path, _session)) => h.run_script(&path, script).await,
                                Err(e) => Err(e),
                            };
                            if let Err(e) = removed {
                                tracing::warn!(
                                    host = h.name(),
                                    "--cleanup: the base files stay on {}: {e}",
                                    h.name()
                                );
                            }
                        }),
                )
                .await;
            }
            futures::future::join_all(self.all_hosts().iter().map(|h| h.close())).await;
            drop(self.dir.lock().expect("never poisoned").take());
            self.local.close().await;
        })
    }
}
