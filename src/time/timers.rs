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
//! The ordered map this replaced cost about 0.75 µs per insert with a million live timers
//! (benches/README.md).

use slab::Slab;
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
}

static NEXT_STORE_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// Above this many vacant entries, an empty store gives its memory back.
const KEEP_CAPACITY: usize = 4096;

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            entries: Slab::new(),
            lists: [EMPTY; LEVELS * SLOTS],
            occupied: [0; LEVELS],
            elapsed: 0,
            epoch: Instant::now(),
            next_id: 0,
            firing: Vec::new(),
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
        TimerKey { index, id }
    }

    /// Replaces the waker of a registered timer; `false` if it already fired or was removed.
    pub(crate) fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.entry_mut(key) {
            Some(entry) => {
                if !entry.waker.will_wake(waker) {
                    entry.waker = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    /// Unregisters a timer (a no-op if it already fired).
    pub(crate) fn remove(&mut self, key: TimerKey) {
        if self.entry_mut(key).is_some() {
            self.unlink(key.index);
            self.entries.remove(key.index as usize);
        }
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
                    cursor = entry.next;
                    if let Some(&(last, _)) = self.firing.last() {
                        in_order &= last <= entry.deadline;
                    }
                    self.firing.push((entry.deadline, entry.waker));
                }
                if !in_order {
                    self.firing.sort_by_key(|&(deadline, _)| deadline);
                }
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
        if self.entries.is_empty() && self.entries.capacity() > KEEP_CAPACITY {
            self.entries = Slab::new();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries = Slab::new();
        self.lists = [EMPTY; LEVELS * SLOTS];
        self.occupied = [0; LEVELS];
    }

    fn entry_mut(&mut self, key: TimerKey) -> Option<&mut Entry> {
        self.entries
            .get_mut(key.index as usize)
            .filter(|entry| entry.id == key.id)
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
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Tag(usize, Arc<std::sync::Mutex<Vec<usize>>>, AtomicUsize);
    impl Wake for Tag {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
            self.2.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn tagged(tag: usize, log: &Arc<std::sync::Mutex<Vec<usize>>>) -> Waker {
        Waker::from(Arc::new(Tag(tag, log.clone(), AtomicUsize::new(0))))
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = Instant::now();
        for (tag, ms) in [(3, 30), (1, 10), (2, 20), (4, 30)] {
            timers.insert(t0 + Duration::from_millis(ms), tagged(tag, &log));
        }
        let first = timers.next_deadline().unwrap();
        assert!(first >= t0 + Duration::from_millis(10));
        assert!(
            first <= t0 + Duration::from_millis(11),
            "rounded up by less than a tick"
        );
        let mut out = Vec::new();
        timers.fire_due(t0 + Duration::from_millis(9), &mut out);
        assert!(out.is_empty(), "nothing is due before the first deadline");
        timers.fire_due(t0 + Duration::from_millis(10), &mut out);
        assert!(out.len() <= 1);
        timers.fire_due(t0 + Duration::from_millis(22), &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(*log.lock().unwrap(), vec![1, 2]);
        timers.fire_due(t0 + Duration::from_secs(1), &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(
            *log.lock().unwrap(),
            vec![1, 2, 3, 4],
            "equal deadlines fire in insertion order"
        );
        assert_eq!(timers.len(), 0);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn removed_timers_do_not_fire() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let waker = tagged(1, &log);
        let key = timers.insert(t0, waker.clone());
        assert!(timers.update(key, &waker));
        timers.remove(key);
        assert!(!timers.update(key, &waker));
        let mut out = Vec::new();
        timers.fire_due(t0 + Duration::from_secs(1), &mut out);
        assert!(out.is_empty());
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn a_key_kept_after_its_timer_fired_cannot_touch_the_next_timer() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let stale = timers.insert(t0, tagged(1, &log));
        let mut out = Vec::new();
        timers.fire_due(t0 + Duration::from_millis(5), &mut out);
        assert_eq!(out.len(), 1);
        // Takes the same slab entry.
        let fresh = timers.insert(t0 + Duration::from_millis(50), tagged(2, &log));
        assert_eq!(fresh.index, stale.index);
        timers.remove(stale);
        assert!(!timers.update(stale, &tagged(3, &log)));
        assert_eq!(timers.len(), 1, "the stale key removed nothing");
        out.clear();
        timers.fire_due(t0 + Duration::from_millis(100), &mut out);
        out.drain(..).for_each(Waker::wake);
        assert_eq!(*log.lock().unwrap(), vec![2]);
    }

    #[test]
    fn timers_hours_and_years_away_cascade_down_and_fire_on_their_tick() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = timers.epoch;
        let ms = Duration::from_millis;
        // One per level, in reverse order of insertion, plus a past deadline.
        let delays = [
            ms(86_400_000 * 400), // level 5
            ms(3_600_000 * 5),    // level 4
            ms(300_000),          // level 3
            ms(5_000),            // level 2
            ms(100),              // level 1
            ms(7),                // level 0
        ];
        for (tag, delay) in delays.iter().enumerate() {
            timers.insert(t0 + *delay, tagged(tag, &log));
        }
        timers.insert(t0, tagged(99, &log));
        let mut out = Vec::new();
        let mut looks = 0;
        while let Some(at) = timers.next_deadline() {
            looks += 1;
            // Just before: nothing may fire (the past deadline is due at the epoch itself).
            if at > t0 {
                timers.fire_due(at - Duration::from_nanos(1), &mut out);
                assert!(out.is_empty(), "fired before its tick");
            }
            timers.fire_due(at, &mut out);
            for waker in out.drain(..) {
                waker.wake();
            }
        }
        assert_eq!(*log.lock().unwrap(), vec![99, 5, 4, 3, 2, 1, 0]);
        assert!(looks <= 7 * 7, "{looks} looks");
    }

    /// The wheel against a sorted reference under random inserts, removes and clock steps.
    #[test]
    fn random_operations_fire_exactly_what_a_sorted_reference_fires() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = timers.epoch;
        // (tick it is due at, exact deadline, insertion order) -> key
        let mut reference: std::collections::BTreeMap<(u64, u64, usize), TimerKey> =
            Default::default();
        let mut now = 0u64; // µs since t0
        let mut looked_at = 0u64; // the tick of the last `fire_due`
        let mut out = Vec::new();
        for tag in 0..20_000usize {
            match next() % 10 {
                0..=5 => {
                    // Spread over every level: 1 µs .. ~18 h, many within a few ticks.
                    let scale = [
                        3_000u64,
                        3_000,
                        64_000,
                        4_096_000,
                        262_144_000,
                        16_777_216_000,
                    ];
                    let delay = next() % scale[(next() % 6) as usize] + 1;
                    // Some deadlines have passed already: due at the next look.
                    let deadline_us = match next() % 16 {
                        0 => now.saturating_sub(delay),
                        _ => now + delay,
                    };
                    let key =
                        timers.insert(t0 + Duration::from_micros(deadline_us), tagged(tag, &log));
                    let due = deadline_us.div_ceil(1000).max(looked_at);
                    reference.insert((due, deadline_us, tag), key);
                }
                6 | 7 => {
                    if let Some(&k) = reference.keys().nth((next() % 8) as usize) {
                        timers.remove(reference.remove(&k).unwrap());
                    }
                }
                _ => {
                    // Mostly steps of a few ticks, sometimes long jumps.
                    now += match next() % 4 {
                        0 => next() % 40_000_000,
                        _ => next() % 3_000,
                    };
                    timers.fire_due(t0 + Duration::from_micros(now), &mut out);
                    out.drain(..).for_each(Waker::wake);
                    let due_tick = now / 1000;
                    looked_at = due_tick;
                    let mut expected = Vec::new();
                    while let Some(entry) = reference.first_entry() {
                        if entry.key().0 > due_tick {
                            break;
                        }
                        expected.push(entry.key().2);
                        entry.remove();
                    }
                    let fired = std::mem::take(&mut *log.lock().unwrap());
                    assert_eq!(fired, expected, "at {now} µs");
                    assert_eq!(timers.len(), reference.len());
                    if let Some(&(tick, _, _)) = reference.keys().next() {
                        let at = timers.next_deadline().unwrap();
                        assert!(
                            at <= t0 + Duration::from_millis(tick),
                            "next look after a deadline"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn clear_drops_every_timer() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let key = timers.insert(Instant::now() + Duration::from_secs(5), tagged(1, &log));
        timers.clear();
        assert_eq!(timers.len(), 0);
        assert_eq!(timers.next_deadline(), None);
        assert!(!timers.update(key, &tagged(2, &log)));
    }
}
