//! The driver's op slots (`coring::fuzz_support::Slots`, the real `Lifecycle` transitions) against
//! a scripted kernel.
//!
//! Input: a byte script. Each step is an action byte and an argument byte: push a single-shot,
//! zero-copy or multishot op; post the next completion the kernel could legally post for one op
//! (a result, an error, `F_MORE`, the zero-copy notification); poll an op's future; drop it in
//! flight; honour the cancels the slots asked for with `-ECANCELED`; empty the graveyard; post a
//! stale completion for an op that has finished. At the end every op is driven to its final
//! completion and every future polled to its end.
//!
//! Invariants: the data of a dropped op (`keep`) is dropped only after the op's final completion
//! and exactly once; every resource a completion hands over (a positive result stands for an fd or
//! a buffer) reaches exactly one owner, the live future that polls it or the dropped op's
//! `dispose`; a future sees its results in the order the kernel posted them, the last one flagged
//! last; `Dispatched` is what the op's state says; a waiter is woken once per completion it waited
//! for; a cancel is asked for exactly when the dropped op is still cancellable; a stale completion
//! changes nothing; at the end no slot is in use.

#![no_main]

use coring::fuzz_support::{Cqe, Dispatched, Slots};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};

const F_MORE: u32 = 1 << 1; // IORING_CQE_F_MORE
const F_NOTIF: u32 = 1 << 3; // IORING_CQE_F_NOTIF
const MAX_OPS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Single,
    ZeroCopy,
    Multishot,
}

/// Where the kernel is with one op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// May post its (first) completion.
    Active,
    /// A zero-copy send posted its result with `F_MORE`; only the notification is left.
    AwaitingNotification,
    /// The final completion was posted.
    Done,
}

/// Who holds the op on the user's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Future {
    /// Polled, not finished: it will take results.
    Live,
    /// Took its last result (or saw the end of its stream).
    Finished,
    /// Dropped in flight: the slot owns its data.
    Dropped,
}

#[derive(Debug)]
struct Op {
    kind: Kind,
    index: usize,
    user_data: u64,
    kernel: Kernel,
    future: Future,
    /// Whether the slot should still be in the slab.
    slot_alive: bool,
    /// Results posted but not yet taken by the live future (the model of the slot's queue).
    unread: Vec<(i32, bool)>,
    /// A zero-copy send's first result, until its notification.
    partial: Option<i32>,
    waker_registered: bool,
    wakes: Arc<WakeCounter>,
    expected_wakes: usize,
    cancel_expected: bool,
    cancel_requested: bool,
}

#[derive(Debug, Default)]
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What happened to resources and to dropped ops' data, seen from the callbacks the slots run.
#[derive(Default)]
struct Ledger {
    /// Resource value -> how many owners took it (must end at exactly 1).
    owners: HashMap<i32, u32>,
    /// Op number -> whether its final completion was posted.
    final_posted: Vec<bool>,
    /// Op number -> how many times its kept data was dropped.
    keep_drops: Vec<u32>,
}

type SharedLedger = Rc<RefCell<Ledger>>;

/// Stands for the buffers a dropped op's kernel entry points at.
struct Kept {
    op: usize,
    ledger: SharedLedger,
}

impl Drop for Kept {
    fn drop(&mut self) {
        let mut ledger = self.ledger.borrow_mut();
        assert!(
            ledger.final_posted[self.op],
            "op {}: its data was dropped before its final completion",
            self.op
        );
        ledger.keep_drops[self.op] += 1;
    }
}

fn take_resource(ledger: &SharedLedger, result: i32) {
    if result > 0 {
        *ledger.borrow_mut().owners.entry(result).or_default() += 1;
    }
}

struct Script<'a> {
    bytes: &'a [u8],
}

impl Script<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }
}

struct World {
    slots: Slots,
    ops: Vec<Op>,
    ledger: SharedLedger,
    next_resource: i32,
    frees_since_empty: usize,
}

