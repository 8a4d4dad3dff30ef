//! `--slf` files read again when they change during the run, as GNU parallel does: each is
//! looked at (one `stat`) about once a second, and a file whose modification time, size or
//! inode changed is read again. What the new logins mean for the places is the executor's
//! business (`super::Ssh::reload`); this file only says when and what the logins are now.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::login::{Login, read_login_file};

/// How often the files are looked at: GNU parallel's "at most once per second".
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What tells that a file changed: its modification time, size, device and inode (a file
/// replaced by `mv` has another inode, perhaps the same time and size).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<SystemTime>, u64, u64, u64);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp(
        meta.modified().ok(),
        meta.len(),
        meta.dev(),
        meta.ino(),
    ))
}

/// The `--slf` files of a run and the `-S` logins beside them.
#[derive(Debug)]
pub(super) struct LoginFiles {
    paths: Vec<PathBuf>,
    /// The `-S` logins: they stay whatever the files say.
    fixed: Vec<Login>,
    /// Each file as last seen (`None`: it could not be looked at).
    seen: std::sync::Mutex<Vec<Option<Stamp>>>,
}

impl LoginFiles {
    /// Watches `paths` from now on (they were read just before, for the run's first logins).
    pub(super) fn new(paths: Vec<PathBuf>, fixed: Vec<Login>) -> LoginFiles {
        let seen = paths.iter().map(|p| stamp(p)).collect();
        LoginFiles {
            paths,
            fixed,
            seen: std::sync::Mutex::new(seen),
        }
    }

    /// True when a file changed since the last look (a file that went away did not change:
    /// it is probably being replaced, and is read once it is back).
    pub(super) fn changed(&self) -> bool {
        let mut seen = self.seen.lock().expect("never poisoned");
        let mut changed = false;
        for (path, last) in self.paths.iter().zip(seen.iter_mut()) {
            let now = stamp(path);
            if now.is_some() && now != *last {
                *last = now;
                changed = true;
            }
        }
        changed
    }

    /// The run's logins now: the `-S` ones, then every file's, in order, without duplicates.
    /// An error says which file and line is wrong; a file that names no host is one too.
    pub(super) fn read(&self) -> Result<Vec<Login>, String> {
        let mut logins = self.fixed.clone();
        for path in &self.paths {
            logins.extend(read_login_file(path)?);
        }
        if logins.is_empty() {
            return Err(format!(
                "`{}` names no host",
                self.paths
                    .first()
                    .map_or_else(String::new, |p| p.display().to_string())
            ));
        }
        let mut seen = std::collections::HashSet::new();
        logins.retain(|l| seen.insert(l.name.clone()));
        Ok(logins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_or_replaced_file_is_seen_once_and_read_with_the_fixed_logins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("slf");
        std::fs::write(&p, "h1\n").unwrap();
        let fixed = Login::parse_list("h0,h1").unwrap();
        let files = LoginFiles::new(vec![p.clone()], fixed);
        assert!(!files.changed());
        std::fs::write(&p, "# more\n2/h2\nh1\n").unwrap();
        assert!(files.changed());
        assert!(!files.changed(), "seen once");
        let names: Vec<_> = files.read().unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["h0", "h1", "h2"]);
        // Replaced by `mv`, same size: another inode.
        let q = dir.path().join("new");
        std::fs::write(&q, "# more\n2/h3\nh1\n").unwrap();
        std::fs::rename(&q, &p).unwrap();
        assert!(files.changed());
        std::fs::remove_file(&p).unwrap();
        assert!(!files.changed(), "a missing file is not a change");
        std::fs::write(&p, "0/h1\n").unwrap();
        assert!(files.changed());
        assert!(files.read().unwrap_err().contains("line 1"));
    }
}
