//! Registered (fixed) buffers: memory the kernel has pinned and mapped once, so reads and writes
//! through it skip the per-operation page lookup.
//!
//! A [`FixedBufPool`] allocates `count` buffers of `size` bytes in one region and registers them
//! with the current runtime's ring (one pool per runtime: a ring has one buffer table). Check a
//! buffer out with [`FixedBufPool::try_take`] or [`FixedBufPool::take`]; it goes back to the
//! pool when dropped — and if it was in an operation whose future was dropped, only after that
//! operation's final completion, because until then the runtime holds it.

use super::region::Region;
use super::{IoBuf, IoBufMut};
use crate::driver::{self, DriverCell};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A pool of buffers registered with the runtime's ring.
///
/// ```
/// coring::block_on(async {
///     let pool = coring::buf::FixedBufPool::new(4, 4096).unwrap();
///     let mut buf = pool.try_take().unwrap();
///     buf.extend_from_slice(b"hello");
///     assert_eq!(&buf[..], b"hello");
///     assert_eq!(pool.available(), 3);
///     drop(buf);
///     assert_eq!(pool.available(), 4);
/// });
/// ```
#[derive(Clone)]
pub struct FixedBufPool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    region: Region,
    size: usize,
    count: usize,
    /// Buffers nobody holds. Non-empty only while no waiter is without a buffer: a returned
    /// buffer goes to the first such waiter instead (see [`PoolInner::release`]).
    free: RefCell<Vec<u16>>,
    /// Tasks waiting in `take`, in arrival order, each with the buffer handed to it, if any.
    waiters: RefCell<VecDeque<Waiter>>,
    next_waiter: Cell<u64>,
    checked_in: Cell<u64>,
    driver: Rc<DriverCell>,
}

impl FixedBufPool {
    /// Allocates and registers `count` buffers of `size` bytes each.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for zero or too many buffers; `OutOfMemory` naming RLIMIT_MEMLOCK when the
    /// kernel refuses to pin this much memory; `AlreadyExists` if the ring already has a pool.
    ///
    /// # Panics
    ///
    /// Outside a coring runtime.
    #[track_caller]
    pub fn new(count: usize, size: usize) -> io::Result<FixedBufPool> {
        if count == 0 || count > usize::from(u16::MAX) || size == 0 || size > u32::MAX as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "coring: a fixed buffer pool needs 1..=65535 buffers of 1..=4 GiB",
            ));
        }
        let total = count
            .checked_mul(size)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "coring: pool too large"))?;
        let region = Region::new(total, 4096)?;
        let iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                iov_base: region.at(i * size).cast(),
                iov_len: size,
            })
            .collect();
        let driver = driver::current();
        // SAFETY: the region is owned by the pool's inner state, which unregisters the buffers
        // in its Drop before the region is freed (fields drop after `drop` runs).
        // The epoll backend has nothing to register: fixed buffers are plain buffers there.
        if let crate::driver::Driver::Uring(uring) = &mut *driver.borrow_mut() {
            // SAFETY: as above.
            unsafe { uring.register_buffers(&iovecs)? };
        }
        let free = (0..count as u16).rev().collect();
        Ok(FixedBufPool {
            inner: Rc::new(PoolInner {
                region,
                size,
                count,
                free: RefCell::new(free),
                waiters: RefCell::new(VecDeque::new()),
                next_waiter: Cell::new(0),
                checked_in: Cell::new(0),
                driver,
            }),
        })
    }

    /// Checks out a free buffer, if any.
    pub fn try_take(&self) -> Option<FixedBuf> {
        let index = self.inner.free.borrow_mut().pop()?;
        Some(FixedBuf {
            pool: self.inner.clone(),
            index,
            len: 0,
        })
    }

    /// Checks out a buffer, waiting for one to be returned if none is free.
    ///
    /// First come, first served: a returned buffer is handed to the longest-waiting `take`,
    /// so neither a later `take` nor [`try_take`](FixedBufPool::try_take) can get ahead of it.
    /// A waiter dropped before it took its buffer passes the buffer on to the next.
    pub async fn take(&self) -> FixedBuf {
        let mut waiting = Waiting {
            pool: &self.inner,
            id: None,
        };
        let index = poll_fn(|cx| waiting.poll(cx)).await;
        FixedBuf {
            pool: self.inner.clone(),
            index,
            len: 0,
        }
    }

    /// Buffers free right now.
    pub fn available(&self) -> usize {
        self.inner.free.borrow().len()
    }

    /// Buffers in the pool.
    pub fn capacity(&self) -> usize {
        self.inner.count
    }

    /// Size of each buffer in bytes.
    pub fn buf_size(&self) -> usize {
        self.inner.size
    }

    /// How many times a buffer has come back to the pool (a gauge for tests).
    pub fn returns(&self) -> u64 {
        self.inner.checked_in.get()
    }
}

impl fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBufPool")
            .field("count", &self.inner.count)
            .field("size", &self.inner.size)
            .field("available", &self.available())
            .finish()
    }
}

/// A task waiting in [`FixedBufPool::take`].
struct Waiter {
    id: u64,
    waker: Waker,
    /// The buffer handed to it, once one came back; it is the waiter's from then on.
    granted: Option<u16>,
}