impl World {
    fn new() -> Self {
        World {
            slots: Slots::new(),
            ops: Vec::new(),
            ledger: SharedLedger::default(),
            next_resource: 1,
            frees_since_empty: 0,
        }
    }

    fn push(&mut self, kind: Kind) {
        if self.ops.len() >= MAX_OPS {
            return;
        }
        let wakes = Arc::new(WakeCounter::default());
        let waker = Waker::from(wakes.clone());
        let (index, user_data) = self.slots.push(kind == Kind::Multishot, &waker);
        assert!(
            self.ops
                .iter()
                .all(|op| !op.slot_alive || op.user_data != user_data),
            "user_data {user_data:#x} given to two live slots"
        );
        self.ops.push(Op {
            kind,
            index,
            user_data,
            kernel: Kernel::Active,
            future: Future::Live,
            slot_alive: true,
            unread: Vec::new(),
            partial: None,
            waker_registered: true,
            wakes,
            expected_wakes: 0,
            cancel_expected: false,
            cancel_requested: false,
        });
        let mut ledger = self.ledger.borrow_mut();
        ledger.final_posted.push(false);
        ledger.keep_drops.push(0);
    }

    fn fresh_resource(&mut self) -> i32 {
        let r = self.next_resource;
        self.next_resource += 1;
        r
    }

    /// Posts the next legal completion for op `n`; `variant` picks among them.
    fn kernel_completes(&mut self, n: usize, variant: u8) {
        let op = &self.ops[n];
        let (result, flags) = match (op.kernel, op.kind) {
            (Kernel::Done, _) => return,
            (Kernel::AwaitingNotification, _) => (0, F_NOTIF),
            (Kernel::Active, Kind::Single) => match variant % 3 {
                0 => (-libc::ECONNRESET, 0),
                1 => (0, 0),
                _ => (self.fresh_resource(), 0),
            },
            (Kernel::Active, Kind::ZeroCopy) => match variant % 3 {
                // A failed zero-copy send posts one completion, no notification.
                0 => (-libc::EPIPE, 0),
                _ => (self.fresh_resource(), F_MORE),
            },
            (Kernel::Active, Kind::Multishot) => match variant % 4 {
                0 => (-libc::ENOBUFS, 0),
                1 => (0, 0),
                _ => (self.fresh_resource(), F_MORE),
            },
        };
        self.post(n, result, flags);
    }

    fn post(&mut self, n: usize, result: i32, flags: u32) {
        let more = flags & F_MORE != 0;
        let notif = flags & F_NOTIF != 0;
        let user_data = self.ops[n].user_data;
        {
            let op = &mut self.ops[n];
            op.kernel = match (op.kind, more) {
                (_, false) => Kernel::Done,
                (Kind::ZeroCopy, true) => Kernel::AwaitingNotification,
                (_, true) => Kernel::Active,
            };
        }
        if !more {
            self.ledger.borrow_mut().final_posted[n] = true;
        }
        let got = self.slots.complete(user_data, Cqe { result, flags });
        let op = &mut self.ops[n];
        let expected = match op.future {
            Future::Dropped if more => Dispatched::Keep,
            Future::Dropped => Dispatched::Free,
            _ if op.kind == Kind::ZeroCopy && more => Dispatched::Keep,
            _ => Dispatched::Wake,
        };
        assert_eq!(
            got, expected,
            "op {n} ({op:?}): completion {result} {flags:#x}"
        );
        match got {
            Dispatched::Keep if op.future != Future::Dropped => op.partial = Some(result),
            Dispatched::Wake => {
                let result = if notif {
                    op.partial.take().expect("a notification without a result")
                } else {
                    result
                };
                op.unread.push((result, !more));
                if op.waker_registered {
                    op.expected_wakes += 1;
                    op.waker_registered = false;
                }
            }
            Dispatched::Free => {
                op.slot_alive = false;
                self.frees_since_empty += 1;
            }
            _ => {}
        }
        let op = &self.ops[n];
        assert_eq!(
            op.wakes.0.load(Ordering::Relaxed),
            op.expected_wakes,
            "op {n}: wakes"
        );
    }

