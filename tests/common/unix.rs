//! A private directory for Unix socket files, removed with everything in it on drop.

use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, named for the test and this process.
#[derive(Debug)]
pub struct SocketDir(PathBuf);

impl SocketDir {
    pub fn new(test: &str) -> SocketDir {
        let dir = std::env::temp_dir().join(format!("coring-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a socket directory");
        SocketDir(dir)
    }

    /// A path inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An abstract socket name unique to this process and `tag` (a leading NUL byte).
pub fn abstract_name(tag: &str) -> String {
    format!("\0coring-{tag}-{}", std::process::id())
}
