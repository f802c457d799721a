//! [`StuckFlush`]: a FUSE filesystem of one empty file whose `flush` (run by every close) does not
//! answer until the test lets it, like an NFS or FUSE server that stopped responding. io_uring
//! hands such closes to kernel worker threads, a few at a time; the rest wait queued, where a
//! ring's teardown cancels them unrun.
//!
//! Served by a thread of the test process, which answers every request at once but `FLUSH`.
//! A flush the kernel sends for a close waits uninterruptibly (the kernel forces it), so a
//! timer thread answers the held flushes after [`HOLD_AT_MOST`] whatever the test does: a
//! thread stuck in one could otherwise keep the process from exiting.

use super::tmp::TempDir;
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a flush is held at most (see the module docs).
pub const HOLD_AT_MOST: Duration = Duration::from_secs(60);

const LOOKUP: u32 = 1;
const FORGET: u32 = 2;
const GETATTR: u32 = 3;
const OPEN: u32 = 14;
const RELEASE: u32 = 18;
const FLUSH: u32 = 25;
const INIT: u32 = 26;
const INTERRUPT: u32 = 36;
const BATCH_FORGET: u32 = 42;

/// The mounted filesystem; unmounted on drop, after every held flush is answered.
pub struct StuckFlush {
    /// The file whose closes hang.
    pub path: PathBuf,
    dir: TempDir,
    held: Arc<Mutex<Held>>,
    device: Arc<File>,
    server: Option<std::thread::JoinHandle<()>>,
}

/// The flushes waiting for an answer, and whether flushes are answered at once now.
#[derive(Default)]
struct Held {
    released: bool,
    unique: Vec<u64>,
    /// How many flushes came in all.
    flushes: usize,
    /// What released flushes are answered with: 0, or a negated errno.
    error: i32,
}

impl StuckFlush {
    /// Mounts it; `Err` says why not (no `/dev/fuse`, no right to mount).
    pub fn mount() -> Result<StuckFlush, String> {
        let device = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/fuse")
            .map_err(|e| format!("/dev/fuse: {e}"))?;
        let dir = TempDir::new("fuse");
        let target = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
        let options = CString::new(format!(
            "fd={},rootmode=40000,user_id=0,group_id=0",
            device.as_raw_fd()
        ))
        .unwrap();
        // SAFETY: every pointer is a live C string.
        let mounted = unsafe {
            libc::mount(
                c"coring-stuck-flush".as_ptr(),
                target.as_ptr(),
                c"fuse".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                options.as_ptr().cast(),
            )
        };
        if mounted != 0 {
            return Err(format!("mount fuse: {}", std::io::Error::last_os_error()));
        }
        let device = Arc::new(device);
        let held = Arc::new(Mutex::new(Held::default()));
        let server = {
            let (device, held) = (device.clone(), held.clone());
            std::thread::spawn(move || serve(&device, &held))
        };
        {
            let (device, held) = (device.clone(), held.clone());
            std::thread::spawn(move || {
                std::thread::sleep(HOLD_AT_MOST);
                release(&device, &held);
            });
        }
        Ok(StuckFlush {
            path: dir.join("file"),
            dir,
            held,
            device,
            server: Some(server),
        })
    }

    /// Answers every held flush, and every later one at once.
    pub fn release(&self) {
        release(&self.device, &self.held);
    }

    /// Answers every held flush, and every later one at once, with the error `errno`: as a
    /// server may, since a FUSE flush's answer is the close's result.
    pub fn fail_flushes(&self, errno: i32) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).error = -errno;
        self.release();
    }

    /// How many flushes the kernel sent so far, and how many of them are held.
    pub fn flushes(&self) -> (usize, usize) {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        (held.flushes, held.unique.len())
    }
}

impl Drop for StuckFlush {
    fn drop(&mut self) {
        self.release();
        let target = CString::new(self.dir.path().as_os_str().as_bytes()).unwrap();
        // SAFETY: a live C string. Detached: the filesystem goes once no file of it is open,
        // and with it the connection, which ends the server's read.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// Answers every held flush, and every later one at once.
fn release(device: &File, held: &Mutex<Held>) {
    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
    held.released = true;
    let error = held.error;
    for unique in held.unique.drain(..) {
        reply(device, unique, error, &[]);
    }
}

/// Answers requests until the connection goes (unmounted).
fn serve(device: &File, held: &Mutex<Held>) {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match (&*device).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(_) => return, // ENODEV: unmounted
        };
        if n < 40 {
            continue;
        }
        let u32_at = |at: usize| u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap());
        let (opcode, unique, node) = (u32_at(4), u64_at(8), u64_at(16));
        match opcode {
            INIT => {
                let mut out = [0u8; 64];
                out[0..4].copy_from_slice(&7u32.to_ne_bytes()); // major
                out[4..8].copy_from_slice(&31u32.to_ne_bytes()); // minor
                out[20..24].copy_from_slice(&4096u32.to_ne_bytes()); // max_write
                reply(device, unique, 0, &out);
            }
            LOOKUP => {
                // fuse_entry_out: nodeid, generation, entry and attr validity, then the attr.
                let mut out = vec![0u8; 40];
                out[0..8].copy_from_slice(&2u64.to_ne_bytes());
                out[16..24].copy_from_slice(&3600u64.to_ne_bytes());
                out[24..32].copy_from_slice(&3600u64.to_ne_bytes());
                out.extend(attr(2));
                reply(device, unique, 0, &out);
            }
            GETATTR => {
                let mut out = vec![0u8; 16];
                out[0..8].copy_from_slice(&3600u64.to_ne_bytes());
                out.extend(attr(node));
                reply(device, unique, 0, &out);
            }
            OPEN => reply(device, unique, 0, &[0u8; 16]),
            RELEASE => reply(device, unique, 0, &[]),
            FLUSH => {
                let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                held.flushes += 1;
                if held.released {
                    reply(device, unique, held.error, &[]);
                } else {
                    held.unique.push(unique);
                }
            }
            FORGET | BATCH_FORGET | INTERRUPT => {} // no answer expected
            _ => reply(device, unique, -libc::ENOSYS, &[]),
        }
    }
}

/// A `fuse_attr`: the root directory (node 1) or the empty file.
fn attr(node: u64) -> Vec<u8> {
    let mut out = vec![0u8; 88];
    let (mode, nlink) = if node == 1 {
        (0o040755u32, 2u32)
    } else {
        (0o100644, 1)
    };
    out[0..8].copy_from_slice(&node.to_ne_bytes()); // ino
    out[60..64].copy_from_slice(&mode.to_ne_bytes());
    out[64..68].copy_from_slice(&nlink.to_ne_bytes());
    out[80..84].copy_from_slice(&4096u32.to_ne_bytes()); // blksize
    out
}

/// Writes the answer to request `unique`: a `fuse_out_header`, then `payload`.
fn reply(device: &File, unique: u64, error: i32, payload: &[u8]) {
    let mut out = Vec::with_capacity(16 + payload.len());
    out.extend(((16 + payload.len()) as u32).to_ne_bytes());
    out.extend(error.to_ne_bytes());
    out.extend(unique.to_ne_bytes());
    out.extend(payload);
    // A request whose caller went (interrupted) answers ENOENT: nothing to do about it.
    let _ = (&*device).write_all(&out);
}
