//! Provided buffer rings: a pool of buffers the kernel picks from when data *arrives*, instead of
//! a buffer per pending read.
//!
//! With a plain read, every idle connection pins a buffer for as long as it waits. With a
//! [`BufRing`], connections wait with no buffer at all; the kernel takes one from the ring only
//! when bytes come in, and the completion says which ([`RingBuf`]). Dropping the `RingBuf` hands
//! the buffer back to the kernel. So memory per idle connection is nearly constant, and a burst
//! that drains the ring is back-pressure (`ENOBUFS`, re-armed when buffers return), not an error.
//!
//! Several rings may exist per runtime (each gets its own buffer group id).
//!
//! On the epoll backend there is no kernel ring: the buffers are a user-space pool, and a
//! receive takes one only once its socket is readable, reads into it, and hands it over as the
//! kernel would (so an idle connection still holds no buffer). Group ids count per runtime
//! there too, but name nothing in the kernel.

use super::region::Region;
use crate::driver::{self, DriverCell};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::ops::Deref;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Waker;

/// One ring entry as the kernel reads it (`struct io_uring_buf`). The ring's tail shares the
/// `resv` field of entry 0.
#[repr(C)]
struct RawEntry {
    addr: u64,
    len: u32,
    bid: u16,
    resv: u16,
}

/// A ring of provided buffers registered with the current runtime's ring.
///
/// ```
/// coring::block_on(async {
///     let ring = coring::buf::BufRing::new(64, 4096).unwrap();
///     assert_eq!(ring.available(), 64);
/// });
/// ```
#[derive(Clone)]
pub struct BufRing {
    inner: Rc<RingInner>,
}

struct RingInner {
    bgid: u16,
    entries: u16,
    size: usize,
    ring: Region,
    buffers: Region,
    tail: Cell<u16>,
    available: Cell<usize>,
    returns: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
    /// Whether the kernel accepted the group (so dropping must unregister it).
    registered: bool,
    /// Epoll backend: the buffers no reader holds (the kernel's ring does this on io_uring).
    free: Option<RefCell<Vec<u16>>>,
    /// The runtime whose ring the group is registered with; ops naming the group must go there.
    driver: Rc<DriverCell>,
}

impl BufRing {
    /// Allocates `entries` buffers of `buf_size` bytes and registers them as a new buffer group.
    /// On the epoll backend nothing is registered: receives take a buffer from this pool when
    /// their socket is readable, so they behave the same (an idle reader holds no buffer).
    ///
    /// # Errors
    ///
    /// `InvalidInput` unless `entries` is a power of two in 1..=32768 and `buf_size` non-zero;
    /// the kernel's error (with the RLIMIT_MEMLOCK hint for ENOMEM) if registration fails.
    ///
    /// # Panics
    ///
    /// Outside a coring runtime.
    #[track_caller]
    pub fn new(entries: u16, buf_size: usize) -> io::Result<BufRing> {
        Self::with_driver(driver::current(), entries, buf_size)
    }

