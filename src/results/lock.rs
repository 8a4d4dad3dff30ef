//! One run per joblog at a time: an advisory `flock` on the joblog itself, held from before
//! the joblog is read or truncated until the run ends (the lock goes with the file when the
//! process dies, whatever kills it, so a crash never leaves a stale lock behind). A second
//! run on the same joblog learns who holds it from `/proc/locks`, which names the holder's
//! pid beside the file's device and inode, so nothing extra is written beside the joblog.

use std::fs::File;
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Who holds the lock another run took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its pid, when `/proc/locks` names it.
    pub pid: Option<u32>,
    /// Its program name (`/proc/PID/comm`), when it can be read.
    pub name: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.pid, &self.name) {
            (Some(pid), Some(name)) => write!(f, "pid {pid}, {name}"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            (None, _) => f.write_str("pid unknown"),
        }
    }
}

/// Why the lock was not taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another process holds it.
    Held(Holder),
    /// `flock` failed otherwise.
    Io(std::io::Error),
}

/// Takes the exclusive lock on `file` without waiting. What is not a regular file (a device
/// such as `/dev/null`, which many runs may share) is not locked.
pub(crate) fn lock(file: File) -> Result<Locked, LockError> {
    let meta = file.metadata().map_err(LockError::Io)?;
    if !meta.is_file() {
        return Ok(Locked::Unlocked(file));
    }
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(Locked::Locked(locked)),
        Err((_, Errno::EWOULDBLOCK)) => Err(LockError::Held(holder(&meta))),
        Err((_, e)) => Err(LockError::Io(e.into())),
    }
}

/// A joblog file, locked for this run when it is a regular file.
pub(crate) enum Locked {
    Locked(Flock<File>),
    Unlocked(File),
}

impl std::ops::Deref for Locked {
    type Target = File;

    fn deref(&self) -> &File {
        match self {
            Locked::Locked(f) => f,
            Locked::Unlocked(f) => f,
        }
    }
}

impl std::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut File {
        match self {
            Locked::Locked(f) => f,
            Locked::Unlocked(f) => f,
        }
    }
}

/// The holder of the `flock` on the file of `meta`, from `/proc/locks`.
fn holder(meta: &std::fs::Metadata) -> Holder {
    let pid = std::fs::read_to_string("/proc/locks")
        .ok()
        .and_then(|locks| holder_in(&locks, meta.dev(), meta.ino()));
    let name = pid.and_then(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm"))
            .ok()
            .map(|s| s.trim_end().to_owned())
    });
    Holder { pid, name }
}

/// Finds the pid holding a `FLOCK` on the file `dev`/`ino` in the text of `/proc/locks`, whose
/// lines read `1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF` (the device as hex
/// `major:minor`, the inode in decimal); waiters (`1: -> FLOCK ...`) are not holders.
fn holder_in(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let want = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    let flocks: Vec<(&str, &str)> = locks
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            match f.as_slice() {
                [_, "FLOCK", _, _, pid, file, ..] => Some((*pid, *file)),
                _ => None,
            }
        })
        .collect();
    let exact = flocks.iter().find(|(_, file)| *file == want);
    // On some stacked filesystems (overlayfs) the kernel names the lower device: then the
    // inode alone, when one lock has it.
    let suffix = format!(":{ino}");
    let by_inode: Vec<_> = flocks
        .iter()
        .filter(|(_, f)| f.ends_with(&suffix))
        .collect();
    let found = exact.or(match by_inode.as_slice() {
        [only] => Some(*only),
        _ => None,
    });
    found.and_then(|(pid, _)| pid.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "").unwrap();
        let first = lock(File::open(&p).unwrap()).unwrap();
        assert!(matches!(first, Locked::Locked(_)));
        match lock(File::open(&p).unwrap()) {
            Err(LockError::Held(h)) => {
                // This process holds it; /proc/locks may be missing in odd sandboxes.
                if std::path::Path::new("/proc/locks").exists() {
                    assert_eq!(h.pid, Some(std::process::id()));
                }
            }
            _ => panic!("the second lock was taken"),
        }
        drop(first);
        assert!(lock(File::open(&p).unwrap()).is_ok());
        assert!(matches!(
            lock(File::open("/dev/null").unwrap()),
            Ok(Locked::Unlocked(_))
        ));
    }

    #[test]
    fn proc_locks_lines_are_read() {
        let dev = nix::sys::stat::makedev(0xfd, 1);
        let text = "1: POSIX  ADVISORY  WRITE 7 fd:01:99 0 EOF\n\
                    2: FLOCK  ADVISORY  WRITE 4242 fd:01:99 0 EOF\n\
                    2: -> FLOCK  ADVISORY  WRITE 5151 fd:01:99 0 EOF\n";
        assert_eq!(holder_in(text, dev, 99), Some(4242));
        assert_eq!(holder_in(text, dev, 98), None);
    }
}
