//! The state shared by every handle of one mpsc channel, bounded or not.
//!
//! Everything lives behind one `Mutex`. Two rules keep the lock safe to take from any handle:
//!
//! * **Nothing runs user code under the lock.** Wakers are taken out and woken after unlocking,
//!   and values (whose `Drop` might touch this very channel, e.g. a message carrying a `Sender`)
//!   are dropped after unlocking too. Replaced wakers are dropped late for the same reason.
//! * **A freed slot goes straight to the oldest waiting sender** ("granting" it): the slot is
//!   counted in `reserved` until that sender comes back to push its value. So while anyone is
//!   waiting there is never a free slot for a newcomer to grab, which makes the wait FIFO and
//!   keeps senders from starving. A granted sender that gives up passes its slot on.

use crate::task::coop;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::error::{SendError, TryRecvError, TrySendError};

/// One mpsc channel: the queue plus who is waiting on it.
pub(super) struct Chan<T> {
    state: Mutex<ChanState<T>>,
}

struct ChanState<T> {
    queue: VecDeque<T>,
    /// `None` for an unbounded channel.
    capacity: Option<usize>,
    /// Slots granted to woken senders that have not pushed yet; counted as occupied.
    reserved: usize,
    /// Senders waiting for a slot, oldest first. Tickets only grow, so this stays sorted by
    /// ticket and a sender finds itself with a binary search.
    waiting_senders: VecDeque<WaitingSender>,
    next_ticket: u64,
    /// Live `Sender`/`UnboundedSender` handles; at zero the receiver sees the end of the stream.
    sender_count: usize,
    /// Set by `Receiver::close` or by dropping the receiver; sends fail from then on.
    closed: bool,
    receiver_waker: Option<Waker>,
}

struct WaitingSender {
    ticket: u64,
    waker: Waker,
}

/// Where a bounded send stands, kept in the send future between polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendStage {
    /// Not queued: either not polled yet or finished.
    Idle,
    /// In the waiting line (or already granted a slot) under this ticket.
    Waiting(u64),
}

impl<T> ChanState<T> {
    fn has_free_slot(&self) -> bool {
        match self.capacity {
            None => true,
            Some(capacity) => self.queue.len() + self.reserved < capacity,
        }
    }

    /// Hands a free slot, if any, to the oldest waiting sender; returns its waker to wake
    /// after unlocking.
    fn grant_free_slot(&mut self) -> Option<Waker> {
        if !self.has_free_slot() {
            return None;
        }
        let granted = self.waiting_senders.pop_front()?;
        self.reserved += 1;
        Some(granted.waker)
    }

    fn waiting_index(&self, ticket: u64) -> Option<usize> {
        self.waiting_senders
            .binary_search_by_key(&ticket, |waiting| waiting.ticket)
            .ok()
    }

    /// Pushes a value and returns the receiver's waker to wake after unlocking.
    fn push(&mut self, value: T) -> Option<Waker> {
        self.queue.push_back(value);
        self.receiver_waker.take()
    }
}

/// Wakes every waker in `wakers`; call only after the lock is released.
fn wake_all(wakers: impl IntoIterator<Item = Waker>) {
    wakers.into_iter().for_each(Waker::wake);
}

impl<T> Chan<T> {
    /// A channel with one sender handle already counted.
    pub(super) fn new(capacity: Option<usize>) -> Self {
        Chan {
            state: Mutex::new(ChanState {
                queue: VecDeque::new(),
                capacity,
                reserved: 0,
                waiting_senders: VecDeque::new(),
                next_ticket: 0,
                sender_count: 1,
                closed: false,
                receiver_waker: None,
            }),
        }
    }

    /// The state is kept consistent at every unlock and no user code runs under the lock, so a
    /// poisoned mutex (a panic elsewhere while holding it) still guards valid data.
    fn lock(&self) -> MutexGuard<'_, ChanState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        self.lock().capacity
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closed, or no sender left: nothing new can arrive.
    pub(super) fn is_disconnected(&self) -> bool {
        let state = self.lock();
        state.closed || state.sender_count == 0
    }

    pub(super) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub(super) fn add_sender(&self) {
        self.lock().sender_count += 1;
    }

    pub(super) fn remove_sender(&self) {
        let mut state = self.lock();
        state.sender_count -= 1;
        let waker = if state.sender_count == 0 {
            state.receiver_waker.take()
        } else {
            None
        };
        drop(state);
        wake_all(waker);
    }

