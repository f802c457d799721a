//! [`timeout_op`]: a time limit that cancels the I/O in flight and still awaits it, so what the
//! kernel did before the cancel took effect is handed back rather than lost.

use super::{later, sleep_until, Instant};
use crate::driver::cancel_scope;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::time::Duration;

/// Runs `future`, a ring operation such as a read, with a time limit, and when the limit passes
/// cancels the operation *without dropping it*: the kernel is asked to stop it, and `future` is
/// awaited until the kernel has answered. So the result is always the operation's own:
/// whatever it did before the cancel took effect, or a `TimedOut` error saying it did nothing.
///
/// [`timeout`](super::timeout) drops the future instead, which cannot hand back what the kernel
/// had already done: bytes a stream read had taken are lost (the stream then fails its next
/// reads rather than skip them), a datagram is gone. With `timeout_op` nothing is lost and the
/// stream stays usable:
///
/// ```
/// use coring::net::UnixStream;
/// use coring::time::timeout_op;
/// use std::time::Duration;
///
/// coring::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     // Nothing to read: the read is cancelled, and says so; the buffer comes back.
///     let (n, buf) = timeout_op(Duration::from_millis(10), b.read(Vec::with_capacity(64))).await;
///     assert_eq!(n.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
///     // The stream is not poisoned: the next read works.
///     a.write_all(b"later".to_vec()).await.0?;
///     let (n, buf) = b.read(buf).await;
///     assert_eq!(&buf[..n?], b"later");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # The contract, per operation
///
/// After the deadline, each ring operation `future` is waiting on gets a cancel, even one it
/// will not poll again until it completes (a read in a `FuturesUnordered`); each one it
/// starts afterwards fails at once with `TimedOut`, without being submitted. Then:
///
/// | operation | result after the deadline |
/// |---|---|
/// | stream `read`, `readv`, `recv_with_fds`, `read_fixed` | `Ok(n)` with the `n` bytes (and descriptors) that arrived before the cancel, or `TimedOut` with none taken |
/// | stream `write`, `writev`, `write_fixed`, `send_with_fds` | `Ok(n)` with the bytes written, or `TimedOut` with none written |
/// | `write_all` | `Ok(())` if the last piece went out, else `TimedOut` with a prefix perhaps written, as for any error it returns |
/// | `send_zc` | as `write`, completing only once the kernel has let go of the buffer |
/// | datagram `recv`, `recv_from` | the datagram that arrived, or `TimedOut` with none taken |
/// | datagram `send`, `send_to` | sent whole, or `TimedOut` and not sent |
/// | `accept` | the connection accepted, or `TimedOut` with none taken off the backlog |
/// | `connect` | connected, or `TimedOut` (the socket is closed) |
/// | `Incoming::next`, `RecvStream::next` | the items the kernel produced before the cancel, then `TimedOut`, ending the multishot operation (the next call starts a new one) |
///
/// In every case the stream or socket stays usable: nothing was taken and thrown away, so no
/// later read or write fails because of the timeout.
///
/// # What it does not cut short
///
/// Only ring operations are cancelled. Anything else `future` waits on (a channel, a sleep, a
/// lock) is awaited as usual, so wrap the operation itself, not a task's whole body. A cancel
/// is not instant either: the result comes when the kernel has answered it, usually within
/// microseconds.
///
/// The deadline is `now + duration` when `timeout_op` is called, as for
/// [`timeout`](super::timeout).
pub fn timeout_op<F: Future>(duration: Duration, future: F) -> impl Future<Output = F::Output> {
    timeout_op_at(later(Instant::now(), duration), future)
}

/// Like [`timeout_op`], with an absolute deadline.
pub async fn timeout_op_at<F: Future>(deadline: Instant, future: F) -> F::Output {
    let mut future = pin!(future);
    let mut sleep = sleep_until(deadline);
    let mut expired = false;
    let scope = cancel_scope::Scope::new();
    let _forget = ForgetOnDrop(scope);
    poll_fn(|cx| {
        // The deadline is checked first, so an operation first polled after it never starts.
        if !expired && Pin::new(&mut sleep).poll(cx).is_ready() {
            expired = true;
            // The ops in flight may not be polled again before they complete (a
            // `FuturesUnordered` polls only woken children): cancel them all now.
            scope.cancel_all();
        }
        let _scope = cancel_scope::Enter::new(scope, expired);
        future.as_mut().poll(cx)
    })
    .await
}

/// Forgets a scope's tracked waits when its `timeout_op` ends or is dropped.
struct ForgetOnDrop(cancel_scope::Scope);

impl Drop for ForgetOnDrop {
    fn drop(&mut self) {
        self.0.forget();
    }
}
