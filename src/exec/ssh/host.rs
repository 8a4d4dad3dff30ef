//! One ssh host: its OpenSSH ControlMasters (one TCP connection each, made one at a time so
//! handshakes never pile up against sshd's `MaxStartups`), the sessions open on each (at most
//! [`MUX_SESSIONS`], below sshd's default `MaxSessions` of 10 with the master's own session),
//! and whether the host is up: a host whose connection cannot be made, or that loses
//! attempt after attempt, is taken out with one warning and tried again after a back-off.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::login::Login;
use crate::exec::Local;

/// Sessions per master besides its own: 9 in all, below OpenSSH's default `MaxSessions` 10.
pub(super) const MUX_SESSIONS: usize = 8;
/// How long a new connection may take to be ready (on top of ssh's own ConnectTimeout).
const READY_WAIT: Duration = Duration::from_secs(30);
/// The first and the longest time a host that failed stays out.
const DOWN_BACKOFF: (Duration, Duration) = (Duration::from_secs(5), Duration::from_secs(60));
/// Lost attempts in a row (the connection went away under them) that take a host out.
const LOST_IN_A_ROW: u32 = 3;

/// A session's room on a master, given back on drop.
pub(super) struct Session(Arc<AtomicUsize>);

impl Drop for Session {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Master {
    path: PathBuf,
    pid: u32,
    child: tokio::process::Child,
    /// Its own session's stdin: end of file ends it.
    stdin: Option<tokio::process::ChildStdin>,
    sessions: Arc<AtomicUsize>,
}

impl Master {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

#[derive(Default)]
struct State {
    masters: Vec<Master>,
    made: usize,
    /// Out until then, and the back-off for the next time.
    down: Option<(Instant, Duration)>,
    backoff: Option<Duration>,
}

/// One remote sshlogin.
pub(super) struct Host {
    pub login: Login,
    /// Short name for its sockets in the run's control directory.
    tag: String,
    ssh: Arc<[OsString]>,
    dir: PathBuf,
    local: Arc<Local>,
    state: Mutex<State>,
    lost: AtomicU32,
    /// A down host is being tried again: other jobs do not queue behind that try.
    probing: AtomicBool,
    /// The user's ssh configuration sets a ConnectTimeout (else fanout gives one).
    has_connect_timeout: AtomicBool,
    /// The host's `env` has `--default-signal` (asked by each new connection).
    default_signal: AtomicBool,
    /// `--basefile`s sent (or why not), once.
    basefiles: tokio::sync::OnceCell<Result<(), String>>,
}

impl Host {
    pub(super) fn new(
        login: Login,
        tag: String,
        ssh: Arc<[OsString]>,
        dir: PathBuf,
        local: Arc<Local>,
    ) -> Host {
        Host {
            login,
            tag,
            ssh,
            dir,
            local,
            state: Mutex::new(State::default()),
            lost: AtomicU32::new(0),
            probing: AtomicBool::new(false),
            has_connect_timeout: AtomicBool::new(false),
            default_signal: AtomicBool::new(false),
            basefiles: tokio::sync::OnceCell::new(),
        }
    }

    /// Whether remote jobs start through `env --default-signal` (see `remote`).
    pub(super) fn default_signal(&self) -> bool {
        self.default_signal.load(Ordering::Relaxed)
    }

    pub(super) fn name(&self) -> &str {
        &self.login.name
    }

    /// `ssh` with fanout's options (after the user's `--ssh` words, so theirs win: ssh takes
    /// the first value of an option) and the destination.
    pub(super) fn command(
        &self,
        control_path: &std::path::Path,
        master: bool,
    ) -> tokio::process::Command {
        let words = self.ssh_words(control_path, master);
        let mut cmd = tokio::process::Command::new(&words[0]);
        cmd.args(&words[1..]);
        cmd.arg(self.dest());
        cmd.arg("--");
        cmd
    }

    /// The `[user@]host` to log in to.
    pub(super) fn dest(&self) -> &str {
        self.login
            .dest
            .as_deref()
            .expect("a remote login has a destination")
    }

