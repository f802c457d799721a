//! Canary files: opened with `std` beside coring's closes, so they may take the number a close
//! just freed; a number closed twice closes (or replaces) one of them.

use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The file every canary opens, and what each must still read.
pub struct Nest {
    path: PathBuf,
    ino: u64,
}

const TEXT: &str = "canary";

impl Nest {
    /// Creates the canaries' file in `dir`.
    pub fn new(dir: &Path) -> Nest {
        let path = dir.join("canary");
        std::fs::write(&path, TEXT).unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        Nest { path, ino }
    }

    /// Opens one more canary.
    pub fn open(&self) -> std::fs::File {
        std::fs::File::open(&self.path).unwrap()
    }

    /// Panics, naming `what`, if any canary no longer names the canaries' file.
    pub fn check(&self, canaries: Vec<std::fs::File>, what: &str) {
        let total = canaries.len();
        let broken = canaries
            .into_iter()
            .filter(|file| !self.intact(file))
            .count();
        assert_eq!(
            broken, 0,
            "{what}: {broken} of {total} files opened beside coring's closes were closed (or \
             replaced) under their owner"
        );
    }

    fn intact(&self, mut file: &std::fs::File) -> bool {
        let mut text = String::new();
        file.metadata().is_ok_and(|m| m.ino() == self.ino)
            && file.rewind().is_ok()
            && file.read_to_string(&mut text).is_ok()
            && text == TEXT
    }
}