    fn poll(&mut self, n: usize) {
        let op = &mut self.ops[n];
        if op.future != Future::Live {
            return;
        }
        let waker = Waker::from(op.wakes.clone());
        match op.kind {
            Kind::Single | Kind::ZeroCopy => match self.slots.poll_result(op.index, &waker) {
                Poll::Pending => {
                    assert!(op.unread.is_empty(), "op {n}: pending with a result posted");
                    op.waker_registered = true;
                }
                Poll::Ready(cqe) => {
                    assert_eq!(op.unread.as_slice(), &[(cqe.result, true)], "op {n}");
                    op.unread.clear();
                    op.future = Future::Finished;
                    op.slot_alive = false;
                    take_resource(&self.ledger, cqe.result);
                }
            },
            Kind::Multishot => match self.slots.poll_stream(op.index, &waker) {
                Poll::Pending => {
                    assert!(op.unread.is_empty(), "op {n}: pending with results queued");
                    assert_ne!(op.kernel, Kernel::Done, "op {n}: pending after its end");
                    op.waker_registered = true;
                }
                Poll::Ready(Some((cqe, last))) => {
                    assert!(!op.unread.is_empty(), "op {n}: a result nobody posted");
                    let (result, final_) = op.unread.remove(0);
                    assert_eq!(cqe.result, result, "op {n}: results out of order");
                    assert_eq!(last, final_, "op {n}: wrong `last` flag");
                    take_resource(&self.ledger, result);
                    if last {
                        op.future = Future::Finished;
                        op.slot_alive = false;
                    }
                }
                Poll::Ready(None) => {
                    unreachable!("op {n}: the last result is flagged, so the end is never polled")
                }
            },
        }
    }

    fn drop_future(&mut self, n: usize) {
        let op = &mut self.ops[n];
        if op.future != Future::Live {
            return;
        }
        // What the slot will hand to dispose right away: results the future never took, and a
        // zero-copy send's result while it waits for the notification.
        let pending_now: Vec<i32> = op
            .unread
            .drain(..)
            .map(|(r, _)| r)
            .chain(op.partial.take())
            .collect();
        let finished = op.kernel == Kernel::Done;
        op.cancel_expected = op.kernel == Kernel::Active;
        op.future = Future::Dropped;
        let ledger = self.ledger.clone();
        let dispose = Box::new(move |cqe: Cqe| take_resource(&ledger, cqe.result));
        let kept = Box::new(Kept {
            op: n,
            ledger: self.ledger.clone(),
        });
        let owners_before: Vec<u32> = pending_now.iter().map(|r| self.owner_count(*r)).collect();
        let already_done = self.slots.abandon(self.ops[n].index, dispose, kept);
        assert_eq!(already_done, finished, "op {n}: abandon's verdict");
        for (r, before) in pending_now.iter().zip(owners_before) {
            if *r > 0 {
                assert_eq!(
                    self.owner_count(*r),
                    before + 1,
                    "op {n}: result {r} not disposed"
                );
            }
        }
        if already_done {
            self.ops[n].slot_alive = false;
            assert_eq!(self.ledger.borrow().keep_drops[n], 1, "op {n}: data kept");
        }
    }

    fn owner_count(&self, resource: i32) -> u32 {
        self.ledger
            .borrow()
            .owners
            .get(&resource)
            .copied()
            .unwrap_or(0)
    }

    fn take_cancels(&mut self) {
        for user_data in self.slots.take_cancels() {
            // The target may have completed since (its slot gone): the kernel then answers the
            // cancel with -ENOENT, which the driver ignores. Generations make user_data unique.
            let op = self
                .ops
                .iter_mut()
                .find(|op| op.user_data == user_data)
                .expect("a cancel for an op never pushed");
            assert!(op.cancel_expected, "an unexpected cancel for {op:?}");
            assert!(!op.cancel_requested, "two cancels for one op");
            op.cancel_expected = false;
            op.cancel_requested = true;
        }
        for (n, op) in self.ops.iter().enumerate() {
            assert!(
                !op.cancel_expected,
                "op {n}: dropped in flight, no cancel asked for"
            );
        }
    }

