//! A `FixedBuf` is registered with the ring of the runtime that made its pool. Handed to
//! `read_fixed` on another runtime, whose ring does not know it, the read must fail with an
//! `InvalidInput` error that says so (as a `BufRing` used on another runtime does), not the
//! kernel's bare `EFAULT` ("Bad address"), and must take no bytes from the stream.

mod common;

use coring::buf::FixedBufPool;
use coring::net::TcpListener;
use coring::Runtime;
use std::io::{ErrorKind, Write};

#[test]
fn read_fixed_into_another_runtimes_buffer_is_a_clear_error() {
    if common::skip::io_uring_only("read_fixed_into_another_runtimes_buffer_is_a_clear_error") {
        return;
    }
    let first = Runtime::new().unwrap();
    let buf = first.block_on(async { FixedBufPool::new(1, 64).unwrap().try_take().unwrap() });
    let second = Runtime::new().unwrap();
    second.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"kept").unwrap();

        let (result, _buf) = server.read_fixed(buf).await;
        let err = result.expect_err("a buffer the ring does not know cannot be read into");
        println!("read_fixed: {err}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("runtime"), "{err}");

        let (n, data) = server.read(Vec::with_capacity(16)).await;
        assert_eq!(n.unwrap(), 4);
        assert_eq!(&data[..], b"kept", "the failed read took no bytes");
    });
}
