//! The timer store: deadlines and the wakers to wake at them, in user space.
//!
//! A million sleeping tasks are a million entries here and *one* kernel timeout: the runtime
//! parks the ring until [`Timers::next_deadline`].
//!
//! The store is a hierarchical timing wheel on a 1 ms grid (deadlines are rounded *up* to the
//! next tick, so a timer never fires early and timers due within the same millisecond fire in one
//! loop turn). Level `l` has 64 slots of `64^l` ticks each; a timer sits in the level of the
//! highest 6-bit digit in which its tick differs from the wheel's `elapsed` tick, and moves down a
//! level (a relink, no allocation) when time reaches its slot. Insert, update and remove are O(1);
//! finding the next deadline is a scan of at most [`LEVELS`] occupancy words. Entries live in one
//! slab, linked into their slot's list by index, so the steady state allocates nothing.
//!
//! Memory comes back after a spike: when fewer than a quarter of the slab's capacity is in use
//! (above [`KEEP_CAPACITY`]), the live entries move to the front and the slab shrinks. A key
//! keeps the index it was given, so a moved entry is found through `moved` (its id to its new
//! index) until it fires or is removed; keys of entries that did not move never look there.
//!
//! The ordered map this replaced cost about 0.75 µs per insert with a million live timers
//! (benches/README.md).

use crate::counters::Counters;
use slab::Slab;
use std::collections::HashMap;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Slots per level, and bits of the tick each level consumes.
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// 64^7 ms is about 139 years: every deadline a program can mean fits below the top level.
const LEVELS: usize = 7;
/// The grid: one tick is a millisecond (`instant_of` relies on it).
const TICK: Duration = Duration::from_millis(1);
const NONE: u32 = u32::MAX;

/// Identifies one registered timer; unique within its store (the id is never reused, so a key
/// kept after its timer fired cannot touch the timer that took over its slab entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    id: u64,
}

struct Entry {
    id: u64,
    /// The deadline, in nanoseconds since the store's epoch (it fires at the tick after).
    deadline: u64,
    waker: Waker,
    /// Where it is linked: `level * SLOTS + slot`.
    list: u16,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NONE,
    tail: NONE,
};

pub(crate) struct Timers {
    entries: Slab<Entry>,
    lists: [List; LEVELS * SLOTS],
    /// Bit `s` of `occupied[l]`: slot `s` of level `l` has entries.
    occupied: [u64; LEVELS],
    /// Every timer due at or before this tick has fired.
    elapsed: u64,
    epoch: Instant,
    next_id: u64,
    store_id: usize,
    /// Scratch for ordering one slot's timers by exact deadline; kept to reuse its memory.
    firing: Vec<(u64, Waker)>,
    /// Where compaction put the entries it moved, by id (see the module docs).
    moved: HashMap<u64, u32>,
    /// Timers armed and fired, and the pending gauge, for the runtime's metrics.
    counters: Arc<Counters>,
}

static NEXT_STORE_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// Up to this many entries' worth of memory is kept however few timers are live.
const KEEP_CAPACITY: usize = 4096;

impl Timers {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Timers {
            entries: Slab::new(),
            lists: [EMPTY; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            elapsed: 0,
            epoch: Instant::now(),
            next_id: 0,
            firing: Vec::new(),
            moved: HashMap::new(),
            counters,
            store_id: NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Unique per store, so a timer can tell whether the current store is the one it is in.
    pub(crate) fn store_id(&self) -> usize {
        self.store_id
    }

    /// Registers `waker` to be woken at `deadline` (or at the first tick after it).
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        self.next_id += 1;
        let id = self.next_id;
        let deadline = self.nanos_since_epoch(deadline);
        let vacant = self.entries.vacant_entry();
        let index = u32::try_from(vacant.key()).expect("coring: more than 4 billion live timers");
        vacant.insert(Entry {
            id,
            deadline,
            waker,
            list: 0,
            prev: NONE,
            next: NONE,
        });
        self.link(index);
        self.counters.timers_armed.bump();
        self.counters.pending_timers.bump();
        TimerKey { index, id }
    }

    /// Replaces the waker of a registered timer; `false` if it already fired or was removed.
    /// The waker it replaces goes to `replaced`, for the caller to drop once the store is no
    /// longer borrowed: a waker's `Drop` is user code, and may drop a `Sleep` in this store.
    pub(crate) fn update(
        &mut self,
        key: TimerKey,
        waker: &Waker,
        replaced: &mut Option<Waker>,
    ) -> bool {
        match self.entry_mut(key) {
            Some(entry) => {
                if !entry.waker.will_wake(waker) {
                    *replaced = Some(std::mem::replace(&mut entry.waker, waker.clone()));
                }
                true
            }
            None => false,
        }
    }

