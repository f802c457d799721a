//! The methods that only hand their arguments on to another future (the stream they wrap, a
//! guarded op, a plain op, a `poll_` method) return that future, not an `async fn` around it:
//! such a layer keeps a second copy of the arguments (the buffer, `&self`) in every pending
//! call, and so in every task awaiting one, as `TcpStream::write_all` once did (344 B against
//! 280 B).

use crate::buf::BufRing;
use crate::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixStream};
use crate::op::{self, Op};
use std::future::poll_fn;
use std::io;
use std::mem::size_of_val;
use std::net::Shutdown;

/// A row of a size table: `(the call, the size of the future it should be, its own size)`.
macro_rules! size_row {
    ($call:expr, $inner:expr) => {
        (stringify!($call), $inner, std::mem::size_of_val(&$call))
    };
}

/// Prints each row of `sizes` and fails naming the calls whose future is larger than the one
/// it hands on to.
pub(super) fn assert_none_larger(sizes: &[(&str, usize, usize)]) {
    for (call, inner, own) in sizes {
        println!("{call}: {own} B (the future it hands on to: {inner} B)");
    }
    let larger: Vec<_> = sizes.iter().filter(|(_, inner, own)| own > inner).collect();
    assert!(
        larger.is_empty(),
        "futures larger than the ones they hand on to: {larger:?}"
    );
}

/// A connected stream (its peer is dropped: nothing is polled here).
fn tcp_stream() -> TcpStream {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    TcpStream::from_std(client).unwrap()
}

fn buf() -> Vec<u8> {
    vec![0; 16]
}

fn bufs() -> Vec<Vec<u8>> {
    vec![buf()]
}

#[test]
fn a_handed_on_stream_method_s_future_is_the_size_of_tcp_stream_s() {
    crate::block_on(async {
        let (tcp, (unix, _peer)) = (tcp_stream(), UnixStream::pair().unwrap());
        // The futures TcpStream's own methods return, which every handed-on one should be.
        let read = size_of_val(&tcp.read(buf()));
        let readv = size_of_val(&tcp.readv(bufs()));
        let write = size_of_val(&tcp.write(buf()));
        let write_all = size_of_val(&tcp.write_all(buf()));
        let writev = size_of_val(&tcp.writev(bufs()));
        let shutdown = size_of_val(&tcp.shutdown(Shutdown::Write));
        let mut sizes = vec![
            size_row!(unix.read(buf()), read),
            size_row!(unix.readv(bufs()), readv),
            size_row!(unix.write(buf()), write),
            size_row!(unix.write_all(buf()), write_all),
            size_row!(unix.writev(bufs()), writev),
            size_row!(unix.shutdown(Shutdown::Write), shutdown),
        ];
        let (tcp_read, tcp_write) = tcp.into_split();
        let (unix_read, unix_write) = unix.into_split();
        sizes.extend([
            size_row!(tcp_read.read(buf()), read),
            size_row!(tcp_read.readv(bufs()), readv),
            size_row!(tcp_write.write(buf()), write),
            size_row!(tcp_write.write_all(buf()), write_all),
            size_row!(tcp_write.writev(bufs()), writev),
            size_row!(tcp_write.shutdown(), shutdown),
            size_row!(unix_read.read(buf()), read),
            size_row!(unix_read.readv(bufs()), readv),
            size_row!(unix_write.write(buf()), write),
            size_row!(unix_write.write_all(buf()), write_all),
            size_row!(unix_write.writev(bufs()), writev),
            size_row!(unix_write.shutdown(), shutdown),
        ]);
        assert_none_larger(&sizes);
    });
}

#[test]
fn a_method_that_starts_one_op_is_the_size_of_that_op_s_future() {
    crate::block_on(async {
        let tcp = tcp_stream();
        let fd = tcp.shared_fd();
        let refused = |buf| (io::Error::from(io::ErrorKind::InvalidInput), buf);
        // Built as the methods build them, with a `&SharedFd` where they capture `&self`.
        let loss = tcp.write_loss();
        let write = loss.guard("write", buf(), |buf| Ok(op::send::send(fd, buf)));
        let writev = loss.guard("write", bufs(), |bufs| {
            Ok(op::send_msg::send_msg(fd, bufs, None))
        });
        let fixed = loss.guard("write", buf(), |buf| {
            op::fixed::write_fixed(fd, buf).map_err(refused)
        });
        let zc = loss.guard("write", buf(), |buf| Ok(op::send::send_zc(fd, buf)));
        let send = size_of_val(&Op::new(op::send::send(fd, buf())));
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (datagram, _peer) = UnixDatagram::pair().unwrap();
        let shutdown = size_of_val(&op::fd_only::shutdown(fd, Shutdown::Write));
        let sizes = [
            size_row!(tcp.write(buf()), size_of_val(&write)),
            size_row!(tcp.writev(bufs()), size_of_val(&writev)),
            size_row!(tcp.write_fixed(buf()), size_of_val(&fixed)),
            size_row!(tcp.send_zc(buf()), size_of_val(&zc)),
            size_row!(tcp.shutdown(Shutdown::Write), shutdown),
            size_row!(udp.send(buf()), send),
            size_row!(datagram.send(buf()), send),
        ];
        assert_none_larger(&sizes);
    });
}

#[test]
fn a_next_is_the_size_of_its_poll_next() {
    crate::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut incoming = listener.incoming();
        let ring = BufRing::new(2, 64).unwrap();
        let mut received = tcp_stream().recv_stream(&ring);
        let incoming_poll = size_of_val(&poll_fn(|cx| incoming.poll_next(cx)));
        let received_poll = size_of_val(&poll_fn(|cx| received.poll_next(cx)));
        let sizes = [
            size_row!(incoming.next(), incoming_poll),
            size_row!(received.next(), received_poll),
        ];
        assert_none_larger(&sizes);
    });
}
