//! Cancel-and-await: a scope in which in-flight ops are cancelled but still awaited.
//!
//! Dropping an op's future cancels it too, but whatever the kernel did before the cancel took
//! effect (bytes read, a connection accepted) is then out of the caller's reach. Inside a
//! cancelling scope an op is *not* dropped: when its future is polled it asks the kernel to
//! cancel it and goes on waiting for the final completion, so the caller gets either what
//! happened or a `TimedOut` error saying nothing did. An op first polled inside the scope is
//! not submitted at all. The scope is a thread-local flag set only while the scope's future is
//! polled, so ops of other tasks are untouched; scopes nest (a cancelling outer scope cancels
//! inner ones too).
//!
//! `time::timeout_op` is the public face; the driver only provides `cancel_in_flight`.

use super::op::CqeResult;
use std::cell::Cell;
use std::io;

thread_local! {
    static CANCELLING: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops polled now should be cancelled (and still awaited).
pub(crate) fn requested() -> bool {
    CANCELLING.with(Cell::get)
}

/// Marks the polls made while it lives as cancelling (if `cancel`, or if an enclosing scope
/// already is); restores the enclosing state on drop, even if the poll panics.
pub(crate) struct Enter {
    outer: bool,
}

impl Enter {
    pub(crate) fn new(cancel: bool) -> Enter {
        let outer = CANCELLING.with(|c| c.replace(c.get() || cancel));
        Enter { outer }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CANCELLING.with(|c| c.set(self.outer));
    }
}

/// The error of an op the scope stopped before the kernel did anything.
pub(crate) fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "coring: the operation was cancelled by its deadline before the kernel did anything",
    )
}

/// The final result of an op this scope asked to cancel: the kernel's `ECANCELED` (or `EINTR`,
/// for work it had started in a worker thread) becomes [`timed_out`]; anything else (the op
/// finished first) stands.
pub(crate) fn after_cancel(cqe: CqeResult) -> CqeResult {
    match &cqe.result {
        Err(err) if matches!(err.raw_os_error(), Some(libc::ECANCELED | libc::EINTR)) => {
            CqeResult {
                result: Err(timed_out()),
                flags: cqe.flags,
            }
        }
        _ => cqe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        assert!(!requested());
        {
            let _outer = Enter::new(true);
            assert!(requested());
            {
                let _inner = Enter::new(false);
                assert!(requested(), "an outer cancelling scope cancels inner ones");
            }
            assert!(requested());
        }
        assert!(!requested());
        let _quiet = Enter::new(false);
        assert!(!requested());
    }

    #[test]
    fn only_a_cancel_error_becomes_timed_out() {
        let cancelled = after_cancel(CqeResult::from_raw(-libc::ECANCELED, 0));
        let err = cancelled.result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(after_cancel(CqeResult::from_raw(5, 0)).result.unwrap(), 5);
        let reset = after_cancel(CqeResult::from_raw(-libc::ECONNRESET, 0));
        assert_eq!(
            reset.result.unwrap_err().raw_os_error(),
            Some(libc::ECONNRESET)
        );
    }
}
