//! The temporary directory a test works in.

use std::path::{Path, PathBuf};

/// A temporary directory, removed when dropped, with the files a test writes and reads in it.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().expect("a temporary directory"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// The path of `name` in the directory.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path().join(name)
    }

    /// Writes the file `name` and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// Writes the executable shell script `name` and returns its path.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let p = self.join(name);
        super::script(&p, body);
        p
    }

    /// `fanout` (see [`super::fanout`]) run in this directory.
    pub fn fanout(&self) -> assert_cmd::Command {
        let mut cmd = super::fanout();
        cmd.current_dir(self.path());
        cmd
    }
}