    /// Moves a registered timer to `deadline`, keeping its waker; `false` if it already fired or
    /// was removed.
    pub(crate) fn reschedule(&mut self, key: TimerKey, deadline: Instant) -> bool {
        let Some(index) = self.locate(key) else {
            return false;
        };
        let deadline = self.nanos_since_epoch(deadline);
        self.unlink(index);
        self.entries[index as usize].deadline = deadline;
        self.link(index);
        true
    }

    /// Unregisters a timer (a no-op if it already fired). Returns its waker, for the caller to
    /// drop once the store is no longer borrowed (as for [`Timers::update`]).
    #[must_use]
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Waker> {
        let index = self.locate(key)?;
        self.unlink(index);
        let entry = self.entries.remove(index as usize);
        self.forget_move(entry.id);
        self.give_back_memory();
        self.counters.pending_timers.sub(1);
        Some(entry.waker)
    }

    /// When the loop must next look at the store: the tick of the earliest timer, or an earlier
    /// tick at which timers of a higher level move down (then nothing fires and the loop parks
    /// again, at most once per level and 64^level ms). `None` if no timer is registered.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let (_, tick) = self.next_slot()?;
        Some(self.instant_of(tick))
    }

    /// Removes every timer due at `now` and moves its waker into `out`, in order of their
    /// deadlines (to the nanosecond; equal deadlines in insertion order). The caller wakes them after releasing its
    /// borrow of the store.
    pub(crate) fn fire_due(&mut self, now: Instant, out: &mut Vec<Waker>) {
        let now_tick = self.tick_at_or_before(now);
        while let Some((list, start)) = self.next_slot() {
            if start > now_tick {
                break;
            }
            self.elapsed = start;
            let mut cursor = self.take_list(list);
            if usize::from(list) < SLOTS {
                // One tick's timers: in order of their exact deadlines, which is their list
                // order unless later-inserted ones are due earlier within the millisecond.
                let mut in_order = true;
                while cursor != NONE {
                    let entry = self.entries.remove(cursor as usize);
                    self.forget_move(entry.id);
                    cursor = entry.next;
                    if let Some(&(last, _)) = self.firing.last() {
                        in_order &= last <= entry.deadline;
                    }
                    self.firing.push((entry.deadline, entry.waker));
                }
                if !in_order {
                    self.firing.sort_by_key(|&(deadline, _)| deadline);
                }
                self.counters.timers_fired.add(self.firing.len() as u64);
                out.extend(self.firing.drain(..).map(|(_, waker)| waker));
            } else {
                // A slot of a higher level came due: its timers move down to finer slots.
                while cursor != NONE {
                    let next = self.entries[cursor as usize].next;
                    self.link(cursor);
                    cursor = next;
                }
            }
        }
        // Nothing is due up to `now_tick`, so every entry stays in a valid place relative to it.
        self.elapsed = self.elapsed.max(now_tick);
        self.counters.pending_timers.set(self.entries.len() as u64);
        if self.firing.capacity() > KEEP_CAPACITY {
            self.firing = Vec::new();
        }
        self.give_back_memory();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Unregisters every timer, returning their wakers for the caller to drop once the store is
    /// no longer borrowed (a waker's `Drop` is user code).
    #[must_use]
    pub(crate) fn clear(&mut self) -> Vec<Waker> {
        let entries = std::mem::take(&mut self.entries);
        self.moved = HashMap::new();
        self.lists = [EMPTY; LEVELS * SLOTS];
        self.occupied = [0; LEVELS];
        self.counters.pending_timers.set(0);
        entries.into_iter().map(|(_, entry)| entry.waker).collect()
    }

    fn entry_mut(&mut self, key: TimerKey) -> Option<&mut Entry> {
        let index = self.locate(key)?;
        Some(&mut self.entries[index as usize])
    }

    /// Where the timer of `key` is now, if it is still registered.
    fn locate(&self, key: TimerKey) -> Option<u32> {
        match self.entries.get(key.index as usize) {
            Some(entry) if entry.id == key.id => Some(key.index),
            // Only entries a compaction moved are found elsewhere.
            _ if self.moved.is_empty() => None,
            _ => self.moved.get(&key.id).copied(),
        }
    }

    fn forget_move(&mut self, id: u64) {
        if !self.moved.is_empty() {
            self.moved.remove(&id);
        }
    }

    /// Shrinks the slab (and the map of moves) once at most a quarter of it is in use. Each
    /// compaction moves fewer entries than the slab's size fell by since the last one, so the
    /// work is amortised over the removals that made room.
    fn give_back_memory(&mut self) {
        let capacity = self.entries.capacity();
        if capacity > KEEP_CAPACITY && self.entries.len() < capacity / 4 {
            self.compact();
        }
        let capacity = self.moved.capacity();
        if capacity > KEEP_CAPACITY && self.moved.len() < capacity / 4 {
            self.moved.shrink_to_fit();
        }
    }

    /// Moves every entry to the front of the slab, shrinks it, and relinks the lists (their links
    /// are indices). Each entry goes back to the list it was in (its deadline and `elapsed` are
    /// unchanged) at the same place, so equal deadlines keep their firing order, including timers
    /// rescheduled onto them.
    fn compact(&mut self) {
        // Every entry, list by list in list order, by the key that finds it after it moved.
        let mut order = Vec::with_capacity(self.entries.len());
        for list in &self.lists {
            let mut cursor = list.head;
            while cursor != NONE {
                let entry = &self.entries[cursor as usize];
                order.push(TimerKey {
                    index: cursor,
                    id: entry.id,
                });
                cursor = entry.next;
            }
        }
        let moved = &mut self.moved;
        self.entries.compact(|entry, _, to| {
            // Fewer than 2^32 entries: `insert` checked every index.
            moved.insert(entry.id, to as u32);
            true
        });
        self.lists = [EMPTY; LEVELS * SLOTS];
        self.occupied = [0; LEVELS];
        for key in order {
            if let Some(index) = self.locate(key) {
                self.link(index);
            }
        }
    }

    fn nanos_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The last tick that has begun by `now`.
    fn tick_at_or_before(&self, now: Instant) -> u64 {
        self.nanos_since_epoch(now) / TICK.as_nanos() as u64
    }

    fn instant_of(&self, tick: u64) -> Instant {
        // Ticks beyond `Instant`'s range never come; a far instant serves as "then".
        self.epoch
            .checked_add(Duration::from_millis(tick))
            .unwrap_or_else(|| self.epoch + Duration::from_secs(86400 * 365 * 100))
    }

    /// The list an entry with this deadline belongs in, given `elapsed`: that of its tick,
    /// the deadline rounded up (firing at it is never early).
    fn list_for(&self, deadline: u64) -> u16 {
        let tick = deadline.div_ceil(TICK.as_nanos() as u64);
        // Past deadlines fire at the next look; deadlines beyond the top level's span (139
        // years) wait at its last slot and fire there early, which a `Sleep` survives: it
        // checks the clock and registers again.
        let top_span_end = self.elapsed | ((1u64 << (SLOT_BITS * LEVELS as u32)) - 1);
        let when = tick.clamp(self.elapsed, top_span_end);
        let differing = (self.elapsed ^ when) | (SLOTS as u64 - 1);
        let level = (63 - differing.leading_zeros()) / SLOT_BITS;
        let slot = (when >> (level * SLOT_BITS)) as usize & (SLOTS - 1);
        (level as usize * SLOTS + slot) as u16
    }

    /// The earliest occupied slot and the tick it starts at. Lower levels always come first:
    /// everything in level `l` is due within the current level-`l + 1` slot, before any
    /// entry of a higher level.
    fn next_slot(&self) -> Option<(u16, u64)> {
        for level in 0..LEVELS {
            let shift = level as u32 * SLOT_BITS;
            let position = (self.elapsed >> shift) as usize & (SLOTS - 1);
            // Entries are never behind `elapsed` in their level (see `list_for`).
            let ahead = self.occupied[level] & (u64::MAX << position);
            if ahead != 0 {
                let slot = ahead.trailing_zeros() as u64;
                let level_span = 1u64 << (shift + SLOT_BITS);
                let start = (self.elapsed & !(level_span - 1)) + (slot << shift);
                return Some((
                    (level * SLOTS) as u16 + slot as u16,
                    start.max(self.elapsed),
                ));
            }
        }
        None
    }

    /// Appends entry `index` to the list its tick belongs in.
    fn link(&mut self, index: u32) {
        let list = self.list_for(self.entries[index as usize].deadline);
        let tail = self.lists[usize::from(list)].tail;
        {
            let entry = &mut self.entries[index as usize];
            entry.list = list;
            entry.prev = tail;
            entry.next = NONE;
        }
        match tail {
            NONE => self.lists[usize::from(list)].head = index,
            tail => self.entries[tail as usize].next = index,
        }
        self.lists[usize::from(list)].tail = index;
        self.occupied[usize::from(list) / SLOTS] |= 1 << (usize::from(list) % SLOTS);
    }

    fn unlink(&mut self, index: u32) {
        let (list, prev, next) = {
            let entry = &self.entries[index as usize];
            (usize::from(entry.list), entry.prev, entry.next)
        };
        match prev {
            NONE => self.lists[list].head = next,
            prev => self.entries[prev as usize].next = next,
        }
        match next {
            NONE => self.lists[list].tail = prev,
            next => self.entries[next as usize].prev = prev,
        }
        if self.lists[list].head == NONE {
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }

    /// Empties a list and returns its first entry (the rest follow by `next`).
    fn take_list(&mut self, list: u16) -> u32 {
        let list = usize::from(list);
        let head = self.lists[list].head;
        self.lists[list] = EMPTY;
        self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        head
    }
}

#[cfg(test)]
mod tests;
