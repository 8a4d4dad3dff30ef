//! The run's marker: one open file description that fanout locks (an advisory `flock`) and
//! that every process of the run inherits, the guard and every job included. It is a plain
//! descriptor without close-on-exec, so it costs nothing per job, and the lock lives exactly as
//! long as some process of the run holds it: the kernel drops it when the last one exits,
//! whatever killed fanout.
//!
//! With a joblog the marker is `<joblog>.live`. A run on that joblog claims it first (after the
//! joblog's own lock, `results::lock`, which says that no other fanout is on it): while the
//! lock is held, processes of an earlier run (orphaned by a fanout killed with SIGKILL) are
//! still alive, and resuming beside them would run their jobs twice at once, so the run waits
//! a little for them and then refuses. The file is removed when a run ends and nothing of it
//! is left. Without a joblog the marker is an anonymous memfd, only for the guard.
//!
//! The guard ([`super::guard`]) finds the run's processes by it: a process holds the marker
//! when one of its descriptors is on the marker's inode *and* carries the lock in
//! `/proc/PID/fdinfo` (the same open file description). A run that opened `<joblog>.live` to
//! claim it has its own description, without the lock, and is never taken for one of ours.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, FlockArg, OFlag};
use nix::sys::stat::Mode;

use crate::error::SetupError;

/// How long a run waits for the processes of an earlier run to go before it refuses: the
/// earlier run's guard ends them within milliseconds of its fanout's death, so a longer wait
/// means nothing is ending them.
const WAIT_FOR_EARLIER: Duration = Duration::from_secs(3);

/// The run's locked, inherited marker.
#[derive(Debug)]
pub(crate) struct Marker {
    fd: Option<OwnedFd>,
    dev: u64,
    ino: u64,
    /// `<joblog>.live`, removed on drop when nothing holds it any more; `None` for a memfd.
    path: Option<PathBuf>,
}

impl Marker {
    /// An anonymous marker, for a run without a joblog (only the guard uses it).
    pub(super) fn anonymous() -> std::io::Result<Marker> {
        let fd = nix::sys::memfd::memfd_create(c"fanout-run", nix::sys::memfd::MFdFlags::empty())?;
        lock(&fd, FlockArg::LockExclusiveNonblock)?;
        Marker::new(fd, None)
    }

    fn new(fd: OwnedFd, path: Option<PathBuf>) -> std::io::Result<Marker> {
        let meta = std::fs::File::from(fd.try_clone()?).metadata()?;
        // Inherited by every child from now on: that is the point.
        nix::fcntl::fcntl(&fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
        Ok(Marker {
            fd: Some(fd),
            dev: meta.dev(),
            ino: meta.ino(),
            path,
        })
    }

    /// The marker's device and inode, which the guard looks for.
    pub(super) fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        // Our descriptor only: the lock stays while a job or the guard still holds it.
        drop(self.fd.take());
        if let Some(path) = &self.path {
            remove_if_free(path, self.dev, self.ino);
        }
    }
}

/// `<joblog>.live`.
pub(crate) fn live_path(joblog: &Path) -> PathBuf {
    let mut p = joblog.as_os_str().to_owned();
    p.push(".live");
    PathBuf::from(p)
}

/// Claims the marker beside `joblog` for a run that starts jobs on this machine: waits up to
/// 3 s while processes of an earlier run on it are alive, then refuses with
/// [`SetupError::EarlierJobsRunning`]. `None` when there is nothing to claim: a joblog that is
/// not a regular file (`/dev/null`), or a directory where the file cannot be made (logged:
/// the run goes on without the check). Call it after the joblog's own lock is taken and before
/// the joblog is truncated or cut.
pub(crate) fn claim_joblog(joblog: &Path) -> Result<Option<Marker>, SetupError> {
    claim(joblog, WAIT_FOR_EARLIER)
}

fn claim(joblog: &Path, wait: Duration) -> Result<Option<Marker>, SetupError> {
    if std::fs::metadata(joblog).is_ok_and(|m| !m.is_file()) {
        return Ok(None);
    }
    let path = live_path(joblog);
    let deadline = Instant::now() + wait;
    loop {
        let fd = match open(&path, OFlag::O_CREAT) {
            Ok(fd) => fd,
            Err(e) => {
                tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "cannot create the run's lock file: a later --resume will not know whether jobs of this run are still running"
                );
                return Ok(None);
            }
        };
        match lock(&fd, FlockArg::LockExclusiveNonblock) {
            // Removed or replaced since we opened it (a run that ended removed it): the lock
            // guards nothing there, open it again.
            Ok(()) if !same_file(&fd, &path) => continue,
            Ok(()) => {
                return Marker::new(fd, Some(path.clone())).map(Some).or_else(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "cannot use the run's lock file");
                    Ok(None)
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot lock the run's lock file");
                return Ok(None);
            }
        }
        if Instant::now() >= deadline {
            let meta = std::fs::File::from(fd).metadata().ok();
            let holders = meta.map_or_else(Vec::new, |m| holders(m.dev(), m.ino()));
            return Err(SetupError::EarlierJobsRunning {
                joblog: joblog.to_path_buf(),
                lock: path,
                holders: describe(&holders),
            });
        }
        // flock has no time-out: try again shortly, for at most `wait` in all (setup only).
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn open(path: &Path, extra: OFlag) -> nix::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | extra,
        Mode::from_bits_truncate(0o600),
    )
}

