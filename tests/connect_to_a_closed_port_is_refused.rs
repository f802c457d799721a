//! Connecting to a loopback port nobody listens on fails with `ConnectionRefused` (the kernel's
//! `ECONNREFUSED`), and promptly; a connect that gets no answer at all gives `TimedOut` from
//! `connect_timeout`.

use coring::net::{ListenOptions, TcpListener, TcpStream};
use coring::time::timeout;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago (bound, then closed).
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[coring::test]
async fn connect_to_a_closed_port_is_refused() {
    let addr = closed_port();
    let started = Instant::now();
    let err = timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .expect("a refused connect must not hang")
        .expect_err("nobody listens there");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    // connect_timeout reports the refusal, not a timeout.
    let err = TcpStream::connect_timeout(addr, Duration::from_secs(5))
        .await
        .expect_err("nobody listens there");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
}

#[coring::test]
async fn connect_timeout_gives_timed_out_when_syns_go_unanswered() {
    // A listener that never accepts, with the smallest backlog: once its accept queue is
    // full, the kernel drops further SYNs, so those connects wait for an answer that does
    // not come.
    let listener = TcpListener::bind_with("127.0.0.1:0", &ListenOptions::new().backlog(0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..8 {
        match TcpStream::connect_timeout(addr, Duration::from_millis(300)).await {
            Ok(stream) => queued.push(stream),
            Err(err) => {
                assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
                return;
            }
        }
    }
    panic!("{} connects to a full backlog all succeeded", queued.len());
}