    /// Pushes without waiting. Fails with `Full` also when a slot is free in principle but
    /// promised to a sender that waited longer.
    pub(super) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.lock();
        if state.closed {
            return Err(TrySendError::Closed(value));
        }
        if !state.has_free_slot() {
            return Err(TrySendError::Full(value));
        }
        let waker = state.push(value);
        drop(state);
        wake_all(waker);
        Ok(())
    }

    /// One poll of a bounded send. `value` is taken exactly when `Ready` is returned.
    pub(super) fn poll_send(
        &self,
        value: &mut Option<T>,
        stage: &mut SendStage,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let mut state = self.lock();
        if state.closed {
            // A send that fails at once is ready by default too (a retry loop never waits).
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            *stage = SendStage::Idle;
            let value = value.take().expect("send future polled after completion");
            return Poll::Ready(Err(SendError(value)));
        }
        match *stage {
            SendStage::Idle => {
                if !state.has_free_slot() {
                    let ticket = state.next_ticket;
                    state.next_ticket += 1;
                    let waker = cx.waker().clone();
                    state
                        .waiting_senders
                        .push_back(WaitingSender { ticket, waker });
                    *stage = SendStage::Waiting(ticket);
                    return Poll::Pending;
                }
                // A free slot is ready by default: a producer whose consumer keeps up never
                // waits, so it spends the task's budget (nothing is taken yet if refused).
                if coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
            }
            SendStage::Waiting(ticket) => {
                if let Some(index) = state.waiting_index(ticket) {
                    // Still in line (a spurious poll): refresh the waker, drop the old one late.
                    let old_waker = std::mem::replace(
                        &mut state.waiting_senders[index].waker,
                        cx.waker().clone(),
                    );
                    drop(state);
                    drop(old_waker);
                    return Poll::Pending;
                }
                // Out of line without the channel closing: a slot was granted to us. Refused by
                // the budget, it stays reserved for the next poll (or `cancel_send` passes it on).
                if coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                state.reserved -= 1;
            }
        }
        *stage = SendStage::Idle;
        let receiver_waker = state.push(value.take().expect("send future polled after completion"));
        drop(state);
        wake_all(receiver_waker);
        Poll::Ready(Ok(()))
    }

    /// A send future dropped before finishing: leave the line, or pass a granted slot on so
    /// neither capacity nor the wake-up is lost.
    pub(super) fn cancel_send(&self, ticket: u64) {
        let mut state = self.lock();
        if state.closed {
            return; // Nothing will ever be granted again; the count no longer matters.
        }
        let waker_to_drop;
        let waker_to_wake;
        if let Some(index) = state.waiting_index(ticket) {
            waker_to_drop = state
                .waiting_senders
                .remove(index)
                .map(|waiting| waiting.waker);
            waker_to_wake = None;
        } else {
            state.reserved -= 1;
            waker_to_drop = None;
            waker_to_wake = state.grant_free_slot();
        }
        drop(state);
        drop(waker_to_drop);
        wake_all(waker_to_wake);
    }

    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.lock();
        let ready = !state.queue.is_empty() || state.closed || state.sender_count == 0;
        // A receiver that always finds data is ready by default: spend the task's budget.
        if ready && coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        if let Some(value) = state.queue.pop_front() {
            let granted_sender = state.grant_free_slot();
            drop(state);
            wake_all(granted_sender);
            return Poll::Ready(Some(value));
        }
        if state.closed || state.sender_count == 0 {
            return Poll::Ready(None);
        }
        let waker = cx.waker();
        if state
            .receiver_waker
            .as_ref()
            .is_some_and(|old| old.will_wake(waker))
        {
            return Poll::Pending;
        }
        let old_waker = state.receiver_waker.replace(waker.clone());
        drop(state);
        drop(old_waker);
        Poll::Pending
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.lock();
        if let Some(value) = state.queue.pop_front() {
            let granted_sender = state.grant_free_slot();
            drop(state);
            wake_all(granted_sender);
            return Ok(value);
        }
        if state.closed || state.sender_count == 0 {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Stops new sends and fails the waiting ones; queued values stay receivable.
    pub(super) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let waiting = std::mem::take(&mut state.waiting_senders);
        drop(state);
        wake_all(waiting.into_iter().map(|waiting| waiting.waker));
    }

    /// The receiver is gone: close, and drop queued values now rather than with the last sender
    /// (a queued value may hold resources someone is waiting on, e.g. a oneshot reply sender).
    pub(super) fn drop_receiver(&self) {
        let mut state = self.lock();
        state.closed = true;
        let waiting = std::mem::take(&mut state.waiting_senders);
        let queued = std::mem::take(&mut state.queue);
        let receiver_waker = state.receiver_waker.take();
        drop(state);
        wake_all(waiting.into_iter().map(|waiting| waiting.waker));
        drop(receiver_waker);
        drop(queued);
    }
}
