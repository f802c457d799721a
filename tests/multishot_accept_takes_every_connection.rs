//! `TcpListener::incoming` (one multishot accept) takes every connection of a burst of 500
//! concurrent connects exactly once (docs/HAZARDS.md H6): each client sends its number and waits
//! for an answer, so all 500 are open at once, and the server must see each number once.
//!
//! Then connections arrive that nobody takes: the multishot accept keeps accepting them into
//! completions no one reads, and the `Incoming` is dropped. The runtime must close each of those
//! sockets (every client reads end of file or a reset), and once the runtime has reaped the
//! multishot's last completion the process holds exactly the fds it held before
//! (`/proc/self/fd`). One test per file: the fd count is per process.

mod common;

use coring::net::{TcpListener, TcpStream};
use coring::time::{sleep, timeout};
use coring::Runtime;
use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: u32 = 500;
const UNTAKEN: usize = 100;

/// Fails the process if `done` is not set within `limit`.
fn watchdog(limit: Duration) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while waited < limit {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(step);
            waited += step;
        }
        eprintln!("watchdog: the test did not finish within {limit:?}");
        std::process::exit(101);
    });
    done
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// 500 clients on their own thread and runtime, all connecting at once; each sends its number,
/// then waits for the server to echo it back before closing.
fn clients(addr: std::net::SocketAddr) -> std::thread::JoinHandle<Vec<u32>> {
    std::thread::spawn(move || {
        coring::block_on(async move {
            let tasks: Vec<_> = (0..CLIENTS)
                .map(|id| {
                    coring::spawn(async move {
                        let stream = TcpStream::connect(addr).await.expect("connect failed");
                        stream.write_all(id.to_le_bytes().to_vec()).await.0.unwrap();
                        let (n, buf) = stream.read(Vec::with_capacity(4)).await;
                        assert_eq!(n.expect("no answer"), 4, "client {id}: short answer");
                        u32::from_le_bytes(buf[..4].try_into().unwrap())
                    })
                })
                .collect();
            let mut answers = Vec::new();
            for task in tasks {
                answers.push(task.await.expect("a client panicked"));
            }
            answers
        })
    })
}

#[test]
fn multishot_accept_takes_every_connection() {
    if common::skip::io_uring_only("multishot_accept_takes_every_connection") {
        return;
    }
    let done = watchdog(Duration::from_secs(60));
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        sleep(Duration::from_millis(1)).await;
        let fds_before = open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pushed_before = runtime.metrics().sqes_submitted;

        // 1. 500 concurrent connections, each taken once.
        let client_thread = clients(addr);
        let mut incoming = listener.incoming();
        let mut seen = HashSet::new();
        let mut open = Vec::new();
        let started = Instant::now();
        while seen.len() < CLIENTS as usize {
            let stream = timeout(Duration::from_secs(20), incoming.next())
                .await
                .unwrap_or_else(|_| panic!("only {} of {CLIENTS} accepted", seen.len()))
                .expect("incoming ended")
                .expect("accept failed");
            let (n, buf) = stream.read(Vec::with_capacity(4)).await;
            assert_eq!(n.unwrap(), 4, "a client's number was cut off");
            let id = u32::from_le_bytes(buf[..4].try_into().unwrap());
            assert!(
                id < CLIENTS && seen.insert(id),
                "client {id} accepted twice"
            );
            // Keep every connection open until all are in: they are concurrent.
            open.push((id, stream));
        }
        let accepts_armed = runtime.metrics().sqes_submitted - pushed_before;
        for (id, stream) in &open {
            stream.write_all(id.to_le_bytes().to_vec()).await.0.unwrap();
        }
        while !client_thread.is_finished() {
            sleep(Duration::from_millis(1)).await;
        }
        let mut answers = client_thread.join().expect("the client thread panicked");
        answers.sort_unstable();
        assert_eq!(answers, (0..CLIENTS).collect::<Vec<_>>());
        drop(open);
        // One read per connection, and the accept itself: armed once, not once per connection.
        let arms = accepts_armed - u64::from(CLIENTS);
        eprintln!(
            "{CLIENTS} connections accepted once each in {:?}; accept armed {arms} time(s)",
            started.elapsed()
        );
        assert!(
            arms < 10,
            "the accept was re-armed {arms} times: not multishot"
        );

        // 2. Connections nobody takes, then the Incoming is dropped with its accept armed.
        sleep(Duration::from_millis(20)).await;
        let fds_mid = open_fds();
        let untaken: Vec<std::net::TcpStream> = (0..UNTAKEN)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        // Let the multishot accept take them into completions nobody reads.
        sleep(Duration::from_millis(50)).await;
        let accepted_unread = open_fds().saturating_sub(fds_mid + UNTAKEN);
        drop(incoming);
        let deadline = Instant::now() + Duration::from_secs(10);
        while runtime.metrics().ops_in_flight > 0 {
            assert!(
                Instant::now() < deadline,
                "the multishot accept never ended"
            );
            sleep(Duration::from_millis(1)).await;
        }
        sleep(Duration::from_millis(20)).await; // closes go out with the next turns
        eprintln!(
            "{UNTAKEN} connections left untaken ({accepted_unread} already accepted by the \
             kernel); fds now {} (before the listener: {fds_before}, clients: {UNTAKEN})",
            open_fds()
        );
        // The server side of every untaken connection is closed, or still queued in the
        // listener's backlog (closed with the listener).
        drop(listener);
        sleep(Duration::from_millis(20)).await;
        assert_eq!(
            open_fds(),
            fds_before + UNTAKEN,
            "accepted sockets nobody took were leaked"
        );
        for mut client in untaken {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            match client.read(&mut [0u8; 8]) {
                Ok(0) => {}
                Ok(n) => panic!("read {n} bytes from a connection nobody served"),
                Err(err) => assert!(
                    matches!(
                        err.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                    ),
                    "the server side was not closed: {err}"
                ),
            }
        }
        sleep(Duration::from_millis(5)).await;
        assert_eq!(open_fds(), fds_before, "fds leaked");
        assert_eq!(runtime.metrics().ops_in_flight, 0);
    });
    done.store(true, Ordering::SeqCst);
}
