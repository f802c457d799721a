//! The timer store: deadlines and the wakers to wake at them, in user space.
//!
//! A million sleeping tasks are a million entries here and *one* kernel timeout: the runtime
//! parks the ring with the earliest deadline as the wait's timeout. The whole API is four
//! methods (insert, remove, next_deadline, fire_due), so a wheel could replace the ordered map
//! without touching callers.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Instant;

/// Identifies one registered timer; unique within its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey {
    deadline: Instant,
    id: u64,
}

pub(crate) struct Timers {
    entries: BTreeMap<TimerKey, Waker>,
    next_id: u64,
    store_id: usize,
}

static NEXT_STORE_ID: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            entries: BTreeMap::new(),
            next_id: 0,
            store_id: NEXT_STORE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Unique per store, so a timer can tell whether the current store is the one it is in.
    pub(crate) fn store_id(&self) -> usize {
        self.store_id
    }

    /// Registers `waker` to be woken at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        self.next_id += 1;
        let key = TimerKey {
            deadline,
            id: self.next_id,
        };
        self.entries.insert(key, waker);
        key
    }

    /// Replaces the waker of a registered timer; `false` if it already fired or was removed.
    pub(crate) fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.entries.get_mut(&key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    /// Unregisters a timer (a no-op if it already fired).
    pub(crate) fn remove(&mut self, key: TimerKey) {
        self.entries.remove(&key);
    }

    /// The earliest deadline, if any timer is registered.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries.first_key_value().map(|(k, _)| k.deadline)
    }

    /// Removes every timer due at `now` and moves its waker into `out`, in deadline order. The
    /// caller wakes them after releasing its borrow of the store.
    pub(crate) fn fire_due(&mut self, now: Instant, out: &mut Vec<Waker>) {
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().deadline > now {
                break;
            }
            out.push(entry.remove());
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;
    use std::time::Duration;

    struct Tag(usize, Arc<std::sync::Mutex<Vec<usize>>>, AtomicUsize);
    impl Wake for Tag {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
            self.2.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn fires_in_deadline_order_and_never_early() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = Instant::now();
        for (tag, ms) in [(3, 30), (1, 10), (2, 20), (4, 30)] {
            let waker = Waker::from(Arc::new(Tag(tag, log.clone(), AtomicUsize::new(0))));
            timers.insert(t0 + Duration::from_millis(ms), waker);
        }
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));
        let mut out = Vec::new();
        timers.fire_due(t0 + Duration::from_millis(9), &mut out);
        assert!(out.is_empty(), "nothing is due before the first deadline");
        timers.fire_due(t0 + Duration::from_millis(20), &mut out);
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
    }

    #[test]
    fn removed_timers_do_not_fire() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut timers = Timers::new();
        let t0 = Instant::now();
        let waker = Waker::from(Arc::new(Tag(1, log.clone(), AtomicUsize::new(0))));
        let key = timers.insert(t0, waker.clone());
        assert!(timers.update(key, &waker));
        timers.remove(key);
        assert!(!timers.update(key, &waker));
        let mut out = Vec::new();
        timers.fire_due(t0 + Duration::from_secs(1), &mut out);
        assert!(out.is_empty());
        assert_eq!(timers.next_deadline(), None);
    }
}
