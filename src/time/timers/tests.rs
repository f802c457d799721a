//! The wheel against its contract: order, no early firing, removal, stale keys, every level,
//! a sorted reference under random operations (also across compactions and reschedules), and
//! memory given back after a spike.

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
    let mut timers = Timers::new(Default::default());
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
    let mut timers = Timers::new(Default::default());
    let t0 = Instant::now();
    let waker = tagged(1, &log);
    let key = timers.insert(t0, waker.clone());
    assert!(timers.update(key, &waker, &mut None));
    assert!(timers.remove(key).is_some());
    assert!(!timers.update(key, &waker, &mut None));
    let mut out = Vec::new();
    timers.fire_due(t0 + Duration::from_secs(1), &mut out);
    assert!(out.is_empty());
    assert_eq!(timers.next_deadline(), None);
}

#[test]
fn a_key_kept_after_its_timer_fired_cannot_touch_the_next_timer() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut timers = Timers::new(Default::default());
    let t0 = Instant::now();
    let stale = timers.insert(t0, tagged(1, &log));
    let mut out = Vec::new();
    timers.fire_due(t0 + Duration::from_millis(5), &mut out);
    assert_eq!(out.len(), 1);
    // Takes the same slab entry.
    let fresh = timers.insert(t0 + Duration::from_millis(50), tagged(2, &log));
    assert_eq!(fresh.index, stale.index);
    assert!(timers.remove(stale).is_none());
    assert!(!timers.update(stale, &tagged(3, &log), &mut None));
    assert_eq!(timers.len(), 1, "the stale key removed nothing");
    out.clear();
    timers.fire_due(t0 + Duration::from_millis(100), &mut out);
    out.drain(..).for_each(Waker::wake);
    assert_eq!(*log.lock().unwrap(), vec![2]);
}

#[test]
fn timers_hours_and_years_away_cascade_down_and_fire_on_their_tick() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut timers = Timers::new(Default::default());
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
    let mut timers = Timers::new(Default::default());
    let t0 = timers.epoch;
    // (tick it is due at, exact deadline, insertion order) -> key
    let mut reference: std::collections::BTreeMap<(u64, u64, usize), TimerKey> = Default::default();
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
                let key = timers.insert(t0 + Duration::from_micros(deadline_us), tagged(tag, &log));
                let due = deadline_us.div_ceil(1000).max(looked_at);
                reference.insert((due, deadline_us, tag), key);
            }
            6 | 7 => {
                if let Some(&k) = reference.keys().nth((next() % 8) as usize) {
                    drop(timers.remove(reference.remove(&k).unwrap()));
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
    let mut timers = Timers::new(Default::default());
    let key = timers.insert(Instant::now() + Duration::from_secs(5), tagged(1, &log));
    assert_eq!(timers.clear().len(), 1);
    assert_eq!(timers.len(), 0);
    assert_eq!(timers.next_deadline(), None);
    assert!(!timers.update(key, &tagged(2, &log), &mut None));
}

#[test]
fn a_spike_removed_gives_its_memory_back_and_the_survivors_keep_working() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut timers = Timers::new(Default::default());
    let t0 = timers.epoch;
    let keys: Vec<TimerKey> = (0..100_000)
        .map(|i| {
            timers.insert(
                t0 + Duration::from_millis(10 + i as u64 % 50),
                tagged(i, &log),
            )
        })
        .collect();
    let survivors = [0, 1, 50_000, 99_998, 99_999];
    for (i, key) in keys.iter().enumerate() {
        if !survivors.contains(&i) {
            drop(timers.remove(*key));
        }
    }
    assert_eq!(timers.len(), survivors.len());
    let capacity = timers.entries.capacity();
    assert!(capacity <= KEEP_CAPACITY, "{capacity} entries kept");
    // Stale keys of removed timers touch nothing; the survivors' keys still reach them.
    assert!(!timers.update(keys[2], &tagged(7, &log), &mut None));
    for &i in &survivors {
        assert!(
            timers.update(keys[i], &tagged(i, &log), &mut None),
            "survivor {i}"
        );
    }
    drop(timers.remove(keys[50_000]));
    assert!(timers.reschedule(keys[99_998], t0 + Duration::from_millis(5)));
    let mut out = Vec::new();
    timers.fire_due(t0 + Duration::from_secs(1), &mut out);
    out.drain(..).for_each(Waker::wake);
    assert_eq!(*log.lock().unwrap(), vec![99_998, 0, 1, 99_999]);
    assert!(
        timers.moved.is_empty(),
        "fired entries leave the map of moves"
    );
}

