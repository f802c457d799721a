//! `Interval`: a tick every period.

use super::{later, sleep_until, Instant, Sleep};
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
    /// Fire once now, then continue `period` after now: the schedule shifts. This applies to
    /// any tick that comes more than 5 ms late (as in tokio), even by less than a period, so the
    /// next tick is always a full period after a late one.
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

/// How late a tick may come and still count as on time. Timer wake-ups land a little after their
/// deadline (the store's 1 ms grid, a busy core), and `Delay` must not drift by that much every
/// period. tokio uses the same figure.
const ON_TIME: Duration = Duration::from_millis(5);

/// The tick after `tick`, which completed at `now`.
fn next_tick(missed: MissedTickBehavior, tick: Instant, now: Instant, period: Duration) -> Instant {
    let due = later(tick, period);
    if now <= later(tick, ON_TIME) {
        return due;
    }
    match missed {
        MissedTickBehavior::Burst => due,
        MissedTickBehavior::Delay => later(now, period),
        MissedTickBehavior::Skip => later(tick, skip_to(now - tick, period)),
    }
}

/// The offset from a missed tick to the first tick of its schedule after `behind` has passed:
/// the next multiple of `period` (in nanoseconds, so a tiny period far behind does not wrap).
fn skip_to(behind: Duration, period: Duration) -> Duration {
    let periods = behind.as_nanos() / period.as_nanos() + 1;
    let nanos = periods.saturating_mul(period.as_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
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
        self.next = next_tick(self.missed, tick, Instant::now(), self.period);
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
        self.next = later(Instant::now(), self.period);
        self.sleep.reset(self.next);
    }
}

#[cfg(test)]
mod tests {
    use super::{next_tick, skip_to, MissedTickBehavior};
    use std::time::{Duration, Instant};

    #[test]
    fn each_behaviour_schedules_the_next_tick_like_tokio() {
        use MissedTickBehavior::{Burst, Delay, Skip};
        let ms = Duration::from_millis;
        let t0 = Instant::now();
        let period = ms(100);
        // (behaviour, completed this late, next tick after t0)
        let cases = [
            (Burst, ms(3), ms(100)),
            (Delay, ms(3), ms(100)),
            (Skip, ms(3), ms(100)),
            (Burst, ms(40), ms(100)),
            (Delay, ms(40), ms(140)),
            (Skip, ms(40), ms(100)),
            (Burst, ms(250), ms(100)),
            (Delay, ms(250), ms(350)),
            (Skip, ms(250), ms(300)),
        ];
        for (missed, late, next) in cases {
            assert_eq!(
                next_tick(missed, t0, t0 + late, period),
                t0 + next,
                "{missed:?}, {late:?} late"
            );
        }
    }

    #[test]
    fn skipping_lands_on_the_next_tick_of_the_schedule() {
        let period = Duration::from_millis(10);
        assert_eq!(
            skip_to(Duration::from_millis(35), period),
            Duration::from_millis(40)
        );
        assert_eq!(
            skip_to(Duration::from_millis(40), period),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn skipping_a_tiny_period_far_behind_does_not_wrap() {
        // 10 s behind at 1 ns is 10^10 periods, past u32: the skip must still go past `behind`.
        let behind = Duration::from_secs(10);
        assert!(skip_to(behind, Duration::from_nanos(1)) > behind);
    }

    #[test]
    fn a_period_past_what_instant_holds_does_not_panic() {
        crate::block_on(async {
            for missed in [
                MissedTickBehavior::Burst,
                MissedTickBehavior::Delay,
                MissedTickBehavior::Skip,
            ] {
                let mut every = super::interval(Duration::MAX);
                every.set_missed_tick_behavior(missed);
                every.tick().await;
                let second = crate::time::timeout(Duration::from_millis(5), every.tick()).await;
                assert!(second.is_err(), "the second tick is decades away");
                every.reset();
            }
        });
    }
}
