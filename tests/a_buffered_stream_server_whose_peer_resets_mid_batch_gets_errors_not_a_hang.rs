//! Issue 19 adversary: a peer pipelines a batch of requests to a server reading through
//! `BufReader<BufWriter<TcpStream>>` and resets the connection (close with a zero linger) at a
//! random moment, without reading the answers. The server, answering without a flush, must end
//! with an error or the end of the stream, never hang or panic; and once it has seen an error,
//! further reads, writes and flushes must answer at once (an error or the end), on both
//! backends, 40 rounds each. Replay with `SEED=...`.

mod common;

use common::{within, Xorshift};
use coring::io::{AsyncWriteRent, AsyncWriteRentExt, BufReader, BufWriter};
use coring::net::TcpListener;
use coring::Backend;
use std::io::Write;
use std::time::Duration;

const ROUNDS: u64 = 40;

fn peer(addr: std::net::SocketAddr, seed: u64) {
    let mut rng = Xorshift::new(seed);
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let batch: String = (0..rng.up_to(400))
        .map(|i| format!("request {i}\n"))
        .collect();
    let cut = rng.below(batch.len() as u64) as usize;
    stream.write_all(&batch.as_bytes()[..cut]).unwrap();
    std::thread::sleep(Duration::from_micros(rng.below(3000)));
    let _ = stream.write_all(&batch.as_bytes()[cut..]);
    std::thread::sleep(Duration::from_micros(rng.below(3000)));
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

fn run(backend: Backend, seed: u64) {
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let listener = runtime
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.block_on(async {
        for round in 0..ROUNDS {
            let peer_seed = seed.wrapping_add(round);
            let peer = std::thread::spawn(move || peer(addr, peer_seed));
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = BufReader::new(BufWriter::new(stream));
            // Answers bigger than the requests, so the socket's send buffer fills.
            let answer = vec![b'x'; 1000];
            let end = loop {
                match conn.next_line(64).await {
                    Ok(Some(_)) => {
                        if let Err(err) = conn.write_all(answer.clone()).await.0 {
                            break format!("write: {err}");
                        }
                    }
                    Ok(None) => break "end of stream".to_string(),
                    Err(err) => break format!("read: {err}"),
                }
            };
            peer.join().unwrap();
            // Further use answers at once (the watchdog turns a hang into a failure).
            let read = conn.next_line(64).await.map(|line| line.map(<[u8]>::len));
            let write = conn.write_all(answer.clone()).await.0;
            let flush = conn.flush().await;
            let read_again = conn.next_line(64).await.map(|line| line.map(<[u8]>::len));
            if round < 3 {
                println!(
                    "{backend:?} round {round}: {end}; then read {read:?}, write {write:?}, \
                     flush {flush:?}, read {read_again:?}"
                );
            }
        }
    });
}

#[test]
fn a_buffered_stream_server_whose_peer_resets_mid_batch_gets_errors_not_a_hang() {
    let seed = Xorshift::from_env_or_clock("SEED").next_u64();
    for backend in common::backends() {
        within(Duration::from_secs(180), move || run(backend, seed));
    }
}
