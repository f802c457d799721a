//! What a dropped `BufWriter` call leaves over a real socket: the send goes on, kept by the
//! writer, and the next call takes its outcome. Each test runs on both backends, against a std
//! peer with 4 KiB windows that reads nothing until told, so a large buffer's send waits.

use crate::io::test_support::pseudo_random;
use crate::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use crate::net::TcpStream;
use crate::Backend;
use std::future::{poll_fn, Future};
use std::io::{self, Read, Write};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

/// Far more than the two 4 KiB windows hold: a flush of it waits for the peer.
const LEN: usize = 256 * 1024;

/// Runs `body` on each backend (in a thread, failing after a minute rather than hanging) with
/// a connected pair: our end, and a peer that reads nothing until told.
fn on_each_backend<F, B>(body: B)
where
    F: Future<Output = ()> + 'static,
    B: Fn(TcpStream, Peer, Rc<crate::Runtime>) -> F + Copy + Send + 'static,
{
    for backend in [Backend::IoUring, Backend::Epoll] {
        within_a_minute(move || {
            let runtime = Rc::new(crate::Builder::new().backend(backend).build().unwrap());
            let (ours, peer) = small_window_pair();
            runtime.block_on(async {
                let ours = TcpStream::from_std(ours).unwrap();
                body(ours, Peer(peer), runtime.clone()).await;
            });
        });
    }
}

/// Runs `test` on a thread, failing if it is still running after a minute (and passing a
/// panic of it on).
fn within_a_minute(test: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        test();
        done.send(()).unwrap();
    });
    let outcome = finished.recv_timeout(Duration::from_secs(60));
    if outcome == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
        panic!("still running after a minute");
    }
    test.join().unwrap();
}

/// A loopback pair whose windows are 4 KiB: our end's send buffer, the peer's receive buffer.
fn small_window_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect(&listener.local_addr().unwrap().into())
        .unwrap();
    let (ours, _) = listener.accept().unwrap();
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(4096)
        .unwrap();
    (ours, socket.into())
}

struct Peer(std::net::TcpStream);

impl Peer {
    /// Sends `hello`, then reads everything on a thread until the end of the stream.
    fn read_all(self, hello: &[u8]) -> std::thread::JoinHandle<io::Result<Vec<u8>>> {
        let mut stream = self.0;
        stream.write_all(hello).unwrap();
        std::thread::spawn(move || {
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            let mut got = Vec::new();
            stream.read_to_end(&mut got).map(|_| got)
        })
    }