impl PoolInner {
    /// Takes buffer `index` back: to the first waiter still without one, or else to the free
    /// list. Handing it over (rather than freeing it and waking the waiter to race for it) is
    /// what makes `take` first come, first served.
    fn release(&self, index: u16) {
        let waker = {
            let mut waiters = self.waiters.borrow_mut();
            match waiters.iter_mut().find(|w| w.granted.is_none()) {
                Some(waiter) => {
                    waiter.granted = Some(index);
                    Some(waiter.waker.clone())
                }
                None => {
                    self.free.borrow_mut().push(index);
                    None
                }
            }
        };
        // Woken after the borrow ends: a waker may run arbitrary code.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A `take` call's place in the waiters' queue.
struct Waiting<'a> {
    pool: &'a PoolInner,
    /// Set once queued; the entry leaves the queue when its buffer is taken, or on drop.
    id: Option<u64>,
}

impl Waiting<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<u16> {
        let Some(id) = self.id else {
            // First poll. A free buffer means nobody waits without one (see `free`).
            if let Some(index) = self.pool.free.borrow_mut().pop() {
                return Poll::Ready(index);
            }
            let id = self.pool.next_waiter.get();
            self.pool.next_waiter.set(id + 1);
            self.id = Some(id);
            self.pool.waiters.borrow_mut().push_back(Waiter {
                id,
                waker: cx.waker().clone(),
                granted: None,
            });
            return Poll::Pending;
        };
        let mut waiters = self.pool.waiters.borrow_mut();
        let Some(at) = waiters.iter().position(|w| w.id == id) else {
            unreachable!("coring: a queued take's entry leaves the queue only through it")
        };
        if let Some(index) = waiters[at].granted {
            let waiter = waiters.remove(at);
            drop(waiters);
            // Dropped after the borrow: a waker's Drop is user code, which may drop another
            // `take` of this pool (whose own leaving needs the queue).
            drop(waiter);
            self.id = None;
            return Poll::Ready(index);
        }
        if waiters[at].waker.will_wake(cx.waker()) {
            return Poll::Pending;
        }
        let replaced = std::mem::replace(&mut waiters[at].waker, cx.waker().clone());
        drop(waiters);
        drop(replaced);
        Poll::Pending
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let waiter = {
            let mut waiters = self.pool.waiters.borrow_mut();
            let at = waiters.iter().position(|w| w.id == id);
            at.and_then(|at| waiters.remove(at))
        };
        // Its waker is dropped here, after the borrow (see `poll`).
        let granted = waiter.and_then(|w| w.granted);
        // Given up after a buffer was handed to it: the buffer goes on to the next waiter.
        if let Some(index) = granted {
            self.pool.release(index);
        }
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // Every buffer is back (each holds an Rc to us), so no operation uses the memory. If the
        // driver is busy or gone, the ring's own teardown unregisters.
        if let Ok(mut driver) = self.driver.try_borrow_mut() {
            if let crate::driver::Driver::Uring(uring) = &mut *driver {
                let _ = uring.unregister_buffers();
            }
        }
    }
}

/// A buffer checked out of a [`FixedBufPool`]. Dereferences to its initialized bytes; use with
/// `TcpStream::read_fixed` / `write_fixed`, or as any other owned buffer.
pub struct FixedBuf {
    pool: Rc<PoolInner>,
    index: u16,
    len: usize,
}

impl FixedBuf {
    /// The buffer's index in the ring's buffer table.
    pub fn buf_index(&self) -> u16 {
        self.index
    }

    /// Sets the initialized length to 0.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends bytes; panics if they do not fit.
    ///
    /// # Panics
    ///
    /// If the buffer's capacity would be exceeded.
    #[track_caller]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let (start, end) = (self.len, self.len + bytes.len());
        assert!(end <= self.pool.size, "coring: FixedBuf overflow");
        self.deref_mut_full()[start..end].copy_from_slice(bytes);
        self.len = end;
    }

    fn deref_mut_full(&mut self) -> &mut [u8] {
        let ptr = self
            .pool
            .region
            .at(usize::from(self.index) * self.pool.size);
        // SAFETY: buffer `index` is checked out to this FixedBuf alone, so nothing else (kernel
        // included: ops own the FixedBuf while they run) touches these `size` bytes; the region
        // is zero-initialized.
        unsafe { std::slice::from_raw_parts_mut(ptr, self.pool.size) }
    }
}

impl Deref for FixedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        let ptr = self
            .pool
            .region
            .at(usize::from(self.index) * self.pool.size);
        // SAFETY: as in `deref_mut_full`; `len <= size`.
        unsafe { std::slice::from_raw_parts(ptr, self.len) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.deref_mut_full()[..len]
    }
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.pool.checked_in.set(self.pool.checked_in.get() + 1);
        self.pool.release(self.index);
    }
}

// SAFETY: the bytes live in the pool's region, which never moves and outlives every FixedBuf
// (each holds an Rc to the pool); `len <= size`.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.pool
            .region
            .at(usize::from(self.index) * self.pool.size)
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.pool.size
    }
    fn fixed_index(&self) -> Option<u16> {
        Some(self.index)
    }
}

// SAFETY: as above; the region is writable and zero-initialized, so any prefix is initialized.
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.pool
            .region
            .at(usize::from(self.index) * self.pool.size)
    }
    unsafe fn set_init(&mut self, pos: usize) {
        self.len = self.len.max(pos.min(self.pool.size));
    }
}
