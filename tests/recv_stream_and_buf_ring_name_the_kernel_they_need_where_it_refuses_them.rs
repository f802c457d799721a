//! Provided buffer rings came with Linux 5.19 and multishot receive with 6.0; coring runs from
//! 5.11. A user who asks for them on an older kernel (`BufRing::new`,
//! `TcpStream::recv_stream`) must get an error that says which kernel they need, not a bare
//! `Invalid argument`. (`BufReader` and the runtime's read pool fall back to plain reads by
//! themselves and are not concerned.)
//!
//! The old kernel is scripted (`fault-injection`): the registration and the first multishot
//! receive are failed with `EINVAL`, as such a kernel does.

mod common;

use common::Watchdog;
use coring::buf::BufRing;
use coring::faults::{self, OpKind};
use coring::net::{TcpListener, TcpStream};
use coring::{Backend, Runtime};
use std::io;

#[test]
fn recv_stream_and_buf_ring_name_the_kernel_they_need_where_it_refuses_them() {
    let _dog = Watchdog::new(60, "recv_stream and BufRing on an old kernel");
    let runtime = Runtime::new().unwrap();
    if runtime.metrics().backend != Backend::IoUring {
        // Epoll has no kernel ring to refuse them: both work there (other tests).
        return;
    }
    runtime.block_on(async {
        faults::fail_next_registrations(libc::EINVAL, 1);
        let err = BufRing::new(8, 1024).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        let text = err.to_string();
        assert!(text.contains("5.19") && text.contains("BufRing"), "{text}");

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let ring = BufRing::new(8, 1024).unwrap();
        faults::fail_next_op(OpKind::RecvMulti, libc::EINVAL);
        let mut stream = server.recv_stream(&ring);
        let err = stream.next().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("6.0") && text.contains("recv_stream"),
            "{text}"
        );
        assert_eq!(faults::pending(), faults::Pending::default());
        drop(client);
    });
}
