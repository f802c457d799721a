//! [`Metadata`]: what `statx(2)` says about a file.

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

/// Metadata about a file, from [`fs::metadata`](super::metadata) or
/// [`File::metadata`](super::File::metadata): its size, type, permissions and times.
#[derive(Clone, Copy)]
pub struct Metadata {
    stat: libc::statx,
}

impl Metadata {
    pub(crate) fn new(stat: libc::statx) -> Self {
        Metadata { stat }
    }

    /// The size of the file in bytes.
    pub fn len(&self) -> u64 {
        self.stat.stx_size
    }

    /// Whether the file is empty (its length is zero).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn file_type(&self) -> u32 {
        u32::from(self.stat.stx_mode) & libc::S_IFMT
    }

    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == libc::S_IFREG
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == libc::S_IFDIR
    }

    /// Whether this is a symbolic link (only ever true for metadata that did not follow links).
    pub fn is_symlink(&self) -> bool {
        self.file_type() == libc::S_IFLNK
    }

    /// The permission bits (`st_mode & 0o7777`), as `std::os::unix::fs::PermissionsExt::mode`.
    pub fn mode(&self) -> u32 {
        u32::from(self.stat.stx_mode) & 0o7777
    }

    /// The last modification time.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the filesystem did not report one.
    pub fn modified(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_MTIME, self.stat.stx_mtime, "modification")
    }

    /// The last access time.
    ///
    /// # Errors
    ///
    /// `Unsupported` if the filesystem did not report one.
    pub fn accessed(&self) -> io::Result<SystemTime> {
        self.time(libc::STATX_ATIME, self.stat.stx_atime, "access")
    }

    fn time(&self, bit: u32, ts: libc::statx_timestamp, what: &str) -> io::Result<SystemTime> {
        if self.stat.stx_mask & bit == 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("coring::fs: the filesystem reports no {what} time for this file"),
            ));
        }
        let nanos = Duration::from_nanos(u64::from(ts.tv_nsec));
        let time = if ts.tv_sec >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(ts.tv_sec as u64) + nanos)
        } else {
            SystemTime::UNIX_EPOCH
                .checked_sub(Duration::from_secs(ts.tv_sec.unsigned_abs()))
                .and_then(|t| t.checked_add(nanos))
        };
        time.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("coring::fs: the {what} time is out of range"),
            )
        })
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("len", &self.len())
            .field("is_file", &self.is_file())
            .field("is_dir", &self.is_dir())
            .field("mode", &format_args!("{:o}", self.mode()))
            .finish_non_exhaustive()
    }
}
