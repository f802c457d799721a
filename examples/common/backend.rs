//! Saying so when an example runs on the epoll fallback: one line on stderr, with the reason.

/// Prints one stderr line if a runtime built now falls back to epoll (io_uring refused), saying
/// why; nothing on io_uring, or on epoll asked for with `CORING_BACKEND`.
pub fn report_fallback() {
    if let Ok(runtime) = coring::Runtime::new() {
        if let Some(why) = runtime.fallback_reason() {
            eprintln!(
                "coring: running on the epoll backend because io_uring is unavailable: {why}"
            );
        }
    }
}
