//! Hooks for the fuzz targets in `fuzz/`; compiled only with `--cfg fuzzing` (which `cargo fuzz`
//! passes), never part of a normal build.
//!
//! [`Slots`] is the driver's own slot table (`SlotTable` in `driver/uring/slots.rs`: the code
//! `Uring` runs for every push, completion, poll and dropped op) without the ring. What the
//! driver does around it (pushing the cancels the table asks for, waking, dropping finished data
//! after the borrow) is recorded here instead, for the fuzz target to check. A fuzz target plays
//! the kernel: it posts completions and checks what the slots do with them and with the data of
//! dropped ops.

use crate::driver::uring::slots::{Dropped, Reaped, SlotTable};
use crate::driver::{Abandoned, FuzzCqeResult as CqeResult};
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
    /// yet, or a finished stream): the driver skips it (and `debug_assert`s).
    AfterFinal,
}

/// The driver's slot table, and what the driver would do with its answers. See the module docs.
pub struct Slots {
    table: SlotTable,
    graveyard: Vec<Box<dyn Abandoned>>,
    cancels: Vec<u64>,
}

impl Default for Slots {
    fn default() -> Self {
        Slots {
            table: SlotTable::with_capacity(0),
            graveyard: Vec::new(),
            cancels: Vec::new(),
        }
    }
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slots")
            .field("in_use", &self.table.len())
            .field("graveyard", &self.graveyard.len())
            .finish()
    }
}

impl Slots {
    /// No slots.
    pub fn new() -> Self {
        Self::default()
    }

    /// An op's first poll: a slot for it (woken through `waker`). Returns its index and the
    /// `user_data` its completions carry.
    pub fn push(&mut self, multishot: bool, waker: &Waker) -> (usize, u64) {
        self.table.insert(multishot, waker)
    }

    /// A single-shot op polled again (`SlotTable::poll_result`, as `Op::poll` calls it).
    pub fn poll_result(&mut self, index: usize, waker: &Waker) -> Poll<Cqe> {
        let mut replaced = None;
        self.table
            .poll_result(index, waker, &mut replaced)
            .map(|cqe| Cqe::from_result(&cqe))
    }

    /// A multishot op polled again (`SlotTable::poll_stream`): the next result and whether it was
    /// the last, `None` once the stream ended.
    pub fn poll_stream(&mut self, index: usize, waker: &Waker) -> Poll<Option<(Cqe, bool)>> {
        let mut replaced = None;
        self.table
            .poll_stream(index, waker, &mut replaced)
            .map(|next| next.map(|(cqe, last)| (Cqe::from_result(&cqe), last)))
    }

    /// The op's future was dropped in flight (`Uring::abandon`): the slot keeps `keep` until
    /// the final completion and passes every result nobody will take to `dispose`. Returns
    /// whether the op had already finished (then `keep` is dropped before this returns).
    ///
    /// # Panics
    /// If the slot is gone (only shutdown, which this does not model, frees a slot under a
    /// live future).
    pub fn abandon(&mut self, index: usize, dispose: Dispose, keep: Box<dyn Any>) -> bool {
        let data = Box::new(FakeOp {
            dispose,
            _keep: keep,
        });
        match self.table.abandon(index, data) {
            Dropped::Finished(data, _) => {
                drop(data);
                true
            }
            Dropped::Kept { cancel, .. } => {
                self.cancels.extend(cancel);
                false
            }
            Dropped::Leaked => panic!("slot {index} abandoned after it was freed"),
        }
    }

    /// One completion reaped (`Uring::dispatch`); a waker to wake is woken.
    pub fn complete(&mut self, user_data: u64, cqe: Cqe) -> Dispatched {
        match self
            .table
            .complete(user_data, CqeResult::from_raw(cqe.result, cqe.flags))
        {
            Reaped::Unknown => Dispatched::Unknown,
            Reaped::AfterFinal => Dispatched::AfterFinal,
            Reaped::Keep => Dispatched::Keep,
            // The fuzzed slots never set a limit, so no stream is capped.
            Reaped::Wake { waker, .. } | Reaped::WakeAndCancel(waker) => {
                if let Some(waker) = waker {
                    waker.wake();
                }
                Dispatched::Wake
            }
            Reaped::Free(data) => {
                self.graveyard.push(data);
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
        self.table.len()
    }

    /// Whether no slot is in use.
    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Slots whose op the kernel may still complete.
    pub fn in_flight(&self) -> usize {
        self.table.in_flight()
    }
}
