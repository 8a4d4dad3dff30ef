//! Opening the files a run writes (the joblog, `--results-json`, `--results DIR`) without
//! clobbering what it should not, and making them durable at the end. A path in a
//! world-writable sticky directory (`/tmp`, `/dev/shm`) may be a symlink someone else planted
//! to make us truncate their victim's file: there its last component is never followed
//! (`O_NOFOLLOW`). Whether an existing file may be overwritten is the caller's to say (a joblog,
//! a results file of ours); this module only opens it without truncating, so the caller can
//! look first.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a path was not opened.
#[derive(Debug)]
pub(crate) enum GuardError {
    /// It is a symlink (or, for a directory, not ours) in the world-writable sticky `dir`.
    Planted { dir: PathBuf, what: &'static str },
    /// Opening failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for GuardError {
    fn from(e: std::io::Error) -> GuardError {
        GuardError::Io(e)
    }
}

/// The directory `path`'s last component is in.
pub(crate) fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Whether `dir` is world-writable with the sticky bit (`/tmp`): anyone may create entries
/// in it, but only their owner may remove or rename them.
pub(crate) fn sticky_world_writable(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| m.mode() & 0o1002 == 0o1002)
}

/// Opens `path` to read and append, creating it if missing and never truncating it. In a
/// world-writable sticky directory a symlink is refused rather than followed. A file it
/// creates has its directory entry synced at once (while descriptors are to spare: under a
/// tight `ulimit -n` none may be left at the end of the run), so it survives a power cut.
pub(crate) fn open_for_write(path: &Path) -> Result<File, GuardError> {
    let dir = parent_of(path);
    let guarded = sticky_world_writable(&dir);
    let mut opts = OpenOptions::new();
    opts.read(true).append(true);
    if guarded {
        opts.custom_flags(libc::O_NOFOLLOW);
    }
    // O_EXCL first, to learn whether the file is new (it then never follows a symlink).
    match opts.clone().create_new(true).open(path) {
        Ok(file) => {
            // Best effort: some filesystems cannot sync a directory, and a failing disk shows
            // in the writes and the final sync anyway.
            let _ = File::open(&dir).and_then(|d| d.sync_all());
            return Ok(file);
        }
        Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e.into()),
        Err(_) => {}
    }
    // Outside such directories a symlink is followed, as ever, and a dangling one creates
    // its target (O_EXCL failed on the link itself).
    match opts.create(!guarded).open(path) {
        Ok(file) => Ok(file),
        // ELOOP: the last component is a symlink, which O_NOFOLLOW refused.
        Err(e) if guarded && e.raw_os_error() == Some(libc::ELOOP) => Err(GuardError::Planted {
            dir,
            what: "a symbolic link",
        }),
        Err(e) => Err(e.into()),
    }
}

/// Checks the directory `--results` writes into, once it exists: in a world-writable sticky
/// directory it must be a real directory of our own (else whoever owns it could plant links
/// in it that our writes would follow).
pub(crate) fn check_dir(path: &Path) -> Result<(), GuardError> {
    let dir = parent_of(path);
    if !sticky_world_writable(&dir) {
        return Ok(());
    }
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Err(GuardError::Planted {
            dir,
            what: "a symbolic link",
        });
    }
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(GuardError::Planted {
            dir,
            what: "a directory of another user",
        });
    }
    Ok(())
}

/// The first `n` bytes of `file` (fewer when it is shorter), read from its start; nothing for
/// what is not a regular file (a device, a pipe), which truncation cannot clobber.
pub(crate) fn head(file: &File, n: usize) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    if !file.metadata()?.is_file() {
        return Ok(Vec::new());
    }
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// Makes what was written to `file` durable (`fdatasync`; its directory entry was synced
/// when it was created), so a finish that was reported survives a power cut. Needs no new
/// descriptor. A file that is not a regular file (`/dev/null`) has nothing to sync.
pub(crate) fn sync(file: &File) -> std::io::Result<()> {
    if !file.metadata()?.is_file() {
        return Ok(());
    }
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_symlink_is_refused_only_in_a_sticky_world_writable_directory() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).unwrap();
        std::os::unix::fs::symlink(&victim, plain.join("link")).unwrap();
        let opened = open_for_write(&plain.join("link")).unwrap();
        let sticky = dir.path().join("sticky");
        std::fs::create_dir(&sticky).unwrap();
        std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink(&victim, sticky.join("link")).unwrap();
        assert!(matches!(
            open_for_write(&sticky.join("link")),
            Err(GuardError::Planted { .. })
        ));
        let new = open_for_write(&sticky.join("new")).unwrap();
        assert_eq!(head(&new, 10).unwrap(), b"");
        assert_eq!(head(&opened, 4).unwrap(), b"prec");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }
}
