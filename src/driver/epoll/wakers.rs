//! The wakers waiting on one fd in one direction.
//!
//! Nearly every fd has one waiter at a time (a stream's reader, its writer), and an idle
//! connection's reader waits for as long as the connection is idle: the waker is kept inline, so
//! an fd with one waiter allocates nothing (issue 19: an idle buffered connection is held to
//! 1 KiB of heap, and a list of four wakers was 64 B of it). A second distinct waker (several
//! tasks accepting on one listener, or receiving on one UDP socket) moves both into a `Vec`,
//! which keeps its capacity from then on, so an fd that often has several waiters does not
//! allocate per wait either.
//!
//! No waker is ever replaced: the table cannot tell a task re-registering with a new waker from
//! a second op waiting on the same fd, so both stay and the stale one, if stale, is woken once,
//! spuriously (as a dropped op's waker is; see the module docs of `epoll`).

use std::task::Waker;

/// The ops waiting on one fd for one direction; all woken by one event.
#[derive(Default)]
pub(super) enum Wakers {
    /// Nobody waits.
    #[default]
    Empty,
    /// One waiter, inline: the common case, no allocation.
    One(Waker),
    /// Several waiters (or several once: the list keeps its capacity, and may be empty).
    Many(Vec<Waker>),
}

// The inline waker costs nothing over the list it replaces: an fd table entry stays as small
// (the `Vec`'s capacity has a niche for the two other variants).
const _: () = assert!(size_of::<Wakers>() <= size_of::<Vec<Waker>>());

impl Wakers {
    /// Adds `waker` unless it would wake the same task as one already waiting.
    pub(super) fn add(&mut self, waker: &Waker) {
        match self {
            Wakers::Empty => *self = Wakers::One(waker.clone()),
            Wakers::One(first) if first.will_wake(waker) => {}
            Wakers::One(_) => {
                // Cloned before the list is taken apart: a clone is user code and may panic,
                // which must not drop the waker already waiting (its task would never wake).
                let second = waker.clone();
                let Wakers::One(first) = std::mem::take(self) else {
                    unreachable!("coring: matched as one waker just now")
                };
                *self = Wakers::Many(vec![first, second]);
            }
            Wakers::Many(list) => {
                if !list.iter().any(|w| w.will_wake(waker)) {
                    list.push(waker.clone());
                }
            }
        }
    }

    /// Moves every waiting waker into `out` (to be woken after the driver's borrow ends).
    pub(super) fn take_into(&mut self, out: &mut Vec<Waker>) {
        match self {
            Wakers::Empty => {}
            Wakers::One(_) => {
                if let Wakers::One(waker) = std::mem::take(self) {
                    out.push(waker);
                }
            }
            Wakers::Many(list) => out.append(list),
        }
    }

