//! Adversary: a close coring sends through the ring frees the fd's number when it runs, and the
//! next `open` may take that number at once. Nothing coring does afterwards (the close's
//! completion, a cancelled close's fallback `close(2)`, the runtime's shutdown) may close the
//! number again: that would close a file it never owned. Files opened with `std` between and
//! after thousands of closes (dropped sockets and files, `close().await`, close futures dropped
//! after one poll, fds handed out with `into_std`) must all still name their file once the
//! runtime is gone. Every backend.

mod common;

use common::{backends, open_fds, open_fds_settled, poll_once, TempDir, Watchdog};
use coring::fs::File;
use coring::net::{TcpListener, UnixStream};
use std::io::{Read, Seek};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::pin::pin;
use std::time::Duration;

const ROUNDS: usize = 3_000;

/// A file opened with `std` while coring's closes are in flight, and what it must still be.
struct Canary {
    file: std::fs::File,
    ino: u64,
}

fn canary(path: &Path, ino: u64) -> Canary {
    Canary {
        file: std::fs::File::open(path).unwrap(),
        ino,
    }
}

/// Each round gives up one or two fds in one of several ways, then opens a canary.
async fn close_and_reopen(path: &Path, canary_path: &Path, ino: u64) -> Vec<Canary> {
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
        canaries.push(canary(canary_path, ino));
        if round % 7 == 0 {
            // Let the queued closes go in (and finish) before the next ones.
            coring::task::yield_now().await;
        }
    }
    canaries
}

fn check(canaries: Vec<Canary>, what: &str) {
    let total = canaries.len();
    let mut broken = 0;
    for mut canary in canaries {
        let intact = canary.file.metadata().is_ok_and(|m| m.ino() == canary.ino)
            && canary.file.rewind().is_ok()
            && {
                let mut text = String::new();
                canary.file.read_to_string(&mut text).is_ok() && text == "canary"
            };
        if !intact {
            broken += 1;
        }
    }
    assert_eq!(
        broken, 0,
        "{what}: {broken} of {total} files opened beside coring's closes were closed (or replaced) under their owner"
    );
}

#[test]
fn an_fd_number_freed_by_a_close_in_flight_and_opened_again_is_never_closed_twice() {
    let _dog = Watchdog::new(300, "fd numbers reused beside closes in flight");
    let dir = TempDir::new("adv-reuse");
    let path = dir.join("f");
    std::fs::write(&path, "x").unwrap();
    let canary_path = dir.join("canary");
    std::fs::write(&canary_path, "canary").unwrap();
    let ino = std::fs::metadata(&canary_path).unwrap().ino();
    for backend in backends() {
        let before = open_fds();
        let runtime = coring::Builder::new().backend(backend).build().unwrap();
        let mut canaries = runtime.block_on(close_and_reopen(&path, &canary_path, ino));
        // Closes still queued as the runtime goes: its shutdown sends them.
        runtime.block_on(async {
            for _ in 0..500 {
                drop(UnixStream::pair().unwrap());
                drop(File::open(&path).await.unwrap());
            }
        });
        drop(runtime);
        for _ in 0..1_000 {
            canaries.push(canary(&canary_path, ino));
        }
        let expected = before + canaries.len();
        let now = open_fds_settled(expected, Duration::from_secs(10));
        check(canaries, &format!("{backend:?}"));
        assert_eq!(
            now, expected,
            "{backend:?}: fds left open (or closed twice)"
        );
    }
}