    /// The ssh program and every option, without the destination: also rsync's `-e`.
    pub(super) fn ssh_words(&self, control_path: &std::path::Path, master: bool) -> Vec<OsString> {
        let mut words: Vec<OsString> = self.ssh.to_vec();
        let mut opt = |o: &str| {
            words.push("-o".into());
            words.push(o.into());
        };
        if master {
            opt("ControlMaster=yes");
            opt("ControlPersist=no");
            // A dead link is found in seconds, not never.
            opt("ServerAliveInterval=2");
            opt("ServerAliveCountMax=3");
            if !self.has_connect_timeout.load(Ordering::Relaxed) {
                opt("ConnectTimeout=10");
            }
        } else {
            opt("ControlMaster=no");
            // Never a connection of its own when the master is gone: that fails at once.
            opt("ProxyCommand=false");
        }
        opt("BatchMode=yes");
        words.push("-o".into());
        words.push({
            let mut o = OsString::from("ControlPath=");
            o.push(control_path);
            o
        });
        words.push("-T".into());
        if let Some(port) = self.login.port {
            words.push("-p".into());
            words.push(port.to_string().into());
        }
        words
    }

    /// Runs `cmd` (rsync, or ssh over `path`'s master) to its end; its stderr is the error.
    async fn run_helper(&self, cmd: &mut tokio::process::Command) -> Result<(), String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let program = cmd.as_std().get_program().to_string_lossy().into_owned();
        let child = self
            .local
            .spawn_helper(cmd)
            .map_err(|e| format!("cannot run `{program}`: {e}"))?;
        let pid = child.id().unwrap_or(0);
        let out = child.wait_with_output().await;
        self.local.forget_helper(pid);
        let out = out.map_err(|e| format!("`{program}`: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&out.stderr);
        let text = text.trim();
        Err(match text.is_empty() {
            true => format!("`{program}` failed ({})", out.status),
            false => text.to_string(),
        })
    }

    /// rsync over `path`'s master with these arguments (the remote side as `HOST:`).
    pub(super) async fn rsync(
        &self,
        path: &std::path::Path,
        args: Vec<OsString>,
    ) -> Result<(), String> {
        let mut cmd = tokio::process::Command::new("rsync");
        match std::env::var("PARALLEL_RSYNC_OPTS") {
            Ok(opts) => cmd.args(opts.split_whitespace()),
            Err(_) => cmd.arg("-rlDzR"),
        };
        cmd.arg("--protect-args")
            .arg("-e")
            .arg(super::files::rsync_command(&self.ssh_words(path, false)))
            .args(args);
        self.run_helper(&mut cmd).await
    }

    /// Runs the sh `script` on the host over `path`'s master.
    pub(super) async fn run_script(
        &self,
        path: &std::path::Path,
        script: &[u8],
    ) -> Result<(), String> {
        let mut line = b"exec sh -c ".to_vec();
        crate::quote::quote_into(&mut line, script);
        use std::os::unix::ffi::OsStringExt;
        let mut cmd = self.command(path, false);
        cmd.arg(OsString::from_vec(line));
        self.run_helper(&mut cmd).await
    }

    /// Sends the base files once (the first job's start on this host does, the others wait
    /// for it); the same error for every job when that failed.
    pub(super) async fn send_basefiles(
        &self,
        path: &std::path::Path,
        files: &super::files::FileOptions,
    ) -> Result<(), String> {
        self.basefiles
            .get_or_init(|| async {
                let workdir = files.base_workdir();
                for file in &files.basefiles {
                    let (src, dest) =
                        super::files::send_args(file.as_os_str().as_encoded_bytes(), &workdir);
                    self.send(path, src, dest)
                        .await
                        .map_err(|e| format!("--basefile `{}`: {e}", file.display()))?;
                }
                Ok(())
            })
            .await
            .clone()
    }

    /// True once the base files are here (for `--cleanup` at the end).
    pub(super) fn has_basefiles(&self) -> bool {
        matches!(self.basefiles.get(), Some(Ok(())))
    }

    /// Sends the local `src` into the directory `dest` on the host (made when missing).
    pub(super) async fn send(
        &self,
        path: &std::path::Path,
        src: Vec<u8>,
        dest: Vec<u8>,
    ) -> Result<(), String> {
        use std::os::unix::ffi::OsStringExt;
        let mut rsync_path = b"mkdir -p -- ".to_vec();
        crate::quote::quote_into(&mut rsync_path, &dest);
        rsync_path.extend_from_slice(b" && rsync");
        let mut remote = format!("{}:", self.dest()).into_bytes();
        remote.extend_from_slice(&dest);
        let mut flag = b"--rsync-path=".to_vec();
        flag.extend_from_slice(&rsync_path);
        self.rsync(
            path,
            vec![
                OsString::from_vec(flag),
                "--".into(),
                OsString::from_vec(src),
                OsString::from_vec(remote),
            ],
        )
        .await
    }

    /// Fetches `file` from the directory `remote_dir` on the host into the local `local_dir`
    /// (made when missing).
    pub(super) async fn fetch(
        &self,
        path: &std::path::Path,
        remote_dir: Vec<u8>,
        file: Vec<u8>,
        local_dir: Vec<u8>,
    ) -> Result<(), String> {
        use std::os::unix::ffi::OsStringExt;
        let local_dir = OsString::from_vec(local_dir);
        std::fs::create_dir_all(&local_dir).map_err(|e| {
            format!(
                "cannot make the directory `{}`: {e}",
                local_dir.to_string_lossy()
            )
        })?;
        let mut flag = b"--rsync-path=cd -- ".to_vec();
        crate::quote::quote_into(&mut flag, &remote_dir);
        flag.extend_from_slice(b" && rsync");
        let mut remote = format!("{}:", self.dest()).into_bytes();
        remote.extend_from_slice(&file);
        let mut local = local_dir.into_vec();
        local.push(b'/');
        self.rsync(
            path,
            vec![
                OsString::from_vec(flag),
                "--".into(),
                OsString::from_vec(remote),
                OsString::from_vec(local),
            ],
        )
        .await
    }

    /// Makes the first connection (at the run's start) and returns the host's CPU count.
    pub(super) async fn connect(&self) -> Result<usize, String> {
        self.read_config().await;
        let mut st = self.state.lock().await;
        match self.new_master(&mut st).await {
            Ok(cpus) => Ok(cpus),
            Err(e) => {
                self.take_out(&mut st, &e);
                Err(e)
            }
        }
    }

    /// The same as [`Host::connect`] for `--filter-hosts`: a host that fails is not taken
    /// out for a while (it is left out of the run by the caller, which says so).
    pub(super) async fn probe(&self) -> Result<usize, String> {
        self.read_config().await;
        let mut st = self.state.lock().await;
        self.new_master(&mut st).await
    }

    /// Room for one more session: on a master with room, or on a new one.
    pub(super) async fn session(&self) -> Result<(PathBuf, Session), String> {
        let down = || format!("ssh host {} is down", self.name());
        if self.probing.load(Ordering::Relaxed) {
            return Err(down());
        }
        let mut st = self.state.lock().await;
        if let Some((until, _)) = st.down {
            if Instant::now() < until || self.probing.load(Ordering::Relaxed) {
                return Err(down());
            }
            self.probing.store(true, Ordering::Relaxed);
        }
        st.masters.retain_mut(|m| {
            let alive = m.alive();
            if !alive {
                let _ = std::fs::remove_file(&m.path);
                self.local.forget_helper(m.pid);
            }
            alive
        });
        let free = st
            .masters
            .iter()
            .position(|m| m.sessions.load(Ordering::Relaxed) < MUX_SESSIONS);
        let index = match free {
            Some(i) => i,
            None => {
                let made = self.new_master(&mut st).await;
                self.probing.store(false, Ordering::Relaxed);
                match made {
                    Ok(_) => st.masters.len() - 1,
                    Err(e) => {
                        self.take_out(&mut st, &e);
                        return Err(e);
                    }
                }
            }
        };
        self.probing.store(false, Ordering::Relaxed);
        if st.down.take().is_some() {
            tracing::info!(host = self.name(), "ssh host {} is back", self.name());
            self.lost.store(0, Ordering::Relaxed);
        }
        let m = &st.masters[index];
        m.sessions.fetch_add(1, Ordering::Relaxed);
        Ok((m.path.clone(), Session(m.sessions.clone())))
    }

    /// An attempt here ended: lost (its connection failed) or with the job's own status.
    pub(super) async fn attempt_ended(&self, lost: bool) {
        if !lost {
            self.lost.store(0, Ordering::Relaxed);
            return;
        }
        let mut st = self.state.lock().await;
        // The connection itself went away (a dead link, sshd killed): out at once.
        let dead = st.masters.iter_mut().any(|m| !m.alive());
        if dead {
            self.take_out(&mut st, "the connection failed under a running job");
        } else if self.lost.fetch_add(1, Ordering::Relaxed) + 1 >= LOST_IN_A_ROW {
            self.lost.store(0, Ordering::Relaxed);
            self.take_out(&mut st, "its sessions failed under several jobs in a row");
        }
    }

    /// Takes the host out for a while; warns once, when it goes from up to down.
    fn take_out(&self, st: &mut State, why: &str) {
        let backoff = st.backoff.unwrap_or(DOWN_BACKOFF.0);
        st.backoff = Some((backoff * 2).min(DOWN_BACKOFF.1));
        if st.down.is_none() {
            tracing::warn!(
                host = self.name(),
                error = why,
                "ssh host {} is down ({why}): its jobs go to the other hosts; it is tried again in {}s",
                self.name(),
                backoff.as_secs()
            );
        } else {
            tracing::debug!(host = self.name(), error = why, "ssh host still down");
        }
        st.down = Some((Instant::now() + backoff, backoff));
    }

    /// Asks ssh (`-G`, no connection) whether the user's configuration sets ConnectTimeout,
    /// which fanout's own `-o` would override.
    async fn read_config(&self) {
        let mut cmd = tokio::process::Command::new(&self.ssh[0]);
        cmd.args(&self.ssh[1..]).arg("-G");
        if let Some(port) = self.login.port {
            cmd.arg("-p").arg(port.to_string());
        }
        cmd.arg(self.login.dest.as_deref().unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let Ok(child) = self.local.spawn_helper(&mut cmd) else {
            return;
        };
        let pid = child.id().unwrap_or(0);
        let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output()).await;
        self.local.forget_helper(pid);
        if let Ok(Ok(out)) = out {
            let set = String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.starts_with("connecttimeout ") && l != "connecttimeout none");
            self.has_connect_timeout.store(set, Ordering::Relaxed);
        }
    }

