//! Hooks for the fuzz targets in `fuzz/`; compiled only with `--cfg fuzzing` (which `cargo fuzz`
//! passes), never part of a normal build.
//!
//! [`Slots`] is the driver's slab of op slots without the ring: the same `Lifecycle` transitions
//! (`driver/lifecycle.rs`, the real code) glued together the way `Driver::{push, poll_result,
//! poll_stream, abandon, dispatch}` in `driver/mod.rs` glue them. That glue is mirrored here, not
//! shared (it lives on `Driver`, next to the ring): keep the two in step. A fuzz target plays the
//! kernel: it posts completions and checks what the slots do with them and with the data of
//! dropped ops.

use crate::driver::{Abandoned, FuzzCqeResult as CqeResult};
use crate::driver::{FuzzAfterCqe as AfterCqe, FuzzLifecycle as Lifecycle};
use slab::Slab;
use std::any::Any;
use std::fmt;
use std::task::{Poll, Waker};

/// A completion as the kernel posts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cqe {
    /// `cqe.res`: a count, an fd, or a negative errno.
    pub result: i32,
    /// `cqe.flags` (`F_MORE`, `F_NOTIF`, `F_BUFFER` with the buffer id in the high 16 bits).
    pub flags: u32,
}

impl Cqe {
    fn from_result(cqe: &CqeResult) -> Self {
        let result = match &cqe.result {
            Ok(n) => *n as i32,
            Err(e) => -e.raw_os_error().unwrap_or(i32::MAX),
        };
        Cqe {
            result,
            flags: cqe.flags,
        }
    }
}

/// What the fuzz target's op does with a result nobody takes (its `OpCode::dispose`).
pub type Dispose = Box<dyn FnMut(Cqe)>;

/// The data of a dropped op: `keep` stands for the buffers the kernel points at.
struct FakeOp {
    dispose: Dispose,
    _keep: Box<dyn Any>,
}

impl Abandoned for FakeOp {
    fn dispose(&mut self, cqe: &CqeResult) {
        (self.dispose)(Cqe::from_result(cqe))
    }
}

/// What a completion did to the slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// The slot stays, nobody to wake (a zero-copy send's first result; an abandoned op's
    /// non-final result).
    Keep,
    /// The slot stays and its waiter was woken.
    Wake,
    /// The final completion of an abandoned op: its data went to the graveyard.
    Free,
    /// No slot with this `user_data` (freed, or reused with a new generation): the driver
    /// skips it (and `debug_assert`s).
    Unknown,
    /// The slot exists but its op already had its final completion (completed and not taken
    /// yet, or a finished stream). The driver cannot tell: `Lifecycle::on_cqe` panics for a
    /// completed slot and queues the result for a finished stream. Never applied here.
    AfterFinal,
}

struct Slot {
    generation: u32,
    lifecycle: Lifecycle,
}

/// The driver's slot slab without the ring. See the module docs.
#[derive(Default)]
pub struct Slots {
    slots: Slab<Slot>,
    generation: u32,
    graveyard: Vec<Box<dyn Abandoned>>,
    cancels: Vec<u64>,
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("in_use", &self.slots.len())
            .field("graveyard", &self.graveyard.len())
            .finish()
    }
}

const GENERATION_MASK: u32 = 0x7fff_ffff;

impl Slots {
    /// No slots.
    pub fn new() -> Self {
        Self::default()
    }

    /// An op's first poll: a slot for it (woken through `waker`). Returns its index and the
    /// `user_data` its completions carry.
    pub fn push(&mut self, multishot: bool, waker: &Waker) -> (usize, u64) {
        self.generation = (self.generation + 1) & GENERATION_MASK;
        let generation = self.generation;
        let mut lifecycle = Lifecycle::new(multishot);
        match &mut lifecycle {
            Lifecycle::Pending { waker: w, .. } | Lifecycle::Streaming { waker: w, .. } => {
                *w = Some(waker.clone())
            }
            _ => {}
        }
        let index = self.slots.insert(Slot {
            generation,
            lifecycle,
        });
        (index, (u64::from(generation) << 32) | index as u64)
    }