#[test]
fn a_rescheduled_timer_keeps_its_waker_and_fires_at_its_new_deadline_only() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut timers = Timers::new(Default::default());
    let t0 = timers.epoch;
    let key = timers.insert(t0 + Duration::from_secs(60), tagged(1, &log));
    assert!(timers.reschedule(key, t0 + Duration::from_millis(20)));
    let mut out = Vec::new();
    timers.fire_due(t0 + Duration::from_millis(19), &mut out);
    assert!(out.is_empty(), "fired before its new deadline");
    timers.fire_due(t0 + Duration::from_millis(21), &mut out);
    assert_eq!(out.len(), 1);
    assert!(!timers.reschedule(key, t0), "a fired timer cannot be moved");
}

/// The sorted reference again, now with spikes that make the store compact (many times over) and
/// reschedules of entries that compaction moved. A rescheduled timer takes its place among equal
/// deadlines as if inserted then (as the list order without compaction gives).
#[test]
fn compactions_between_reschedules_keep_firing_what_a_sorted_reference_fires() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut timers = Timers::new(Default::default());
    let t0 = timers.epoch;
    // (tick it is due at, exact deadline, order among equals) -> (tag, key)
    let mut reference: std::collections::BTreeMap<(u64, u64, u64), (usize, TimerKey)> =
        Default::default();
    let mut seq = 0u64;
    let mut now = 0u64; // µs since t0
    let mut looked_at = 0u64;
    let mut out = Vec::new();
    let mut compactions = 0;
    let mut tag = 0usize;
    for round in 0..40 {
        // A spike: thousands of timers on few distinct deadlines (many equal ones).
        for _ in 0..(6_000 + next() % 4_000) {
            let deadline_us = now + 1_000 * (1 + next() % 20);
            tag += 1;
            let key = timers.insert(t0 + Duration::from_micros(deadline_us), tagged(tag, &log));
            let due = deadline_us.div_ceil(1000).max(looked_at);
            seq += 1;
            reference.insert((due, deadline_us, seq), (tag, key));
        }
        // Most of it cancelled, survivors rescheduled (some onto deadlines others already have).
        let capacity = timers.entries.capacity();
        let all: Vec<_> = reference.keys().copied().collect();
        for k in all {
            match next() % 16 {
                0 => {
                    let (t, key) = reference.remove(&k).unwrap();
                    let deadline_us = now + 1_000 * (1 + next() % 20);
                    assert!(timers.reschedule(key, t0 + Duration::from_micros(deadline_us)));
                    seq += 1;
                    let due = deadline_us.div_ceil(1000).max(looked_at);
                    reference.insert((due, deadline_us, seq), (t, key));
                }
                1 => {}
                _ => {
                    let (_, key) = reference.remove(&k).unwrap();
                    drop(timers.remove(key));
                }
            }
            if timers.entries.capacity() < capacity {
                compactions += 1;
            }
        }
        // Reschedule some survivors once more, after the compaction moved them.
        let all: Vec<_> = reference.keys().copied().collect();
        for k in all {
            if next() % 3 == 0 {
                let (t, key) = reference.remove(&k).unwrap();
                let deadline_us = now + 1_000 * (1 + next() % 20);
                assert!(timers.reschedule(key, t0 + Duration::from_micros(deadline_us)));
                seq += 1;
                let due = deadline_us.div_ceil(1000).max(looked_at);
                reference.insert((due, deadline_us, seq), (t, key));
            }
        }
        now += 1_000 * (next() % 25);
        timers.fire_due(t0 + Duration::from_micros(now), &mut out);
        out.drain(..).for_each(Waker::wake);
        let due_tick = now / 1000;
        looked_at = due_tick;
        let mut expected = Vec::new();
        while let Some(entry) = reference.first_entry() {
            if entry.key().0 > due_tick {
                break;
            }
            expected.push(entry.get().0);
            entry.remove();
        }
        let fired = std::mem::take(&mut *log.lock().unwrap());
        assert_eq!(fired, expected, "round {round}, at {now} µs");
        assert_eq!(timers.len(), reference.len());
    }
    assert!(compactions >= 10, "{compactions} compactions");
}
