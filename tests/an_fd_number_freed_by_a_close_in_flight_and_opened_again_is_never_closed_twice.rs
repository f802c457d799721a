//! Adversary: a close coring sends through the ring frees the fd's number when it runs, and the
//! next `open` may take that number at once. Nothing coring does afterwards (the close's
//! completion, a cancelled close's fallback `close(2)`, the runtime's shutdown) may close the
//! number again: that would close a file it never owned. Files opened with `std` between and
//! after thousands of closes (dropped sockets and files, `close().await`, close futures dropped
//! after one poll, fds handed out with `into_std`) must all still name their file once the
//! runtime is gone. Every backend.

mod common;

use common::canary::Nest;
use common::{backends, open_fds, open_fds_settled, poll_once, TempDir, Watchdog};
use coring::fs::File;
use coring::net::{TcpListener, UnixStream};
use std::path::Path;
use std::pin::pin;
use std::time::Duration;

const ROUNDS: usize = 3_000;

/// Each round gives up one or two fds in one of several ways, then opens a canary.
async fn close_and_reopen(path: &Path, nest: &Nest) -> Vec<std::fs::File> {
    let mut canaries = Vec::new();
    for round in 0..ROUNDS {
        match round % 6 {
            0 => drop(UnixStream::pair().unwrap()),
            1 => drop(File::open(path).await.unwrap()),
            2 => File::open(path).await.unwrap().close().await.unwrap(),
            3 => {
                let file = File::open(path).await.unwrap();
                let mut close = pin!(file.close());
                let _ = poll_once(close.as_mut()).await;
            }
            4 => {
                let (a, b) = UnixStream::pair().unwrap();
                drop(std::os::fd::OwnedFd::from(a.into_std().await.unwrap()));
                drop(b);
            }
            _ => drop(TcpListener::bind("127.0.0.1:0").unwrap()),
        }
        canaries.push(nest.open());
        if round % 7 == 0 {
            // Let the queued closes go in (and finish) before the next ones.
            coring::task::yield_now().await;
        }
    }
    canaries
}

#[test]
fn an_fd_number_freed_by_a_close_in_flight_and_opened_again_is_never_closed_twice() {
    let _dog = Watchdog::new(300, "fd numbers reused beside closes in flight");
    let dir = TempDir::new("adv-reuse");
    let path = dir.join("f");
    std::fs::write(&path, "x").unwrap();
    let nest = Nest::new(dir.path());
    for backend in backends() {
        let before = open_fds();
        let runtime = coring::Builder::new().backend(backend).build().unwrap();
        let mut canaries = runtime.block_on(close_and_reopen(&path, &nest));
        // Closes still queued as the runtime goes: its shutdown sends them.
        runtime.block_on(async {
            for _ in 0..500 {
                drop(UnixStream::pair().unwrap());
                drop(File::open(&path).await.unwrap());
            }
        });
        drop(runtime);
        canaries.extend((0..1_000).map(|_| nest.open()));
        let expected = before + canaries.len();
        let now = open_fds_settled(expected, Duration::from_secs(10));
        nest.check(canaries, &format!("{backend:?}"));
        assert_eq!(
            now, expected,
            "{backend:?}: fds left open (or closed twice)"
        );
    }
}
