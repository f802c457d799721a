//! The servers: the same two protocols written for each runtime, as alike as their APIs allow
//! (see `benches/harness/conn.rs`, which holds them for coring and tokio, shared with
//! `benches/net`), one task per connection.
//!
//! Every server listens on 127.0.0.1 with a backlog of 4096 (glommio: its own `bind`, 1024),
//! prints `READY port=N`, and answers each `mark` line on stdin with one `STATS` line (with
//! `enters=N` where the server counts its `io_uring_enter` calls). End of stdin ends it.

pub mod compio_srv;
pub mod coring_srv;
pub mod glommio_srv;
pub mod hyper_srv;
pub mod monoio_srv;
pub mod raw;
pub mod tokio_srv;
pub mod tokio_uring_srv;

pub(crate) use crate::conn::{responses, take_requests, ECHO_BUF, HTTP_BUF, RESPONSE};
pub(crate) use crate::serve::{control_thread, plain_control_thread, print_stats, ready};
use std::io;
use std::net::SocketAddr;

/// Submission queue entries, where a runtime lets one choose (coring, monoio, tokio-uring,
/// glommio; compio's default is this already; the raw loop).
pub const ENTRIES: u32 = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Echo,
    Http,
}

impl Proto {
    pub fn parse(s: &str) -> Proto {
        match s {
            "echo" => Proto::Echo,
            "http" => Proto::Http,
            other => panic!("unknown protocol {other}"),
        }
    }
}

/// Runs server `kind` for `proto` until stdin closes (or the parent kills it).
pub fn run(kind: &str, proto: Proto) {
    match kind {
        "raw" => raw::run(proto, false),
        "raw-direct" => raw::run(proto, true),
        "coring" => coring_srv::run(proto, false, false, false, false),
        "coring-ring" => coring_srv::run(proto, true, false, false, false),
        "coring-batch" => coring_srv::run(proto, true, true, false, false),
        "coring-epoll" => coring_srv::run(proto, false, false, true, false),
        "coring-pool" => coring_srv::run(proto, false, false, false, true),
        "tokio" => tokio_srv::run(proto, false),
        "tokio-mt" => tokio_srv::run(proto, true),
        "monoio" => monoio_srv::run(proto),
        "compio" => compio_srv::run(proto),
        "glommio" => glommio_srv::run(proto),
        "tokio-uring" => tokio_uring_srv::run(proto),
        "coring-hyper" if proto == Proto::Http => hyper_srv::run_coring(),
        "tokio-hyper" if proto == Proto::Http => hyper_srv::run_tokio(),
        other => panic!("unknown server {other}"),
    }
}

/// Runs a connection's handler, then [`closed`].
pub async fn watch<F: std::future::Future<Output = io::Result<()>>>(handler: F) -> io::Result<()> {
    let result = handler.await;
    closed();
    result
}

/// Called when a connection ends. With `PEERS_EXIT_ON_CLOSE=N` in the environment the server
/// exits when the N-th connection has ended, from the thread that runs the connections:
/// `profile.sh` uses it under valgrind, where a thread blocked in `io_uring_enter` keeps the
/// stdin thread from ever running (wrk opens and closes one connection before its run: N=2).
pub fn closed() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    static CLOSED: AtomicUsize = AtomicUsize::new(0);
    let limit = *LIMIT.get_or_init(|| {
        std::env::var("PEERS_EXIT_ON_CLOSE")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    if limit > 0 && CLOSED.fetch_add(1, Relaxed) + 1 >= limit {
        std::process::exit(0);
    }
}

/// A listening std socket on 127.0.0.1 (any port); see [`crate::serve::listen`].
pub fn std_listener() -> std::net::TcpListener {
    crate::serve::listen(SocketAddr::from(([127, 0, 0, 1], 0)), false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::HEAD_MAX;

    #[test]
    fn heads_are_counted_across_reads() {
        let mut pending = Vec::new();
        assert_eq!(
            take_requests(&mut pending, b"GET / HTTP/1.1\r\n\r\n").unwrap(),
            1
        );
        assert!(pending.is_empty());
        assert_eq!(
            take_requests(&mut pending, b"GET / HTTP/1.1\r\nA: b\r").unwrap(),
            0
        );
        assert_eq!(
            take_requests(&mut pending, b"\n\r\nGET / HTTP/1.1\r\n\r\nGE").unwrap(),
            2
        );
        assert_eq!(pending, b"GE");
        assert!(take_requests(&mut pending, &[b'x'; HEAD_MAX]).is_err());
    }
}