    /// Closes with a reset (`SO_LINGER` 0), as a peer that crashed.
    fn reset(self) {
        socket2::SockRef::from(&self.0)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
}

/// Polls `call` for 100 ms, then drops it unless it finished: a `select!` whose other branch
/// (here a timer) won.
async fn drop_after_a_while<F: Future>(call: F) -> Option<F::Output> {
    let mut call = pin!(call);
    let mut timer = pin!(crate::time::sleep(Duration::from_millis(100)));
    poll_fn(|cx| {
        if let Poll::Ready(out) = call.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// A writer holding `LEN` bytes whose flush was dropped while it sent them: part went out, the
/// rest is in a parked send the peer's full window holds up.
async fn parked_after_a_dropped_flush(stream: TcpStream) -> BufWriter<TcpStream> {
    let mut writer = BufWriter::with_capacity(2 * LEN, stream);
    writer.write_all(pseudo_random(LEN)).await.0.unwrap();
    assert!(
        drop_after_a_while(writer.flush()).await.is_none(),
        "the flush waits for the peer"
    );
    assert!(writer.parked.is_some(), "the dropped flush's send is kept");
    writer
}

/// `got` is `expected`, or says where it differs (the payloads are too long to print).
fn assert_same(got: &[u8], expected: &[u8]) {
    let first = got.iter().zip(expected).position(|(a, b)| a != b);
    assert!(
        got == expected,
        "{} bytes received, {} expected, first difference at {first:?}",
        got.len(),
        expected.len()
    );
}

#[test]
fn a_write_after_a_dropped_flush_goes_after_its_bytes() {
    on_each_backend(|stream, peer, _| async move {
        let mut writer = parked_after_a_dropped_flush(stream).await;
        let reading = peer.read_all(b"");
        writer.write_all("tail").await.0.unwrap();
        writer.shutdown().await.unwrap();
        let expected = [pseudo_random(LEN), b"tail".to_vec()].concat();
        assert_same(&reading.join().unwrap().unwrap(), &expected);
    });
}

#[test]
fn a_flush_after_a_dropped_flush_sends_the_rest_and_leaves_the_stream_whole() {
    on_each_backend(|stream, peer, _| async move {
        let mut writer = parked_after_a_dropped_flush(stream).await;
        let reading = peer.read_all(b"");
        writer.flush().await.unwrap();
        assert!(writer.parked.is_none() && writer.buffer().is_empty());
        // Not marked cut short: the stream itself writes on.
        let stream = writer.into_inner();
        stream.write_all(b"!".to_vec()).await.0.unwrap();
        stream.shutdown(std::net::Shutdown::Write).await.unwrap();
        let expected = [pseudo_random(LEN), b"!".to_vec()].concat();
        assert_same(&reading.join().unwrap().unwrap(), &expected);
    });
}

#[test]
fn a_parked_send_that_failed_is_reported_once_and_its_bytes_stay_buffered() {
    on_each_backend(|stream, peer, _| async move {
        let mut writer = parked_after_a_dropped_flush(stream).await;
        peer.reset();
        let err = writer.write("x").await.0.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "the send's own error: {err}"
        );
        let unsent = writer.buffer().len();
        assert!(
            unsent > 0 && pseudo_random(LEN).ends_with(writer.buffer()),
            "the unsent bytes stay buffered, {unsent} of them"
        );
        writer
            .write("y")
            .await
            .0
            .expect("reported once: the writer is not poisoned");
        assert_eq!(writer.buffer().len(), unsent + 1);
        let err = writer.flush().await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "a later flush tries again and gets the socket's error: {err}"
        );
    });
}

#[test]
fn into_inner_gives_an_unfinished_parked_send_up_and_the_stream_fails_its_writes() {
    on_each_backend(|stream, peer, _| async move {
        let writer = parked_after_a_dropped_flush(stream).await;
        let stream = writer.into_inner();
        let reading = peer.read_all(b"");
        // Part of the buffer went out before the parked send: the peer holds a cut-off
        // message, which must not run into the next one.
        let err = stream.write(b"next".to_vec()).await.0.unwrap_err();
        assert!(err.to_string().contains("gap"), "{err}");
        stream.shutdown(std::net::Shutdown::Write).await.unwrap();
        let got = reading.join().unwrap().unwrap();
        assert!(
            !got.is_empty() && got.len() < LEN,
            "{} bytes went out",
            got.len()
        );
        assert_same(&got, &pseudo_random(LEN)[..got.len()]);
    });
}

#[test]
fn into_inner_takes_a_parked_send_that_finished() {
    on_each_backend(|stream, peer, runtime| async move {
        let mut writer = BufWriter::new(stream);
        writer.write_all("hello").await.0.unwrap();
        // One poll: on io_uring the send is submitted, and only the next turn reaps it.
        let finished = {
            let mut flush = pin!(writer.flush());
            poll_fn(|cx| Poll::Ready(flush.as_mut().poll(cx).is_ready())).await
        };
        if finished {
            // The readiness backend sends at once: nothing was left to park.
            assert!(writer.parked.is_none());
        } else {
            assert!(writer.parked.is_some());
        }
        for _ in 0..1000 {
            if runtime.metrics().ops_in_flight == 0 {
                break;
            }
            crate::task::yield_now().await;
        }
        let stream = writer.into_inner();
        stream.write_all(b" world".to_vec()).await.0.unwrap();
        stream.shutdown(std::net::Shutdown::Write).await.unwrap();
        assert_eq!(peer.read_all(b"").join().unwrap().unwrap(), b"hello world");
    });
}

/// A read through `BufReader<BufWriter<_>>` that sends the answers first, dropped while it
/// does: the next calls go on in order, the answers first.
async fn a_dropped_read_loses_nothing<S: AsyncReadRent + AsyncWriteRent>(stream: S, peer: Peer) {
    let mut conn = BufReader::new(BufWriter::with_capacity(2 * LEN, stream));
    conn.write_all(pseudo_random(LEN)).await.0.unwrap();
    assert!(
        drop_after_a_while(conn.next_line(64)).await.is_none(),
        "the read waits to send the answers first"
    );
    assert!(conn.get_ref().parked.is_some(), "the read's send is kept");
    let reading = peer.read_all(b"ping\n");
    let line = conn.next_line(64).await.unwrap().map(<[u8]>::to_vec);
    assert_eq!(line.as_deref(), Some(&b"ping\n"[..]));
    conn.write_all("pong\n").await.0.unwrap();
    conn.shutdown().await.unwrap();
    let expected = [pseudo_random(LEN), b"pong\n".to_vec()].concat();
    assert_same(&reading.join().unwrap().unwrap(), &expected);
}

#[test]
fn a_read_dropped_while_sending_first_loses_nothing_on_the_plain_path() {
    // Over `&mut TcpStream` the reader reads plainly, through `BufWriter::read`.
    on_each_backend(|mut stream, peer, _| async move {
        a_dropped_read_loses_nothing(&mut stream, peer).await;
    });
}

#[test]
fn a_read_dropped_while_sending_first_loses_nothing_on_the_pooled_path() {
    // Over an owned stream the reader takes the ring path (`flush_before_wait`).
    on_each_backend(|stream, peer, _| async move {
        a_dropped_read_loses_nothing(stream, peer).await;
    });
}

#[test]
fn a_send_parked_in_a_runtime_that_is_not_running_fails_calls_until_that_one_is_dropped() {
    within_a_minute(|| {
        let first = crate::Builder::new()
            .backend(Backend::IoUring)
            .build()
            .unwrap();
        let (ours, peer) = small_window_pair();
        let mut writer = first.block_on(async {
            parked_after_a_dropped_flush(TcpStream::from_std(ours).unwrap()).await
        });
        let second = crate::Builder::new()
            .backend(Backend::IoUring)
            .build()
            .unwrap();
        // Only `first` can finish the send, and it is not running: waiting would hang.
        let err = second.block_on(writer.write("x")).0.unwrap_err();
        assert!(err.to_string().contains("another runtime"), "{err}");
        // Dropping it cancels the send (nothing went: the peer reads nothing yet).
        drop(first);
        let reading = Peer(peer).read_all(b"");
        second.block_on(async {
            writer.write_all("tail").await.0.unwrap();
            writer.shutdown().await.unwrap();
        });
        let expected = [pseudo_random(LEN), b"tail".to_vec()].concat();
        assert_same(&reading.join().unwrap().unwrap(), &expected);
    });
}
