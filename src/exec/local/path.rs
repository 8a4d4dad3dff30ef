//! Where a program is: a name without a `/` is looked up in `PATH` once per run.
//!
//! A program named without a `/` is looked up in `PATH` once per run and then exec'd by its
//! full path. `posix_spawnp` would walk `PATH` for every job, one failed `execve` per directory
//! before the right one (seven of them for `true` on a typical Debian `PATH`), all while the
//! spawning thread waits. The child still sees the name it was given as `argv[0]`.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Program names and where `PATH` put them, for one run.
#[derive(Debug, Default)]
pub(super) struct PathCache {
    /// Program name -> the file `PATH` gives for it, or `None` when it gives none (the spawn
    /// then reports the error a shell would: not found, not executable).
    resolved: Mutex<HashMap<OsString, Option<PathBuf>>>,
}

impl PathCache {
    /// The file to exec for `program`, or `None` to leave the lookup to the spawn.
    pub(super) fn resolve(&self, program: &OsStr) -> Option<PathBuf> {
        if program.as_bytes().contains(&b'/') || program.is_empty() {
            return None;
        }
        let mut cache = self
            .resolved
            .lock()
            .expect("never poisoned: no panics under it");
        cache
            .entry(program.to_owned())
            .or_insert_with(|| search_path(program, std::env::var_os("PATH")?.as_os_str()))
            .clone()
    }
}

/// The first executable regular file named `program` in the directories of `path`, as
/// `execvp` would pick it (an empty entry is the current directory, which is left to
/// `posix_spawnp` itself: the result would depend on the job's directory).
fn search_path(program: &OsStr, path: &OsStr) -> Option<PathBuf> {
    for dir in path.as_bytes().split(|&b| b == b':') {
        if dir.is_empty() || dir[0] != b'/' {
            // A relative entry: its meaning depends on the directory; do not cache it.
            return None;
        }
        let candidate = Path::new(OsStr::from_bytes(dir)).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Some(candidate);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_takes_the_first_executable_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        // In `a`: a file that is not executable, and a directory; both are passed over.
        std::fs::write(a.join("prog"), "").unwrap();
        std::fs::create_dir(a.join("tool")).unwrap();
        for name in ["prog", "tool"] {
            let p = b.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = OsString::from(format!("{}:{}", a.display(), b.display()));
        assert_eq!(search_path("prog".as_ref(), &path), Some(b.join("prog")));
        assert_eq!(search_path("tool".as_ref(), &path), Some(b.join("tool")));
        assert_eq!(search_path("missing".as_ref(), &path), None);
        // A relative entry before the match leaves the lookup to the spawn.
        let relative = OsString::from(format!("bin:{}", b.display()));
        assert_eq!(search_path("prog".as_ref(), &relative), None);
    }

    #[test]
    fn a_name_with_a_slash_is_not_looked_up() {
        let local = PathCache::default();
        assert_eq!(local.resolve("./true".as_ref()), None);
        assert_eq!(local.resolve("/bin/true".as_ref()), None);
        assert!(local.resolve("sh".as_ref()).is_some());
    }
}
