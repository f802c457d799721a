//! The runtime's read pool: provided buffer rings every socket reader of one runtime (one
//! worker) shares, so that a [`BufReader`](crate::io::BufReader) over a socket reads through
//! the ring without its user ever making a [`BufRing`].
//!
//! The first ring is registered on first use (a runtime that never reads a socket through a
//! `BufReader` registers nothing). A reader is given the ring with the most buffers free; when
//! every ring is low (under a quarter free) another one is added, so a burst of many
//! connections gets more memory instead of waiting. The rings go with the runtime, after its
//! shutdown has reaped the last completion.
//!
//! # Fairness
//!
//! A reader that stops consuming (a server stuck writing to a client that does not read)
//! keeps what it was given, so a pool of fixed size would end up held by such readers and a
//! new reader would wait for them forever. Two rules prevent it: a reader holds at most its
//! [`share`] (a quarter of a ring, and at most [`SHARE_BYTES`]) before its receive pauses,
//! and a reader whose ring ran dry moves to a ring that has buffers, the pool adding one if
//! none has. So the pool grows with the number of readers holding their share, by at most
//! a share each, up to [`MAX_RINGS`] rings; past that a dry ring is back-pressure (`ENOBUFS`:
//! the reader waits for buffers to come back, and loses nothing).
//!
//! Where the kernel cannot do it (provided buffer rings need Linux 5.19, multishot receive
//! 6.0), or where the runtime was built with [`Builder::read_buffers`](crate::Builder::read_buffers)
//! of 0 buffers, readers fall back to plain reads into their own buffer; [`ReadPath`] says
//! which path the runtime uses. On the epoll backend the rings are user-space pools (see
//! [`BufRing`]): a reader still holds no buffer while its socket is idle.

use super::BufRing;
use crate::driver::DriverCell;
use std::cell::RefCell;
use std::io;
use std::rc::Rc;

/// Buffers per ring by default: enough for hundreds of active connections at once (the pool
/// adds rings when they are not).
pub(crate) const DEFAULT_BUFFERS: u16 = 256;
/// Size of each buffer by default: 16 KiB, so that a message of up to 16 KiB sent in one write
/// arrives in one buffer (with 4 KiB buffers a 16 KiB echo took four completions and four
/// sends, and ran at 0.23-0.29× the plain read; benches/README.md).
pub(crate) const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;
/// How many rings a pool grows to at most (so 64 × 256 × 16 KiB = 256 MiB per worker by
/// default, reached only when 4,096 readers each hold their 64 KiB share).
pub(crate) const MAX_RINGS: usize = 64;
/// The most bytes one reader may hold in pool buffers (unless a buffer is larger): enough to
/// keep a fast reader's receive armed, small enough that readers that stop reading grow the
/// pool only slowly.
pub(crate) const SHARE_BYTES: usize = 64 * 1024;

/// How many buffers of `ring` one reader may hold at once: a quarter of the ring, at most
/// [`SHARE_BYTES`], at least one.
pub(crate) fn share(ring: &BufRing) -> usize {
    (ring.capacity() / 4)
        .min(SHARE_BYTES / ring.buf_size())
        .max(1)
}

/// How a runtime's buffered socket readers read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadPath {
    /// Multishot receives into the runtime's provided buffer rings: an idle connection holds
    /// no buffer, and the kernel fills pool buffers only as bytes arrive.
    BufferRing {
        /// Buffers per ring.
        buffers: usize,
        /// Size of each buffer in bytes.
        buffer_size: usize,
        /// Rings registered so far (the pool adds rings under load).
        rings: usize,
    },
    /// Plain reads into each reader's own buffer, and why the ring path is not used.
    Plain {
        /// Why: the kernel's answer, or the runtime's settings.
        reason: String,
    },
}

/// One runtime's read pool.
pub(crate) struct ReadPool {
    driver: Rc<DriverCell>,
    buffers: u16,
    buffer_size: usize,
    state: RefCell<State>,
}

enum State {
    Untried,
    Rings(Vec<BufRing>),
    Plain(String),
}

impl ReadPool {
    /// A pool of rings of `buffers` × `buffer_size` on `driver`'s ring; none is made yet.
    /// `buffers` of 0 turns the ring path off.
    pub(crate) fn new(driver: Rc<DriverCell>, buffers: u16, buffer_size: usize) -> ReadPool {
        let state = match buffers {
            0 => State::Plain("the runtime was built with read_buffers(0, _)".to_owned()),
            _ => State::Untried,
        };
        ReadPool {
            driver,
            buffers,
            buffer_size,
            state: RefCell::new(state),
        }
    }

    /// A ring for a new reader, registering the first (or another, if all are low) as needed;
    /// `None` where the ring path is not available.
    pub(crate) fn ring(&self) -> Option<BufRing> {
        let mut state = self.state.borrow_mut();
        if let State::Untried = *state {
            *state = match self.first_ring() {
                Ok(ring) => State::Rings(vec![ring]),
                Err(reason) => State::Plain(reason),
            };
        }
        let State::Rings(rings) = &mut *state else {
            return None;
        };
        let best = rings.iter().max_by_key(|ring| ring.available())?.clone();
        if best.available() >= best.capacity() / 4 {
            return Some(best);
        }
        // Every ring is low: add one. If the kernel refuses (memory limits), share the best.
        Some(self.add_ring(rings).unwrap_or(best))
    }

