//! `Slice::get_mut` hands out the inner buffer; safe code may shrink it (`truncate` then
//! `shrink_to_fit`) while the slice exists. Before the fix the slice kept reporting the window it
//! was made with, so a 4096-byte read into a slice whose `Vec` had shrunk to 16 bytes came back
//! `n = 4096, len = 4096, cap = 16`: the kernel (or the in-memory reader) wrote past the
//! allocation (issue 18, item 1). Each scenario runs in a child process, since the old behaviour
//! corrupts the heap.

mod common;

use common::process::{is_child, run_child};
use coring::buf::IoBuf;
use coring::io::AsyncReadRent;
use std::io::Write;
use std::time::Duration;

const CHILD: &str = "CORING_SHRUNK_SLICE_CHILD";

/// A slice over 4096 bytes of capacity whose inner `Vec` is then shrunk to 16.
fn shrunk_slice() -> coring::buf::Slice<Vec<u8>> {
    let mut slice = Vec::<u8>::with_capacity(4096).slice(..4096);
    let inner = slice.get_mut();
    inner.extend_from_slice(&[1; 16]);
    inner.shrink_to_fit();
    assert_eq!(inner.capacity(), 16, "the test needs the Vec really shrunk");
    slice
}

fn check(n: usize, slice: coring::buf::Slice<Vec<u8>>) {
    let buf = slice.into_inner();
    println!("n={n} len={} cap={}", buf.len(), buf.capacity());
    assert!(n <= 16, "read {n} bytes into 16 bytes of memory");
    assert!(
        buf.len() <= buf.capacity(),
        "len {} > cap {}",
        buf.len(),
        buf.capacity()
    );
}

fn in_child(test: &str) {
    let run = run_child(test, &[(CHILD, "1")], Duration::from_secs(60));
    assert!(
        run.status.success() && !run.timed_out,
        "the child failed ({:?}):\n{}",
        run.status,
        run.report()
    );
}

#[test]
fn a_socket_read_into_a_shrunk_slice_stays_inside_the_buffer() {
    if !is_child(CHILD) {
        return in_child("a_socket_read_into_a_shrunk_slice_stays_inside_the_buffer");
    }
    coring::block_on(async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            peer.write_all(&[0xAB; 4096]).unwrap();
            peer
        });
        let stream = coring::net::TcpStream::connect(addr).await.unwrap();
        let _peer = peer.join().unwrap();
        std::thread::sleep(Duration::from_millis(50)); // all 4096 bytes are waiting
        let (n, slice) = stream.read(shrunk_slice()).await;
        check(n.unwrap(), slice);
    });
}

#[test]
fn an_in_memory_read_into_a_shrunk_slice_stays_inside_the_buffer() {
    if !is_child(CHILD) {
        return in_child("an_in_memory_read_into_a_shrunk_slice_stays_inside_the_buffer");
    }
    coring::block_on(async {
        let mut reader: &[u8] = &[0xAB; 4096];
        let (n, slice) = reader.read(shrunk_slice()).await;
        check(n.unwrap(), slice);
    });
}
