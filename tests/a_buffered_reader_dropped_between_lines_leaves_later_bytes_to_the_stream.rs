//! `BufReader::new(&mut stream)` to read a head line, then the stream read directly once the
//! reader is dropped: the usual way to parse a header and hand the body to other code. Dropped
//! between calls with nothing buffered ([`buffer`] empty), the reader had nothing of the
//! stream's to lose, so bytes the peer sends after the head line (while the application was
//! busy between the line and the drop) must reach the next reader of the stream.
//!
//! On the plain path this holds (no read is in flight between calls). On the read-pool path
//! the multishot receive stays armed between calls, took the body into a pool buffer the
//! reader never showed, and dropping the reader turned it into a "gap" error on the stream: so
//! a reader over `&mut stream` reads plainly.
//!
//! [`buffer`]: coring::io::BufReader::buffer

mod common;

use common::within;
use coring::io::BufReader;
use coring::net::TcpStream;
use std::io::Write;
use std::time::Duration;

#[test]
fn bytes_after_the_head_line_reach_the_stream() {
    within(Duration::from_secs(30), || {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            peer.write_all(b"head\n").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            peer.write_all(b"body\n").unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        coring::block_on(async {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            {
                let mut head = BufReader::new(&mut stream);
                assert_eq!(head.next_line(64).await.unwrap(), Some(&b"head\n"[..]));
                // The application works on the head a while; the body arrives meanwhile.
                coring::time::sleep(Duration::from_millis(300)).await;
                assert!(head.buffer().is_empty(), "nothing buffered to lose");
            }
            let mut body = BufReader::new(&mut stream);
            let line = body.next_line(64).await;
            assert_eq!(
                line.as_ref().map_err(ToString::to_string),
                Ok(&Some(&b"body\n"[..])),
                "the body the peer sent after the head"
            );
        });
        peer.join().unwrap();
    });
}