    /// A ring the kernel can fill right now, for a reader whose ring ran dry (`ENOBUFS`):
    /// one of the pool's, or a new one while the pool is under [`MAX_RINGS`]. `None`: the
    /// reader waits for buffers to come back.
    pub(crate) fn ring_with_buffers(&self) -> Option<BufRing> {
        let mut state = self.state.borrow_mut();
        let State::Rings(rings) = &mut *state else {
            return None;
        };
        let best = rings
            .iter()
            .filter(|ring| ring.kernel_has_buffers())
            .max_by_key(|ring| ring.available());
        match best {
            Some(ring) => Some(ring.clone()),
            None => self.add_ring(rings),
        }
    }

    /// Registers one more ring, unless the pool has [`MAX_RINGS`] or the kernel refuses
    /// (memory limits).
    fn add_ring(&self, rings: &mut Vec<BufRing>) -> Option<BufRing> {
        if rings.len() >= MAX_RINGS {
            return None;
        }
        let ring =
            BufRing::with_driver(self.driver.clone(), self.buffers, self.buffer_size).ok()?;
        rings.push(ring.clone());
        Some(ring)
    }

    fn first_ring(&self) -> Result<BufRing, String> {
        // On epoll the "ring" is a user-space pool read into at readiness: no kernel support needed.
        let readiness = self.driver.borrow().is_readiness();
        if !readiness && !multishot_recv_supported(&kernel_release()) {
            return Err(format!(
                "this kernel ({}) lacks multishot receive (Linux 6.0)",
                kernel_release().trim()
            ));
        }
        BufRing::with_driver(self.driver.clone(), self.buffers, self.buffer_size)
            .map_err(|err| format!("registering a provided buffer ring failed: {err}"))
    }

    /// The kernel refused a multishot receive (`EINVAL`): later readers read plainly.
    pub(crate) fn mark_unsupported(&self, err: &io::Error) {
        *self.state.borrow_mut() =
            State::Plain(format!("the kernel refused multishot receive: {err}"));
    }

    /// Which path readers take; registers the first ring if none was yet, to find out.
    pub(crate) fn path(&self) -> ReadPath {
        drop(self.ring());
        match &*self.state.borrow() {
            State::Rings(rings) => ReadPath::BufferRing {
                buffers: usize::from(self.buffers),
                buffer_size: self.buffer_size,
                rings: rings.len(),
            },
            State::Plain(reason) => ReadPath::Plain {
                reason: reason.clone(),
            },
            State::Untried => unreachable!("ring() decides the state"),
        }
    }

    /// Lets go of the rings (at shutdown, once the kernel is done with every op). Readers
    /// still holding one keep it alive until they go.
    pub(crate) fn release(&self) {
        let old = std::mem::replace(
            &mut *self.state.borrow_mut(),
            State::Plain("the runtime shut down".to_owned()),
        );
        drop(old);
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()
}

/// Whether a kernel release string ("6.1.0-13-amd64") is 6.0 or newer. An unreadable one
/// counts as new enough: the first receive's `EINVAL` still turns the path off.
fn multishot_recv_supported(release: &str) -> bool {
    let mut parts = release.trim().split(['.', '-']);
    let major = parts.next().and_then(|p| p.parse::<u32>().ok());
    match major {
        Some(major) => major >= 6,
        None => true,
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<ReadPool>>> = const { RefCell::new(None) };
}

/// Makes `pool` the current thread's read pool; returns the previous one.
pub(crate) fn set_current(pool: Option<Rc<ReadPool>>) -> Option<Rc<ReadPool>> {
    crate::thread_slot::replace(&CURRENT, pool)
}

/// The current runtime's pool, if a runtime runs on this thread.
pub(crate) fn current() -> Option<Rc<ReadPool>> {
    CURRENT
        .try_with(|c| c.try_borrow().ok().and_then(|c| c.clone()))
        .ok()
        .flatten()
}

/// A ring of the current runtime's pool for a new reader, if the ring path is available.
pub(crate) fn current_ring() -> Option<BufRing> {
    current()?.ring()
}

/// [`ReadPool::ring_with_buffers`] of the current runtime's pool.
pub(crate) fn current_ring_with_buffers() -> Option<BufRing> {
    current()?.ring_with_buffers()
}

#[cfg(test)]
mod tests {
    use super::multishot_recv_supported;

    #[test]
    fn kernel_releases_from_6_0_have_multishot_receive() {
        assert!(multishot_recv_supported("6.0.0\n"));
        assert!(multishot_recv_supported("6.18.44-fc-v1300"));
        assert!(!multishot_recv_supported("5.19.17-generic"));
        assert!(!multishot_recv_supported("5.15.0-91-generic\n"));
        assert!(multishot_recv_supported("garbage"));
    }
}
