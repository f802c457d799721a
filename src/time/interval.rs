//! `Interval`: a tick every period.

use super::{sleep_until, Instant, Sleep};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// What an [`Interval`] does when ticks were missed (the task was busy past a tick's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the original schedule
    /// (ticks stay at `start + n * period`). The default, as in tokio.
    #[default]
    Burst,
    /// Fire once now, then continue `period` after now: the schedule shifts.
    Delay,
    /// Fire once now, then continue at the next multiple of `period` on the original schedule,
    /// dropping the missed ones.
    Skip,
}

/// Ticks at `start`, `start + period`, `start + 2 * period`, and so on.
///
/// ```
/// use std::time::Duration;
/// coring::block_on(async {
///     let mut every = coring::time::interval(Duration::from_millis(5));
///     let first = every.tick().await; // completes at once
///     let second = every.tick().await;
///     assert!(second - first >= Duration::from_millis(5));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    sleep: Sleep,
    missed: MissedTickBehavior,
}

/// An [`Interval`] whose first tick completes at once.
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An [`Interval`] whose first tick completes at `start`.
///
/// # Panics
///
/// If `period` is zero.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "coring: an interval's period must be non-zero"
    );
    Interval {
        next: start,
        period,
        sleep: sleep_until(start),
        missed: MissedTickBehavior::Burst,
    }
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.sleep).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let tick = self.next;
        let now = Instant::now();
        self.next = match self.missed {
            MissedTickBehavior::Burst => tick + self.period,
            MissedTickBehavior::Delay if now > tick + self.period => now + self.period,
            MissedTickBehavior::Skip if now > tick + self.period => {
                let behind = (now - tick).as_nanos() / self.period.as_nanos();
                tick + self.period * (behind as u32 + 1)
            }
            _ => tick + self.period,
        };
        self.sleep.reset(self.next);
        Poll::Ready(tick)
    }

    /// Sets what happens when ticks are missed.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.next = Instant::now() + self.period;
        self.sleep.reset(self.next);
    }
}
