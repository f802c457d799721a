//! [`File`]: an open file whose reads, writes, syncs and close all run on the ring.

use super::{with_path, Metadata, OpenOptions};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::fd::SharedFd;
use crate::op;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

/// An open file. Every operation is an io_uring op on the current core's ring (on the epoll
/// backend, a call on the blocking pool): none blocks the core thread, and buffers are owned by
/// the operation ([`BufResult`]), as for sockets.
///
/// Reads and writes are positional (`pread`/`pwrite` shaped): the file has no cursor, so
/// several operations on one file may be in flight at once. Dropping a `File` closes it
/// through the ring once no operation uses it; [`close`](File::close) does so and reports the
/// result. Errors name the file's path.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// coring::block_on(async {
///     let file = coring::fs::File::create("hello.txt").await?;
///     let (result, _) = file.write_all_at(b"hello".to_vec(), 0).await;
///     result?;
///     file.sync_all().await?;
///     let (result, buf) = file.read_at(Vec::with_capacity(16), 0).await;
///     assert_eq!(&buf[..result?], b"hello");
///     file.close().await
/// })
/// # }
/// ```
#[derive(Debug)]
pub struct File {
    fd: SharedFd,
    path: PathBuf,
}

impl File {
    /// Opens `path` for reading.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` for writing, creating it if missing and truncating it if not.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    pub(crate) fn from_parts(fd: OwnedFd, path: PathBuf) -> File {
        File {
            fd: SharedFd::new(fd),
            path,
        }
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &str, err: io::Error) -> io::Error {
        with_path(err, what, &self.path)
    }

    /// Reads into `buf`'s capacity from offset `pos`; returns how many bytes were read (0 at
    /// end of file) and the buffer, its initialized length set to what was read.
    pub async fn read_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(err) = check_pos(pos) {
            return (Err(self.err("read", err)), buf);
        }
        let (result, buf) = op::read_at::read_at(&self.fd, buf, pos).await;
        (result.map_err(|e| self.err("read", e)), buf)
    }

    /// Writes `buf`'s initialized bytes at offset `pos`; returns how many were written, which
    /// may be fewer. On a file opened with `append`, the bytes go to the end whatever `pos` is.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(err) = check_pos(pos) {
            return (Err(self.err("write", err)), buf);
        }
        let (result, buf) = op::write_at::write_at(&self.fd, buf, pos).await;
        (result.map_err(|e| self.err("write", e)), buf)
    }

    /// Fills `buf`'s whole capacity from offset `pos`, reading as often as needed.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the file ends first; the buffer holds what was read.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        let total = buf.bytes_total();
        let (mut buf, mut done) = (buf, 0);
        while done < total {
            let (result, slice) = self
                .read_at(buf.slice(done..total), pos + done as u64)
                .await;
            buf = slice.into_inner();
            match result {
                Ok(0) => {
                    let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "end of file");
                    return (Err(self.err("read", eof)), buf);
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Writes all of `buf`'s initialized bytes from offset `pos`, writing as often as needed.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let (mut buf, mut done) = (buf, 0);
        while done < total {
            let (result, slice) = self
                .write_at(buf.slice(done..total), pos + done as u64)
                .await;
            buf = slice.into_inner();
            match result {
                Ok(0) => {
                    let zero = io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes");
                    return (Err(self.err("write", zero)), buf);
                }
                Ok(n) => done += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return (Err(err), buf),
            }
        }
        (Ok(()), buf)
    }

    /// [`read_at`](File::read_at) into a registered buffer (a [`FixedBuf`](crate::buf::FixedBuf)
    /// or a slice of one) with `READ_FIXED`, which skips mapping the pages on every read.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `buf` is not a registered buffer.
    pub async fn read_fixed_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(err) = check_pos(pos) {
            return (Err(self.err("read", err)), buf);
        }
        match op::read_at::read_fixed_at(&self.fd, buf, pos) {
            Ok(op) => {
                let (result, buf) = op.await;
                (result.map_err(|e| self.err("read", e)), buf)
            }
            Err(buf) => (Err(self.err("read", not_fixed())), buf),
        }
    }

    /// [`write_at`](File::write_at) from a registered buffer with `WRITE_FIXED`.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if `buf` is not a registered buffer.
    pub async fn write_fixed_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        if let Err(err) = check_pos(pos) {
            return (Err(self.err("write", err)), buf);
        }
        match op::write_at::write_fixed_at(&self.fd, buf, pos) {
            Ok(op) => {
                let (result, buf) = op.await;
                (result.map_err(|e| self.err("write", e)), buf)
            }
            Err(buf) => (Err(self.err("write", not_fixed())), buf),
        }
    }

    /// Flushes the file's data and metadata to the device (`fsync`).
    pub async fn sync_all(&self) -> io::Result<()> {
        op::fd_only::fsync(&self.fd, false)
            .await
            .map_err(|e| self.err("sync", e))
    }

    /// Flushes the file's data, and only the metadata needed to read it back (`fdatasync`).
    pub async fn sync_data(&self) -> io::Result<()> {
        op::fd_only::fsync(&self.fd, true)
            .await
            .map_err(|e| self.err("sync", e))
    }

    /// The file's metadata (`statx` on the open file).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let stat = op::statx::statx_fd(&self.fd).await;
        stat.map(Metadata::new).map_err(|e| self.err("stat", e))
    }

    /// Truncates or extends the file to `size` bytes (extending with zeroes).
    ///
    /// Runs `FTRUNCATE` on the ring (Linux 6.9 and later); an older kernel refuses the opcode
    /// with `EINVAL`, and then the `ftruncate(2)` runs on the blocking pool instead.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        check_pos(size).map_err(|e| self.err("set_len", e))?;
        let result = match op::fd_only::ftruncate(&self.fd, size).await {
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
                self.set_len_blocking(size).await
            }
            other => other,
        };
        result.map_err(|e| self.err("set_len", e))
    }

    async fn set_len_blocking(&self, size: u64) -> io::Result<()> {
        // A duplicate, so the pool thread owns what it uses even if this future is dropped.
        let fd = self.fd.as_fd().try_clone_to_owned()?;
        let job = crate::task::spawn_blocking(move || std::fs::File::from(fd).set_len(size));
        job.await
            .map_err(|e| io::Error::other(format!("the blocking ftruncate failed: {e}")))?
    }

    /// Closes the file through the ring and reports the result (as `close(2)` does; on some
    /// filesystems a failed write-back shows up only here).
    ///
    /// If an operation on the file is still in flight (its future was dropped and the kernel
    /// has not answered the cancel yet), the file is closed when that operation ends, and this
    /// returns `Ok(())` at once.
    ///
    /// The file is closed whatever happens to the call: if the ring's close is cancelled before
    /// it ran (a file whose filesystem flushes on close, such as NFS or FUSE, is closed on a
    /// kernel worker, and a deadline, a dropped future or the runtime's shutdown can cancel it
    /// there), the fd is closed with `close(2)` instead, and that close's result is returned,
    /// not the cancellation.
    pub async fn close(self) -> io::Result<()> {
        match self.fd.try_unwrap() {
            Ok(fd) => op::close::close(fd)
                .await
                .map_err(|e| with_path(e, "close", &self.path)),
            Err(_still_in_use) => Ok(()),
        }
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

/// io_uring reads offset `u64::MAX` as "the current position": refuse offsets past `i64::MAX`
/// (which `pread` would refuse with `EINVAL`) rather than let one slip through as that.
fn check_pos(pos: u64) -> io::Result<()> {
    if pos > i64::MAX as u64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("offset {pos} is past the largest file offset"),
        ));
    }
    Ok(())
}

fn not_fixed() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the buffer is not a registered (fixed) buffer",
    )
}
