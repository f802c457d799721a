//! [`ProbeBuf`]: an owned I/O buffer that reports when the runtime lets go of it, for tests of
//! "the runtime keeps a buffer until the kernel is done, then frees it exactly once".

use coring::buf::{IoBuf, IoBufMut};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Counts the [`ProbeBuf`]s made from it that are alive, and those dropped.
#[derive(Debug, Clone, Default)]
pub struct Probe(Arc<(AtomicUsize, AtomicUsize)>);

impl Probe {
    /// A buffer around `bytes` that this probe counts.
    pub fn buf(&self, bytes: Vec<u8>) -> ProbeBuf {
        self.0 .0.fetch_add(1, SeqCst);
        ProbeBuf {
            bytes,
            probe: Some(self.clone()),
            panics: false,
        }
    }

    /// Buffers made and not yet dropped.
    pub fn live(&self) -> usize {
        self.0 .0.load(SeqCst)
    }

    /// Buffers dropped.
    pub fn dropped(&self) -> usize {
        self.0 .1.load(SeqCst)
    }
}

/// A heap buffer (a `Vec` inside) that tells its [`Probe`] when dropped, or panics when dropped.
#[derive(Debug)]
pub struct ProbeBuf {
    bytes: Vec<u8>,
    probe: Option<Probe>,
    panics: bool,
}

impl ProbeBuf {
    /// A buffer whose `Drop` panics (unless the thread is already unwinding): user code the
    /// runtime runs when it frees the buffer.
    pub fn panicking(bytes: Vec<u8>) -> ProbeBuf {
        ProbeBuf {
            bytes,
            probe: None,
            panics: true,
        }
    }
}

impl Deref for ProbeBuf {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.bytes
    }
}

impl Drop for ProbeBuf {
    fn drop(&mut self) {
        if let Some(probe) = &self.probe {
            probe.0 .0.fetch_sub(1, SeqCst);
            probe.0 .1.fetch_add(1, SeqCst);
        }
        if self.panics && !std::thread::panicking() {
            panic!("a buffer's Drop panics");
        }
    }
}

// SAFETY: delegates to the Vec, whose heap bytes stay put when the wrapper moves.
unsafe impl IoBuf for ProbeBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.bytes_total()
    }
}

// SAFETY: delegates to the Vec's implementation.
unsafe impl IoBufMut for ProbeBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller's promise is passed on unchanged.
        unsafe { self.bytes.set_init(pos) }
    }
}

/// A heap buffer that panics, once `armed` is set, when the runtime asks where its bytes are
/// (`stable_mut_ptr`): user code a dropped receive's disposal runs inside the driver.
#[derive(Debug)]
pub struct PanicsWhenArmed {
    bytes: Vec<u8>,
    armed: Arc<std::sync::atomic::AtomicBool>,
}

impl PanicsWhenArmed {
    /// An empty buffer of room `capacity`, panicking once `armed` is set.
    pub fn new(capacity: usize, armed: &Arc<std::sync::atomic::AtomicBool>) -> PanicsWhenArmed {
        PanicsWhenArmed {
            bytes: Vec::with_capacity(capacity),
            armed: armed.clone(),
        }
    }
}

// SAFETY: every answer is the Vec's own (heap bytes, stable across moves); the only departure
// is the panic, which the traits do not forbid.
unsafe impl IoBuf for PanicsWhenArmed {
    fn stable_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.bytes.len()
    }
    fn bytes_total(&self) -> usize {
        self.bytes.capacity()
    }
}

// SAFETY: as above; `set_init` only grows the length to what the kernel wrote.
unsafe impl IoBufMut for PanicsWhenArmed {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        if self.armed.load(SeqCst) {
            panic!("this buffer panics when asked where it is");
        }
        self.bytes.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        if self.bytes.len() < pos {
            // SAFETY: the caller says the first `pos` bytes were written, within capacity.
            unsafe { self.bytes.set_len(pos) };
        }
    }
}