/// `flock` on the open file description itself. Not nix's `Flock`, which unlocks when it is
/// dropped: that would take the lock away from every job that shares the description.
fn lock(fd: &OwnedFd, arg: FlockArg) -> std::io::Result<()> {
    #[expect(
        deprecated,
        reason = "Flock unlocks on drop, which must not happen here"
    )]
    let r = nix::fcntl::flock(fd.as_raw_fd(), arg);
    r.map_err(std::io::Error::from)
}

fn same_file(fd: &OwnedFd, path: &Path) -> bool {
    let (Ok(a), Ok(b)) = (
        nix::sys::stat::fstat(fd.as_fd()),
        std::fs::symlink_metadata(path),
    ) else {
        return false;
    };
    a.st_dev == b.dev() && a.st_ino == b.ino()
}

/// Removes `<joblog>.live` if it is still the file this run locked and nothing holds it.
fn remove_if_free(path: &Path, dev: u64, ino: u64) {
    let Ok(fd) = open(path, OFlag::empty()) else {
        return;
    };
    let ours = nix::sys::stat::fstat(fd.as_fd()).is_ok_and(|s| s.st_dev == dev && s.st_ino == ino);
    if ours && same_file(&fd, path) && lock(&fd, FlockArg::LockExclusiveNonblock).is_ok() {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether `pid` holds the marker `(dev, ino)`: a descriptor on that inode whose open file
/// description holds the lock (its fdinfo shows a `lock:` line).
pub(super) fn holds_marker(pid: i32, dev: u64, ino: u64) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
            && std::fs::read_to_string(format!(
                "/proc/{pid}/fdinfo/{}",
                fd.file_name().to_string_lossy()
            ))
            .is_ok_and(|info| info.lines().any(|l| l.starts_with("lock:")))
    })
}

/// The processes (pid, name) that hold the marker `(dev, ino)`, those /proc lets us see.
fn holders(dev: u64, ino: u64) -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(i32, String)> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| holds_marker(pid, dev, ino))
        .map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, name.trim().to_string())
        })
        .collect();
    found.sort();
    found
}

/// ` (pid 12 sleep, pid 14 sh and 3 more)`, or nothing when none could be seen.
fn describe(holders: &[(i32, String)]) -> String {
    if holders.is_empty() {
        return String::new();
    }
    let named: Vec<String> = holders
        .iter()
        .take(3)
        .map(|(pid, name)| format!("pid {pid} {name}"))
        .collect();
    let more = match holders.len().saturating_sub(3) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    format!(" ({}{more})", named.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A marker is inherited by every child of the test process: one test at a time here.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Removes the file as a drop does, again for a moment if a child of another test held it.
    fn removed(path: &Path, dev: u64, ino: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while path.exists() && Instant::now() < deadline {
            remove_if_free(path, dev, ino);
            std::thread::sleep(Duration::from_millis(20));
        }
        !path.exists()
    }

    #[test]
    fn a_claimed_marker_blocks_a_second_claim_until_it_is_dropped_then_goes() {
        let dir = tempfile::tempdir().unwrap();
        let jl = dir.path().join("jl");
        std::fs::write(&jl, "").unwrap();
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let first = claim(&jl, Duration::ZERO).unwrap().expect("claimed");
        assert!(live_path(&jl).exists());
        let (dev, ino) = first.id();
        assert!(holds_marker(std::process::id() as i32, dev, ino));
        match claim(&jl, Duration::from_millis(120)) {
            Err(SetupError::EarlierJobsRunning { holders, lock, .. }) => {
                assert_eq!(lock, live_path(&jl));
                assert!(
                    holders.contains(&format!("pid {}", std::process::id())),
                    "{holders}"
                );
            }
            other => panic!("a second claim while held: {other:?}"),
        }
        drop(first);
        assert!(
            removed(&live_path(&jl), dev, ino),
            "removed once nothing holds it"
        );
        let again = claim(&jl, Duration::from_secs(5))
            .unwrap()
            .expect("claimed again");
        drop(again);
    }

    #[test]
    fn a_child_shares_the_marker_and_a_claim_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let jl = dir.path().join("jl");
        std::fs::write(&jl, "").unwrap();
        let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
        let marker = claim(&jl, Duration::ZERO).unwrap().expect("claimed");
        let (dev, ino) = marker.id();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        assert!(holds_marker(child.id() as i32, dev, ino), "inherited");
        drop(marker);
        assert!(live_path(&jl).exists(), "kept while the child holds it");
        assert!(matches!(
            claim(&jl, Duration::ZERO),
            Err(SetupError::EarlierJobsRunning { .. })
        ));
        child.kill().unwrap();
        child.wait().unwrap();
        let after = claim(&jl, Duration::from_secs(5)).unwrap();
        assert!(after.is_some(), "free once the child is gone");
    }

    #[test]
    fn a_joblog_that_is_a_device_has_no_marker() {
        assert!(
            claim(Path::new("/dev/null"), Duration::ZERO)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn holders_are_described_briefly() {
        assert_eq!(describe(&[]), "");
        let h: Vec<(i32, String)> = (1..=5).map(|p| (p, "sh".to_string())).collect();
        assert_eq!(describe(&h), " (pid 1 sh, pid 2 sh, pid 3 sh and 2 more)");
    }
}