    /// The kernel honours a cancel: the op ends with `-ECANCELED` unless it already ended (or
    /// only its zero-copy notification is left, which a cancel does not stop).
    fn honour_cancel(&mut self, n: usize) {
        let op = &self.ops[n];
        if op.cancel_requested && op.kernel == Kernel::Active {
            self.post(n, -libc::ECANCELED, 0);
        }
    }

    fn stale_completion(&mut self, n: usize) {
        let op = &self.ops[n];
        if op.kernel != Kernel::Done {
            return;
        }
        let before = (self.slots.len(), self.slots.in_flight());
        let got = self.slots.complete(
            op.user_data,
            Cqe {
                result: 12345,
                flags: 0,
            },
        );
        let expected = if op.slot_alive {
            Dispatched::AfterFinal
        } else {
            Dispatched::Unknown
        };
        assert_eq!(got, expected, "op {n}: stale completion");
        assert_eq!(before, (self.slots.len(), self.slots.in_flight()));
    }

    fn empty_graveyard(&mut self) {
        let freed = self.slots.empty_graveyard();
        assert_eq!(freed, self.frees_since_empty, "graveyard size");
        self.frees_since_empty = 0;
    }

    fn check_counts(&self) {
        let alive = self.ops.iter().filter(|op| op.slot_alive).count();
        assert_eq!(self.slots.len(), alive, "slots in use");
        let in_flight = self
            .ops
            .iter()
            .filter(|op| op.slot_alive && op.kernel != Kernel::Done)
            .count();
        assert_eq!(self.slots.in_flight(), in_flight, "slots in flight");
    }

    /// Everything ends: cancels honoured, every op's last completion posted, every future polled
    /// to its end, the graveyard emptied.
    fn finish(&mut self) {
        self.take_cancels();
        for n in 0..self.ops.len() {
            self.honour_cancel(n);
            while self.ops[n].kernel != Kernel::Done {
                // Variant 1 ends a single-shot or multishot op with a result of 0; a zero-copy
                // send gets its result, then its notification.
                self.kernel_completes(n, 1);
            }
            while self.ops[n].future == Future::Live {
                self.poll(n);
            }
        }
        self.empty_graveyard();
        self.check_counts();
        assert!(self.slots.is_empty(), "slots left: {:?}", self.slots);
        let ledger = self.ledger.borrow();
        for (n, op) in self.ops.iter().enumerate() {
            let drops = ledger.keep_drops[n];
            let expected = u32::from(op.future == Future::Dropped);
            assert_eq!(drops, expected, "op {n}: kept data dropped {drops} times");
        }
        for r in 1..self.next_resource {
            let owners = ledger.owners.get(&r).copied().unwrap_or(0);
            assert_eq!(owners, 1, "resource {r} reached {owners} owners");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut script = Script { bytes: data };
    let mut world = World::new();
    while let (Some(action), Some(arg)) = (script.next(), script.next()) {
        let pick = |world: &World| (!world.ops.is_empty()).then(|| arg as usize % world.ops.len());
        match action % 9 {
            0 => world.push(Kind::Single),
            1 => world.push(Kind::ZeroCopy),
            2 => world.push(Kind::Multishot),
            3 => {
                if let Some(n) = pick(&world) {
                    world.kernel_completes(n, arg / 64);
                }
            }
            4 => {
                if let Some(n) = pick(&world) {
                    world.poll(n);
                }
            }
            5 => {
                if let Some(n) = pick(&world) {
                    world.drop_future(n);
                }
            }
            6 => {
                world.take_cancels();
                if let Some(n) = pick(&world) {
                    world.honour_cancel(n);
                }
            }
            7 => world.empty_graveyard(),
            _ => {
                if let Some(n) = pick(&world) {
                    world.stale_completion(n);
                }
            }
        }
        world.check_counts();
    }
    world.finish();
});