    /// [`new`](BufRing::new) on the ring of `driver` (the runtime's read pool makes its rings
    /// this way, also from outside `block_on`).
    pub(crate) fn with_driver(
        driver: Rc<DriverCell>,
        entries: u16,
        buf_size: usize,
    ) -> io::Result<BufRing> {
        if !entries.is_power_of_two()
            || entries > 32768
            || buf_size == 0
            || buf_size > u32::MAX as usize
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: a buffer ring needs a power-of-two count up to 32768 of non-empty buffers",
            ));
        }
        let count = usize::from(entries);
        let readiness = driver.borrow().is_readiness();
        // The kernel reads no ring on epoll: a page for it would be wasted.
        let ring = match readiness {
            true => Region::new(0, 1)?,
            false => Region::new(count * std::mem::size_of::<RawEntry>(), 4096)?,
        };
        let buffers = Region::new(count.checked_mul(buf_size).ok_or_else(too_large)?, 64)?;
        let bgid = if readiness {
            driver.borrow_mut().epoll().next_buffer_group()?
        } else {
            driver.borrow_mut().uring().next_buffer_group()?
        };
        let mut inner = RingInner {
            bgid,
            entries,
            size: buf_size,
            ring,
            buffers,
            tail: Cell::new(0),
            available: Cell::new(0),
            returns: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            registered: false,
            free: readiness.then(|| RefCell::new(Vec::with_capacity(count))),
            driver,
        };
        if readiness {
            for bid in 0..entries {
                inner.publish(bid);
            }
            inner.returns.set(0);
            return Ok(BufRing {
                inner: Rc::new(inner),
            });
        }
        // SAFETY: `ring` is page-aligned room for `entries` entries; it and the buffers live in
        // `inner`, whose Drop unregisters the group before the memory is freed.
        unsafe {
            inner.driver.borrow_mut().uring().register_buf_ring(
                inner.ring.at(0) as u64,
                entries,
                bgid,
            )?
        };
        inner.registered = true;
        for bid in 0..entries {
            inner.publish(bid);
        }
        inner.returns.set(0);
        Ok(BufRing {
            inner: Rc::new(inner),
        })
    }

    /// The buffer group id operations name to pick from this ring.
    pub fn group_id(&self) -> u16 {
        self.inner.bgid
    }

    /// Size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.inner.size
    }

    /// Number of buffers in the ring.
    pub fn capacity(&self) -> usize {
        usize::from(self.inner.entries)
    }

    /// Buffers published to the kernel and not yet taken by a reader. This includes buffers the
    /// kernel has already filled for a receive whose completion no task has taken yet, so a
    /// non-zero count does not promise the kernel a free buffer.
    pub fn available(&self) -> usize {
        self.inner.available.get()
    }

    /// How many times a buffer has been handed back to the kernel (a gauge for tests).
    pub fn returns(&self) -> u64 {
        self.inner.returns.get()
    }

    /// Takes ownership of buffer `bid`, which the kernel filled with `len` bytes.
    pub(crate) fn take(&self, bid: u16, len: usize) -> RingBuf {
        assert!(
            bid < self.inner.entries,
            "coring: the kernel named buffer {bid} outside the ring"
        );
        self.inner
            .available
            .set(self.inner.available.get().saturating_sub(1));
        RingBuf {
            ring: self.inner.clone(),
            bid,
            // Fits: a buffer is at most u32::MAX bytes (checked at creation).
            len: len.min(self.inner.size) as u32,
            holder: None,
        }
    }

    /// [`take`](BufRing::take) for a reader that counts the buffers it holds in `held` (one
    /// more until the returned buffer is dropped).
    pub(crate) fn take_held(&self, bid: u16, len: usize, held: &Rc<Cell<usize>>) -> RingBuf {
        let mut buf = self.take(bid, len);
        held.set(held.get() + 1);
        buf.holder = Some(held.clone());
        buf
    }

    /// Fails unless the current runtime is the one this ring was registered with: another
    /// runtime's ring knows the group id as its own group, or as none.
    pub(crate) fn check_current_runtime(&self) -> io::Result<()> {
        if driver::is_current(&self.inner.driver) {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "coring: this BufRing was created by another runtime; a BufRing serves only the \
             runtime (the thread's block_on or worker) that created it",
        ))
    }

    /// Hands buffer `bid` straight back (a result nobody will read).
    pub(crate) fn recycle(&self, bid: u16) {
        drop(self.take(bid, 0));
    }

    /// Whether the kernel has a buffer to pick right now, after a receive ended for want of one
    /// (`ENOBUFS`). Other receives sharing the ring may hold filled buffers whose completions
    /// are not taken yet, so the user-space count is not enough: the kernel's own head says.
    /// (Where the kernel cannot report it, the user-space count is the best guess.)
    pub(crate) fn kernel_has_buffers(&self) -> bool {
        if let Some(free) = &self.inner.free {
            return !free.borrow().is_empty();
        }
        let head = self
            .inner
            .driver
            .try_borrow()
            .ok()
            .and_then(|driver| match &*driver {
                crate::driver::Driver::Uring(uring) => uring.buf_ring_head(self.inner.bgid),
                crate::driver::Driver::Epoll(_) => None,
            });
        match head {
            Some(head) => self.inner.tail.get().wrapping_sub(head) > 0,
            None => self.available() > 0,
        }
    }

    /// Epoll backend: takes a free buffer for a receive about to run, as the kernel would
    /// from its ring; `None` when all are held. The caller gives it back with
    /// [`unpick`](BufRing::unpick) if nothing arrived, or completes with its id.
    pub(crate) fn pick(&self) -> Option<(u16, *mut u8, usize)> {
        let bid = self.inner.free.as_ref()?.borrow_mut().pop()?;
        let ptr = self.inner.buffers.at(usize::from(bid) * self.inner.size);
        Some((bid, ptr, self.inner.size))
    }

    /// Gives back a buffer [`pick`](BufRing::pick)ed for a receive that got no bytes.
    pub(crate) fn unpick(&self, bid: u16) {
        if let Some(free) = &self.inner.free {
            free.borrow_mut().push(bid);
        }
    }

    /// Registers `waker` to be woken when a buffer comes back.
    pub(crate) fn wait_for_buffers(&self, waker: &Waker) {
        let mut waiters = self.inner.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }
}

