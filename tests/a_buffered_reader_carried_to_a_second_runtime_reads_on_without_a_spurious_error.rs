//! A `BufReader<TcpStream>` that read through one runtime's read pool, carried (on the same
//! thread) into a second runtime after the first shut down, reads on through the second
//! runtime's pool. Its user never made a `BufRing`, so the pool's rings changing under it must
//! not surface as an error about "a BufRing created by another runtime" that goes away on the
//! next call, and what the first runtime's receive took in before it shut down is still
//! served: every line arrives, in order, and no call fails.

mod common;

use common::within;
use coring::io::BufReader;
use coring::net::TcpStream;
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn the_reader_switches_to_the_new_runtimes_pool() {
    within(Duration::from_secs(30), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (go, wait) = mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            peer.write_all(b"one\ntwo\n").unwrap();
            // Received by the first runtime's receive while its reader is idle.
            wait.recv().unwrap();
            peer.write_all(b"three\n").unwrap();
            // The rest only once the first runtime is gone.
            wait.recv().unwrap();
            peer.write_all(b"four\n").unwrap();
        });

        let first = coring::Runtime::new().unwrap();
        let mut reader = first.block_on(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut reader = BufReader::new(stream);
            assert_eq!(reader.next_line(64).await.unwrap(), Some(&b"one\n"[..]));
            assert!(reader.reads_through_pool());
            go.send(()).unwrap();
            coring::time::sleep(Duration::from_millis(200)).await;
            reader
        });
        drop(first);
        go.send(()).unwrap();

        let second = coring::Runtime::new().unwrap();
        let lines = second.block_on(async {
            let mut lines = Vec::new();
            while let Some(line) = reader.next_line(64).await.unwrap() {
                lines.push(String::from_utf8_lossy(line).into_owned());
            }
            lines
        });
        assert_eq!(lines, ["two\n", "three\n", "four\n"]);
        peer.join().unwrap();
    });
}
