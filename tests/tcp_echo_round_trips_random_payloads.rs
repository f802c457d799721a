//! 1,000 concurrent TCP connections over loopback, each sending a random payload (up to 64 KiB,
//! in random-sized writes) to an echo server and reading it back in random-sized reads; every
//! byte must come back in order (length, checksum and content are compared).

mod common;

use common::{checksum, Xorshift};
use coring::net::{TcpListener, TcpStream};
use coring::time::timeout;
use std::net::Shutdown;
use std::rc::Rc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 1_000;
const MAX_PAYLOAD: usize = 64 * 1024;

async fn echo(stream: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (n, back) = stream.read(buf).await;
        if n? == 0 {
            return stream.shutdown(Shutdown::Write).await;
        }
        let (written, back) = stream.write_all(back).await;
        written?;
        buf = back;
    }
}

async fn client(addr: std::net::SocketAddr, id: u64) -> Result<usize, String> {
    let mut rng = Xorshift::new(id + 1);
    let len = rng.up_to(MAX_PAYLOAD);
    let payload = rng.bytes(len);
    let expected = (payload.len(), checksum(&payload));
    let stream = Rc::new(
        TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {id}: {e}"))?,
    );

    // Write in random-sized pieces from one task while this one reads.
    let writer = {
        let stream = stream.clone();
        let payload = payload.clone();
        let mut rng = Xorshift::new(id ^ 0xABCD);
        coring::spawn(async move {
            let mut sent = 0;
            while sent < payload.len() {
                let end = (sent + rng.up_to(8 * 1024)).min(payload.len());
                let (r, _) = stream.write_all(payload[sent..end].to_vec()).await;
                r.map_err(|e| format!("write {id}: {e}"))?;
                sent = end;
            }
            stream
                .shutdown(Shutdown::Write)
                .await
                .map_err(|e| format!("shutdown {id}: {e}"))
        })
    };

    let mut received = Vec::with_capacity(payload.len());
    loop {
        let (n, buf) = stream.read(Vec::with_capacity(rng.up_to(9_000))).await;
        match n.map_err(|e| format!("read {id}: {e}"))? {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    writer.await.map_err(|e| format!("writer {id}: {e:?}"))??;
    if (received.len(), checksum(&received)) != expected || received != payload {
        return Err(format!(
            "connection {id}: sent {} bytes (checksum {:x}), got {} back (checksum {:x})",
            expected.0,
            expected.1,
            received.len(),
            checksum(&received)
        ));
    }
    Ok(received.len())
}

#[test]
fn tcp_echo_round_trips_random_payloads() {
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = coring::spawn(async move {
            let mut echoes = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().await.expect("accept");
                echoes.push(coring::spawn(echo(stream)));
            }
            for e in echoes {
                e.await.unwrap().expect("echo");
            }
        });

        let started = Instant::now();
        let clients: Vec<_> = (0..CONNECTIONS as u64)
            .map(|id| coring::spawn(client(addr, id)))
            .collect();
        let all = timeout(Duration::from_secs(120), async {
            let mut total = 0;
            for c in clients {
                total += c.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
            }
            server.await.unwrap();
            total
        })
        .await
        .expect("the echo round trips did not finish within 120 s");
        eprintln!(
            "{CONNECTIONS} connections echoed {all} bytes in {:?}",
            started.elapsed()
        );
    });
}
