//! The wait a listener puts before its next accept after accepts ran out of fds or memory,
//! shared by [`TcpListener`](super::TcpListener) and [`UnixListener`](super::UnixListener).
//!
//! Out of fds (`EMFILE`, `ENFILE`) or kernel memory (`ENOBUFS`, `ENOMEM`), an accept fails and
//! the connection stays in the backlog, so trying again at once fails again at once: a loop
//! that logs the error and accepts again would spin. After such a failure the next accept
//! first waits 10 ms, doubling with each consecutive failure up to 50 ms; a success resets it.

use crate::time::Sleep;
use std::cell::Cell;
use std::io;
use std::time::Duration;

/// First wait after an accept failed for lack of fds or memory.
const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest wait between accepts that keep failing for lack of fds or memory.
const BACKOFF_MAX: Duration = Duration::from_millis(50);

/// A listener's current wait before its next accept (none while accepts succeed).
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    delay: Cell<Option<Duration>>,
}

impl AcceptBackoff {
    /// The sleep the next accept must take first, if any.
    pub(crate) fn sleep(&self) -> Option<Sleep> {
        self.delay.get().map(crate::time::sleep)
    }

    /// Waits out the back-off, if any, before an accept.
    pub(crate) async fn wait(&self) {
        if let Some(sleep) = self.sleep() {
            sleep.await;
        }
    }

    /// Resets the wait after a success, lengthens it after running out of resources.
    pub(crate) fn note(&self, error: Option<&io::Error>) {
        match error {
            None => self.delay.set(None),
            Some(err) if is_out_of_resources(err) => {
                let next = self
                    .delay
                    .get()
                    .map_or(BACKOFF_MIN, |d| (d * 2).min(BACKOFF_MAX));
                self.delay.set(Some(next));
            }
            Some(_) => {}
        }
    }
}

/// Whether an accept failed because fds or kernel memory ran out (the connection stays queued).
fn is_out_of_resources(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_resources_means_fds_or_memory() {
        for errno in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(is_out_of_resources(&io::Error::from_raw_os_error(errno)));
        }
        assert!(!is_out_of_resources(&io::Error::from_raw_os_error(
            libc::ECONNABORTED
        )));
    }

    #[test]
    fn the_wait_doubles_up_to_its_cap_and_a_success_resets_it() {
        let backoff = AcceptBackoff::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let waits: Vec<_> = (0..5)
            .map(|_| {
                backoff.note(Some(&emfile));
                backoff.delay.get()
            })
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(
            waits,
            [ms(10), ms(20), ms(40), ms(50), ms(50)].map(Some).to_vec()
        );
        backoff.note(Some(&io::Error::from_raw_os_error(libc::ECONNABORTED)));
        assert_eq!(backoff.delay.get(), Some(ms(50)));
        backoff.note(None);
        assert_eq!(backoff.delay.get(), None);
    }
}
