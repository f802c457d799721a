//! Registering memory with the ring: fixed buffers and provided-buffer rings.
//!
//! Registration hands the kernel long-lived pointers, so these functions are `unsafe`: the caller
//! (the `buf` module) promises the memory outlives the registration.
//!
//! # The two kinds, and who owns what
//!
//! * **Fixed buffers** (`src/buf/fixed.rs`, `FixedBufPool`): one table per ring of memory the
//!   kernel pins once, so `READ_FIXED`/`WRITE_FIXED` skip mapping the pages on every op. The
//!   pool owns the memory and unregisters before freeing it.
//! * **Provided-buffer rings** (`src/buf/ring.rs`, `BufRing`): a ring of buffer addresses the
//!   kernel picks from when a receive completes (`BUFFER_SELECT`), so an idle connection holds
//!   no buffer while it waits (hazard H7 in `docs/HAZARDS.md`). Identified by a group id per
//!   ring, handed out by `buffer_groups.rs`. The `BufRing` owns the ring and its buffers; a
//!   buffer the kernel picked is the receive's until given back.
//!
//! Both count against `RLIMIT_MEMLOCK` unless the process has `CAP_IPC_LOCK`, and fail with
//! `ENOMEM` past it; [`explain_memlock`] names the limit and the ways to raise it (hazard H9).
//! A fork child refuses both (`check_owner`): the parent's table is not the child's to change.

use super::Uring;
use std::io;

impl Uring {
    /// Registers `iovecs` as the ring's fixed buffers (one table per ring: a second
    /// `FixedBufPool` on the same runtime is refused with `EBUSY`, explained below).
    ///
    /// # Safety
    ///
    /// Each iovec must describe memory that stays allocated and unmoved until
    /// [`Uring::unregister_buffers`] returns or the ring is dropped.
    pub(crate) unsafe fn register_buffers(&mut self, iovecs: &[libc::iovec]) -> io::Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(err) = super::super::faults::take_registration_error() {
            return Err(explain_memlock(err));
        }
        self.check_owner()?;
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.ring.submitter().register_buffers(iovecs) }.map_err(explain_memlock)
    }

    /// Unregisters the fixed buffers. In a fork child this fails (and leaves the parent's table
    /// alone).
    pub(crate) fn unregister_buffers(&mut self) -> io::Result<()> {
        self.check_owner()?;
        self.ring.submitter().unregister_buffers()
    }

    /// A buffer group id that no live ring of this driver uses (1..=65535); give it back with
    /// [`Uring::release_buffer_group`]. Ids are reused, never wrapped onto a live one: a
    /// registration under a live group's id would fail, and its cleanup would unregister the
    /// live group.
    pub(crate) fn next_buffer_group(&mut self) -> io::Result<u16> {
        self.buffer_groups.take()
    }

    /// Ends group `bgid`: unregisters it if it was registered and makes the id reusable. An id
    /// whose unregistration failed stays out of use, since the kernel may still hold it.
    pub(crate) fn release_buffer_group(&mut self, bgid: u16, registered: bool) {
        if registered && self.unregister_buf_ring(bgid).is_err() {
            return;
        }
        self.buffer_groups.give_back(bgid);
    }

    /// Registers a provided-buffer ring of `entries` entries at `ring_addr` as group `bgid`.
    ///
    /// # Safety
    ///
    /// `ring_addr` must be page-aligned memory for `entries` `io_uring_buf` entries, and it and
    /// every buffer later published in it must stay allocated until
    /// [`Uring::unregister_buf_ring`] returns or the ring is dropped.
    pub(crate) unsafe fn register_buf_ring(
        &mut self,
        ring_addr: u64,
        entries: u16,
        bgid: u16,
    ) -> io::Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(err) = super::super::faults::take_registration_error() {
            return Err(explain_buf_ring(err));
        }
        self.check_owner()?;
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(ring_addr, entries, bgid, 0)
        }
        .map_err(explain_buf_ring)
    }

    /// The kernel's head of group `bgid`'s ring: how many buffers it has taken, modulo 2^16
    /// (`IORING_REGISTER_PBUF_STATUS`, Linux 6.8). `None` where the kernel cannot say.
    ///
    /// `BufRing::kernel_has_buffers` compares it with its own tail: buffers published but not
    /// yet taken are invisible to a user-space count, and re-arming a receive into an empty
    /// group only earns another `ENOBUFS`. One syscall, asked when a stream ran dry
    /// (`ENOBUFS`) or a pool picks a ring for a reader (`src/buf/pool.rs`), not per item.
    pub(crate) fn buf_ring_head(&self, bgid: u16) -> Option<u16> {
        /// `struct io_uring_buf_status`.
        #[repr(C)]
        struct BufStatus {
            buf_group: u32,
            head: u32,
            resv: [u32; 8],
        }
        const IORING_REGISTER_PBUF_STATUS: libc::c_uint = 26;
        let mut status = BufStatus {
            buf_group: u32::from(bgid),
            head: 0,
            resv: [0; 8],
        };
        // SAFETY: the kernel reads and writes only `status`, a live, properly laid out
        // `io_uring_buf_status` (one argument), during the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                self.ring_fd(),
                IORING_REGISTER_PBUF_STATUS,
                &raw mut status,
                1,
            )
        };
        // The kernel keeps the head as a u16 too (it wraps with the ring's u16 tail).
        (rc == 0).then_some(status.head as u16)
    }

    /// Takes group `bgid` out of the kernel; see [`Uring::release_buffer_group`] for why an id
    /// whose unregistration failed is never handed out again.
    fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.check_owner()?;
        self.ring.submitter().unregister_buf_ring(bgid)
    }
}

/// A refused buffer ring: `EINVAL` is a kernel before 5.19, which knows no such registration
/// (the arguments are checked before the call: a power-of-two count, a page-aligned ring).
fn explain_buf_ring(err: io::Error) -> io::Error {
    if err.raw_os_error() != Some(libc::EINVAL) {
        return explain_memlock(err);
    }
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "coring: BufRing needs Linux 5.19 (IORING_REGISTER_PBUF_RING); this kernel refused \
             it ({err})"
        ),
    )
}

/// Registration fails with ENOMEM when the locked-memory limit is reached: say which limit.
/// `EBUSY` is the kernel refusing a second fixed-buffer table on one ring, so it becomes
/// `AlreadyExists`, which says that; other errors keep their kind and gain the context the
/// errno alone lacks.
fn explain_memlock(err: io::Error) -> io::Error {
    match err.raw_os_error() {
        Some(libc::ENOMEM) => io::Error::new(
            io::ErrorKind::OutOfMemory,
            "coring: registering buffers with io_uring failed with ENOMEM: the locked-memory \
             limit (RLIMIT_MEMLOCK) is too low for this many buffers. Raise it (ulimit -l, \
             LimitMEMLOCK= in systemd, --ulimit memlock= in Docker) or register fewer/smaller \
             buffers",
        ),
        Some(libc::EBUSY) => io::Error::new(
            io::ErrorKind::AlreadyExists,
            "coring: this runtime's ring already has registered buffers (one FixedBufPool per \
             runtime)",
        ),
        _ => io::Error::new(
            err.kind(),
            format!("coring: io_uring registration failed: {err}"),
        ),
    }
}
