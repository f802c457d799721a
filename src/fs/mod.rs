//! Files on the ring: [`File`], [`OpenOptions`], [`Metadata`] and whole-file helpers.
//!
//! On io_uring everything here is a ring operation (`OPENAT`, `READ`, `WRITE`, `FSYNC`, `STATX`,
//! `FTRUNCATE`, `UNLINKAT`, `RENAMEAT`, `MKDIRAT`, `CLOSE`), except on a kernel that lacks the
//! opcode: [`File::set_len`] before 6.9 and [`create_dir`] before 5.15 run their syscall on
//! the blocking pool. The kernel serves page-cache hits inline and sends the rest to its own
//! worker threads. On the epoll backend, which cannot wait for files, every call runs on the
//! blocking pool instead. Either way no call blocks the core thread in `read(2)`, `pread64(2)`
//! or `write(2)`, so a slow disk stalls only the task that waits for it.
//!
//! As everywhere in coring, the kernel's memory is owned by the operation: buffers go in by
//! value and come back with the result, and every path is copied into a NUL-terminated heap
//! string that the operation keeps until its completion, even if the future is dropped.
//!
//! Errors keep the `io::ErrorKind` of the OS error and name the path in the message, as in
//! `open /srv/missing.txt: No such file or directory (os error 2)`.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! coring::block_on(async {
//!     coring::fs::create_dir("out").await?;
//!     coring::fs::write("out/greeting.txt", b"hello".to_vec()).await?;
//!     assert_eq!(coring::fs::read_to_string("out/greeting.txt").await?, "hello");
//!     assert_eq!(coring::fs::metadata("out/greeting.txt").await?.len(), 5);
//!     coring::fs::rename("out/greeting.txt", "out/hello.txt").await?;
//!     coring::fs::remove_file("out/hello.txt").await
//! })
//! # }
//! ```

mod file;
mod metadata;
mod open_options;

pub use file::File;
pub use metadata::Metadata;
pub use open_options::OpenOptions;

use crate::buf::IoBuf;
use crate::op;
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Reads the whole file at `path`.
///
/// # Errors
///
/// Those of opening and reading the file, naming the path; `OutOfMemory` if the file is
/// longer than a buffer can be (a huge sparse file, say), as with `std::fs::read`.
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    let file = File::open(path).await?;
    // One read for the whole file, plus room to see the end of file (or a file that grew).
    let size = file.metadata().await.map_or(0, |m| m.len());
    let hint = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    // A length no allocation can hold (a huge sparse file) is an error, not an abort.
    let mut buf = Vec::new();
    buf.try_reserve_exact(hint).map_err(|e| {
        let err = io::Error::new(io::ErrorKind::OutOfMemory, e);
        with_path(err, "read", path)
    })?;
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity().max(8192));
        }
        let len = buf.len();
        let (result, slice) = file.read_at(buf.slice(len..), len as u64).await;
        buf = slice.into_inner();
        match result {
            Ok(0) => return Ok(buf),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

/// Reads the whole file at `path` as UTF-8 text.
///
/// # Errors
///
/// As [`read`], and `InvalidData` if the file is not UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    String::from_utf8(read(path).await?).map_err(|e| {
        let err = io::Error::new(io::ErrorKind::InvalidData, e.utf8_error());
        with_path(err, "read", path)
    })
}

/// Writes `data`'s initialized bytes as the whole content of the file at `path`, creating it
/// if missing and truncating it if not. The data is taken by value (any [`IoBuf`]: a `Vec`, a
/// `String`, a `&'static [u8]`) because the kernel reads it after this call has started.
pub async fn write(path: impl AsRef<Path>, data: impl IoBuf) -> io::Result<()> {
    let file = File::create(path).await?;
    file.write_all_at(data, 0).await.0?;
    file.close().await
}

/// The metadata of the file at `path`, following symlinks.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref();
    let stat = op::statx::statx_path(c_path(path)?).await;
    stat.map(Metadata::new)
        .map_err(|e| with_path(e, "stat", path))
}

/// Removes the file (or symlink) at `path`; open handles to it stay usable.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let removed = op::path::unlink_at(c_path(path)?, 0).await;
    removed.map_err(|e| with_path(e, "remove", path))
}

/// Renames `from` to `to`, replacing `to` if it exists (`rename(2)`).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    let renamed = op::path::rename_at(c_path(from)?, c_path(to)?).await;
    renamed.map_err(|e| {
        let what = format!("rename {} to", from.display());
        with_path(e, &what, to)
    })
}

/// Creates a directory at `path` (its parent must exist), mode `0o777` before the umask.
///
/// `MKDIRAT` came with Linux 5.15; on an older kernel the `mkdir(2)` runs on the blocking
/// pool instead, off the core thread, with the same result.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let made = if op::path::mkdir_on_ring() {
        match op::path::mkdir_at(c_path(path)?, 0o777).await {
            // The kernel refused the opcode (5.11 to 5.14, where no probe said so). A real
            // `EINVAL` from `mkdir(2)` (a name the filesystem refuses) comes back the same
            // from the pool, at the cost of one more call in that rare case.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => mkdir_blocking(path).await,
            other => other,
        }
    } else {
        mkdir_blocking(path).await
    };
    made.map_err(|e| with_path(e, "create directory", path))
}

/// `mkdir(2)` on the blocking pool, for a kernel without `MKDIRAT`.
async fn mkdir_blocking(path: &Path) -> io::Result<()> {
    let path = path.to_owned();
    let job = crate::task::spawn_blocking(move || std::fs::create_dir(path));
    job.await
        .map_err(|e| io::Error::other(format!("the blocking mkdir failed: {e}")))?
}

/// `path` as the NUL-terminated string the kernel reads.
fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("path {} contains a NUL byte", path.display()),
        )
    })
}

/// `err` with `what` and the path in its message, keeping its kind.
fn with_path(err: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{what} {}: {err}", path.display()))
}
