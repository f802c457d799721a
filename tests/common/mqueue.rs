//! A POSIX message queue: a file whose filesystem has a `flush` method, so io_uring hands each
//! close of it to a kernel worker thread, where a cancel can still end it unrun (`ECANCELED`).

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

/// A POSIX message queue, already unlinked, and the path that opens it again (through
/// `/proc/self/fd`, as a user would open any path).
pub struct Queue {
    _fd: OwnedFd,
    pub path: PathBuf,
}

/// A new queue named for `tag` and this process; `None` (said on stderr) where the kernel has
/// no POSIX message queues.
pub fn queue(tag: &str) -> Option<Queue> {
    let name = CString::new(format!("/coring-{tag}-{}", std::process::id())).unwrap();
    // SAFETY: `name` is a live C string; a null attribute pointer asks for the defaults.
    let fd = unsafe {
        libc::mq_open(
            name.as_ptr(),
            libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
            0o600 as libc::mode_t,
            std::ptr::null_mut::<libc::mq_attr>(),
        )
    };
    if fd < 0 {
        eprintln!("mq_open: {}", std::io::Error::last_os_error());
        return None;
    }
    // SAFETY: `name` is a live C string. The queue lives on while an fd refers to it.
    unsafe { libc::mq_unlink(name.as_ptr()) };
    Some(Queue {
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        _fd: unsafe { OwnedFd::from_raw_fd(fd) },
        path: PathBuf::from(format!("/proc/self/fd/{fd}")),
    })
}