    /// A single-shot op polled again (`Driver::poll_result`).
    pub fn poll_result(&mut self, index: usize, waker: &Waker) -> Poll<Cqe> {
        match &mut self.slots[index].lifecycle {
            Lifecycle::Pending { waker: w, .. } => {
                set_waker(w, waker);
                Poll::Pending
            }
            Lifecycle::Completed(_) => match self.slots.remove(index).lifecycle {
                Lifecycle::Completed(cqe) => Poll::Ready(Cqe::from_result(&cqe)),
                _ => unreachable!(),
            },
            _ => panic!("a single-shot op polled a slot of another kind"),
        }
    }

    /// A multishot op polled again (`Driver::poll_stream`): the next result and whether it was
    /// the last, `None` once the stream ended.
    pub fn poll_stream(&mut self, index: usize, waker: &Waker) -> Poll<Option<(Cqe, bool)>> {
        let Lifecycle::Streaming {
            ready,
            waker: w,
            finished,
            ..
        } = &mut self.slots[index].lifecycle
        else {
            panic!("a multishot op polled a slot of another kind")
        };
        match ready.pop_front() {
            Some(cqe) => {
                let last = *finished && ready.is_empty();
                if last {
                    self.slots.remove(index);
                }
                Poll::Ready(Some((Cqe::from_result(&cqe), last)))
            }
            None if *finished => {
                self.slots.remove(index);
                Poll::Ready(None)
            }
            None => {
                set_waker(w, waker);
                Poll::Pending
            }
        }
    }

    /// The op's future was dropped in flight (`Driver::abandon`): the slot keeps `keep` until
    /// the final completion and passes every result nobody will take to `dispose`. Returns
    /// whether the op had already finished (then `keep` is dropped before this returns).
    pub fn abandon(&mut self, index: usize, dispose: Dispose, keep: Box<dyn Any>) -> bool {
        let mut data: Box<dyn Abandoned> = Box::new(FakeOp {
            dispose,
            _keep: keep,
        });
        let slot = &mut self.slots[index];
        let user_data = (u64::from(slot.generation) << 32) | index as u64;
        let cancel = match &mut slot.lifecycle {
            Lifecycle::Completed(cqe) => {
                data.dispose(cqe);
                self.slots.remove(index);
                return true;
            }
            Lifecycle::Streaming {
                ready, finished, ..
            } => {
                for cqe in ready.drain(..) {
                    data.dispose(&cqe);
                }
                if *finished {
                    self.slots.remove(index);
                    return true;
                }
                true
            }
            Lifecycle::Pending { partial, .. } => {
                if let Some(cqe) = partial.take() {
                    data.dispose(&cqe);
                    false
                } else {
                    true
                }
            }
            Lifecycle::Abandoned(_) => panic!("an op was abandoned twice"),
        };
        slot.lifecycle = Lifecycle::Abandoned(data);
        if cancel {
            self.cancels.push(user_data);
        }
        false
    }

    /// One completion reaped (`Driver::dispatch`); a waker to wake is woken.
    pub fn complete(&mut self, user_data: u64, cqe: Cqe) -> Dispatched {
        let index = (user_data & 0xffff_ffff) as usize;
        let generation = (user_data >> 32) as u32;
        let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            return Dispatched::Unknown;
        };
        if !slot.lifecycle.in_flight() {
            return Dispatched::AfterFinal;
        }
        let mut wake = None;
        match slot
            .lifecycle
            .on_cqe(CqeResult::from_raw(cqe.result, cqe.flags), &mut wake)
        {
            AfterCqe::Keep => Dispatched::Keep,
            // The fuzzed slots never set a limit, so no stream is capped.
            AfterCqe::Wake | AfterCqe::WakeAndCancel => {
                if let Some(waker) = wake {
                    waker.wake();
                }
                Dispatched::Wake
            }
            AfterCqe::Free => {
                if let Lifecycle::Abandoned(data) = self.slots.remove(index).lifecycle {
                    self.graveyard.push(data);
                }
                Dispatched::Free
            }
        }
    }

    /// Drops the data of finished abandoned ops, as the runtime does after each turn. Returns
    /// how many.
    pub fn empty_graveyard(&mut self) -> usize {
        let n = self.graveyard.len();
        self.graveyard.clear();
        n
    }

    /// The `user_data` of every op a cancel was pushed for since the last call.
    pub fn take_cancels(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.cancels)
    }

    /// Slots in use.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slots whose op the kernel may still complete.
    pub fn in_flight(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| s.lifecycle.in_flight())
            .count()
    }
}

fn set_waker(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}