    /// Moves every waiting waker into `out` and gives back any list: the fd is closed, and the
    /// next fd with its number is most likely a connection with one waiter at a time.
    pub(super) fn release_into(&mut self, out: &mut Vec<Waker>) {
        self.take_into(out);
        // Empty by now: dropping it runs no waker's code.
        *self = Wakers::Empty;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    /// A task's waker: counts its wakes.
    struct Task(AtomicUsize);

    impl Wake for Task {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn task() -> (Arc<Task>, Waker) {
        let task = Arc::new(Task(AtomicUsize::new(0)));
        (task.clone(), Waker::from(task))
    }

    fn wake_all(wakers: &mut Wakers) {
        let mut out = Vec::new();
        wakers.take_into(&mut out);
        out.into_iter().for_each(Waker::wake);
    }

    #[test]
    fn one_waiter_is_kept_inline_and_woken() {
        let (count, waker) = task();
        let mut wakers = Wakers::default();
        wakers.add(&waker);
        assert!(matches!(wakers, Wakers::One(_)), "one waiter needs no list");
        wake_all(&mut wakers);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(wakers, Wakers::Empty));
    }

    #[test]
    fn a_waiter_that_registers_again_is_kept_once_and_woken_once() {
        let (count, waker) = task();
        let mut wakers = Wakers::default();
        wakers.add(&waker);
        wakers.add(&waker.clone());
        assert!(
            matches!(wakers, Wakers::One(_)),
            "the same task, not a second waiter"
        );
        wake_all(&mut wakers);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // Woken, it waits again: the next event must reach it.
        wakers.add(&waker);
        wake_all(&mut wakers);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn two_waiters_are_both_woken_and_the_list_is_reused() {
        let (first, first_waker) = task();
        let (second, second_waker) = task();
        let mut wakers = Wakers::default();
        wakers.add(&first_waker);
        wakers.add(&second_waker);
        wakers.add(&first_waker);
        wake_all(&mut wakers);
        assert_eq!(first.0.load(Ordering::SeqCst), 1);
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        // Several waiters once, several again likely: the list stays, empty.
        assert!(matches!(&wakers, Wakers::Many(list) if list.is_empty() && list.capacity() >= 2));
        wakers.add(&second_waker);
        wake_all(&mut wakers);
        assert_eq!(second.0.load(Ordering::SeqCst), 2);
        assert_eq!(first.0.load(Ordering::SeqCst), 1);
    }

    /// A waiter whose op was dropped stays (the table cannot know): the op that waits after it
    /// must still be woken, and the dropped one's task only once, spuriously.
    #[test]
    fn a_dropped_waiter_does_not_hide_the_next_one() {
        let (dropped, dropped_waker) = task();
        let (next, next_waker) = task();
        let mut wakers = Wakers::default();
        wakers.add(&dropped_waker);
        drop(dropped_waker);
        wakers.add(&next_waker);
        wake_all(&mut wakers);
        assert_eq!(next.0.load(Ordering::SeqCst), 1);
        assert_eq!(dropped.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_released_fd_hands_over_its_waiters_and_keeps_no_list() {
        let (first, first_waker) = task();
        let (_, second_waker) = task();
        let mut wakers = Wakers::default();
        wakers.add(&first_waker);
        wakers.add(&second_waker);
        let mut out = Vec::new();
        wakers.release_into(&mut out);
        assert_eq!(out.len(), 2);
        assert!(matches!(wakers, Wakers::Empty));
        out.into_iter().for_each(Waker::wake);
        assert_eq!(first.0.load(Ordering::SeqCst), 1);
    }

    /// A split stream: its reader and its writer wait on one fd, each in its own direction. The
    /// writer's event must not take the reader's waker with it, and the reader's must still
    /// come.
    #[test]
    fn a_split_stream_wakes_its_writer_and_keeps_its_reader_waiting() {
        use super::super::{Epoll, Park};
        use crate::driver::opcode::Interest;
        use std::io::Write;
        use std::os::fd::AsRawFd;
        use std::time::Duration;

        let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut epoll = Epoll::new(None, Arc::default()).unwrap();
        let (reader, reader_waker) = task();
        let (writer, writer_waker) = task();
        let fd = ours.as_raw_fd();
        epoll.wait(fd, Interest::Read, &reader_waker).unwrap();
        epoll.wait(fd, Interest::Write, &writer_waker).unwrap();
        let turn = |epoll: &mut Epoll| {
            epoll.park(Park::Timeout(Duration::from_secs(5))).unwrap();
            let mut woken = Vec::new();
            epoll.take_woken(&mut woken);
            woken.into_iter().for_each(Waker::wake);
        };
        // Room to write from the start (an edge-triggered registration reports the state it
        // finds); nothing to read.
        turn(&mut epoll);
        assert_eq!(writer.0.load(Ordering::SeqCst), 1);
        assert_eq!(reader.0.load(Ordering::SeqCst), 0);
        peer.write_all(b"x").unwrap();
        turn(&mut epoll);
        assert_eq!(
            reader.0.load(Ordering::SeqCst),
            1,
            "the reader's wake was lost"
        );
        epoll.forget(fd);
    }
}
