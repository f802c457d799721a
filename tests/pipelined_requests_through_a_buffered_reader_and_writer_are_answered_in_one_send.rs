//! A server that reads requests through `BufReader<BufWriter<TcpStream>>` and writes each
//! response without flushing gets every response of a pipelined batch out in one send: the
//! responses gather in the `BufWriter`, and the reader sends them just before it would wait for
//! the peer. None is left in the buffer while the peer waits for it (which would hang both).

mod common;

use common::{skip, within};
use coring::io::{AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use std::io::{BufRead, Write};
use std::time::Duration;

const REQUESTS: usize = 16;

#[test]
fn pipelined_requests_through_a_buffered_reader_and_writer_are_answered_in_one_send() {
    if skip::io_uring_only("pipelined_requests_..._answered_in_one_send") {
        return; // the send count is read from the ring's submission counter
    }
    let sends = within(Duration::from_secs(60), || {
        let runtime = coring::Runtime::new().unwrap();
        let listener = runtime.block_on(async { TcpListener::bind("127.0.0.1:0") });
        let listener = listener.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            // One write: the whole batch reaches the server in one arrival.
            let batch: String = (0..REQUESTS).map(|i| format!("request {i}\n")).collect();
            stream.write_all(batch.as_bytes()).unwrap();
            let mut responses = std::io::BufReader::new(stream.try_clone().unwrap());
            for i in 0..REQUESTS {
                let mut line = String::new();
                responses.read_line(&mut line).unwrap_or_else(|err| {
                    panic!("waiting for response {i} (still in the server's buffer?): {err}")
                });
                assert_eq!(line, format!("response {i}\n"));
            }
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let sends = runtime.block_on(async {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = BufReader::new(BufWriter::new(stream));
            let mut answered = 0;
            let mut before = None;
            while let Some(line) = conn.next_line(64).await.unwrap() {
                let line = String::from_utf8(line.to_vec()).unwrap();
                // Counted from the first request on: the batch has arrived, and the receive
                // that brought it stays armed.
                before.get_or_insert(runtime.metrics().sqes_submitted);
                let response = line.replace("request", "response");
                conn.write_all(response.into_bytes()).await.0.unwrap();
                answered += 1;
            }
            assert_eq!(answered, REQUESTS);
            runtime.metrics().sqes_submitted - before.unwrap()
        });
        client.join().unwrap();
        sends
    });
    println!("{REQUESTS} pipelined requests answered with {sends} submission(s)");
    assert_eq!(sends, 1, "one send for the whole batch");
}