    /// Starts a master and waits until it is logged in; returns the host's CPU count, which
    /// its first session prints.
    async fn new_master(&self, st: &mut State) -> Result<usize, String> {
        let path = self.dir.join(format!("{}-{}", self.tag, st.made));
        let errfile = self.dir.join(format!("{}-{}.err", self.tag, st.made));
        st.made += 1;
        let _ = std::fs::remove_file(&path);
        let stderr = std::fs::File::create(&errfile)
            .map_err(|e| format!("cannot create `{}`: {e}", errfile.display()))?;
        let mut cmd = self.command(&path, true);
        let mut hello = b"exec sh -c ".to_vec();
        crate::quote::quote_into(
            &mut hello,
            format!(
                "echo FANOUT-READY $(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1) {}; exec cat >/dev/null",
                super::remote::DEFAULT_SIGNAL_PROBE
            )
            .as_bytes(),
        );
        use std::os::unix::ffi::OsStringExt;
        cmd.arg(OsString::from_vec(hello))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let mut child = self
            .local
            .spawn_helper(&mut cmd)
            .map_err(|e| format!("cannot run `{}`: {e}", self.ssh[0].to_string_lossy()))?;
        let pid = child.id().unwrap_or(0);
        let stdout = child.stdout.take().expect("piped");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_WAIT, lines.next_line()).await;
        let cpus = match ready {
            Ok(Ok(Some(line))) => line.strip_prefix("FANOUT-READY ").and_then(|rest| {
                let mut words = rest.split_whitespace();
                let cpus = words.next()?.parse::<usize>().ok()?;
                self.default_signal
                    .store(words.next() == Some("1"), Ordering::Relaxed);
                Some(cpus)
            }),
            _ => None,
        };
        let Some(cpus) = cpus else {
            let _ = child.start_kill();
            for _ in 0..100 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            self.local.forget_helper(pid);
            let text = std::fs::read_to_string(&errfile).unwrap_or_default();
            let why = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("the connection failed")
                .trim();
            return Err(why.to_string());
        };
        st.masters.push(Master {
            path,
            pid,
            stdin: child.stdin.take(),
            child,
            sessions: Arc::new(AtomicUsize::new(0)),
        });
        Ok(cpus.max(1))
    }

    /// Ends the host's masters (every attempt has ended): end of file on each one's session,
    /// then TERM and KILL if it lingers.
    pub(super) async fn close(&self) {
        let mut st = self.state.lock().await;
        for m in &mut st.masters {
            m.stdin.take();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for m in &mut st.masters {
            while m.alive() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if m.alive() {
                let _ = m.child.start_kill();
                for _ in 0..100 {
                    if !m.alive() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            self.local.forget_helper(m.pid);
        }
        st.masters.clear();
    }
}