impl RingInner {
    /// Puts buffer `bid` at the tail and publishes the new tail to the kernel.
    fn publish(&self, bid: u16) {
        self.available.set(self.available.get() + 1);
        self.returns.set(self.returns.get() + 1);
        if let Some(free) = &self.free {
            free.borrow_mut().push(bid);
            return;
        }
        let tail = self.tail.get();
        let slot = usize::from(tail & (self.entries - 1));
        let entry = self
            .ring
            .at(slot * std::mem::size_of::<RawEntry>())
            .cast::<RawEntry>();
        // SAFETY: `slot` < entries, so `entry` is inside the ring region. The slot is past the
        // published tail, so the kernel does not read it until the tail store below; only its
        // own fields (not `resv`, which may be the tail) are written.
        unsafe {
            (&raw mut (*entry).addr).write(self.buffers.at(usize::from(bid) * self.size) as u64);
            (&raw mut (*entry).len).write(self.size as u32);
            (&raw mut (*entry).bid).write(bid);
        }
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail is the u16 at offset 14 of the page-aligned ring (entry 0's `resv`),
        // shared with the kernel, which reads it with acquire semantics.
        let shared_tail = unsafe { AtomicU16::from_ptr(self.ring.at(14).cast::<u16>()) };
        shared_tail.store(tail, Ordering::Release);
    }
}

impl Drop for RingInner {
    fn drop(&mut self) {
        // Every RingBuf and every op using the group holds an Rc to us, so the kernel is done.
        if let Ok(mut driver) = self.driver.try_borrow_mut() {
            match &mut *driver {
                crate::driver::Driver::Uring(uring) => {
                    uring.release_buffer_group(self.bgid, self.registered)
                }
                crate::driver::Driver::Epoll(epoll) => epoll.release_buffer_group(self.bgid),
            }
        }
    }
}

impl fmt::Debug for BufRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufRing")
            .field("group_id", &self.inner.bgid)
            .field("capacity", &self.inner.entries)
            .field("buf_size", &self.inner.size)
            .field("available", &self.available())
            .finish()
    }
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "coring: buffer ring too large")
}

/// A buffer the kernel filled from a [`BufRing`]. Dereferences to the bytes received; dropping
/// it gives the buffer back to the ring.
pub struct RingBuf {
    ring: Rc<RingInner>,
    bid: u16,
    /// Bytes received (a u32, as the kernel reports them: keeps the buffer small).
    len: u32,
    /// The count of buffers its reader holds, if the reader keeps one (a `RecvStream`).
    holder: Option<Rc<Cell<usize>>>,
}

impl RingBuf {
    /// The buffer's id in its ring.
    pub fn buffer_id(&self) -> u16 {
        self.bid
    }

    /// Shortens the visible bytes to `len` (no effect if already shorter).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len as usize {
            self.len = len as u32;
        }
    }
}

impl Deref for RingBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let ptr = self.ring.buffers.at(usize::from(self.bid) * self.ring.size);
        // SAFETY: the kernel handed buffer `bid` to us with this completion and will not touch
        // it until we publish it again (on drop); `len` <= size; the region is initialized.
        unsafe { std::slice::from_raw_parts(ptr, self.len as usize) }
    }
}

impl fmt::Debug for RingBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingBuf")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for RingBuf {
    fn drop(&mut self) {
        if let Some(held) = &self.holder {
            held.set(held.get().saturating_sub(1));
        }
        self.ring.publish(self.bid);
        let waiters = std::mem::take(&mut *self.ring.waiters.borrow_mut());
        for waiter in waiters {
            waiter.wake();
        }
    }
}

// SAFETY: the bytes live in the ring's buffer region, which never moves and outlives the
// RingBuf (it holds an Rc to the ring); the kernel does not write buffer `bid` again until the
// RingBuf is dropped and the buffer republished. `len` <= size, and all of it is initialized.
unsafe impl super::IoBuf for RingBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ring.buffers.at(usize::from(self.bid) * self.ring.size)
    }
    fn bytes_init(&self) -> usize {
        self.len as usize
    }
    fn bytes_total(&self) -> usize {
        self.len as usize
    }
}
