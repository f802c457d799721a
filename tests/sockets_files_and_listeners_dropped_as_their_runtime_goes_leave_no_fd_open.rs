//! Adversary: every fd a runtime's sockets, files and listeners held is closed once the runtime
//! is dropped, however they went: dropped by the last task just before the runtime, owned by
//! spawned tasks that never ran, or by spawned tasks waiting mid-read. On io_uring most of those
//! closes are still in flight (queued, not submitted) when the runtime's drop starts, so its
//! shutdown must wait for them rather than tear the ring down under them. 1, 100 and 10,000 fds
//! on every backend.

mod common;

use common::{backends, open_fds, open_fds_settled, TempDir, Watchdog};
use coring::fs::File;
use coring::net::{TcpListener, TcpStream, UnixStream};
use std::path::Path;
use std::time::Duration;

/// What a task holds: every kind of fd coring closes through the ring (or at once).
#[derive(Default)]
struct Held {
    unix: Vec<UnixStream>,
    tcp: Vec<TcpStream>,
    files: Vec<File>,
    listeners: Vec<TcpListener>,
}

/// About `fds` fds: half Unix pairs, a quarter files, an eighth listeners, an eighth TCP pairs.
async fn open(fds: usize, path: &Path) -> Held {
    let mut held = Held::default();
    let quarter = fds / 4;
    for _ in 0..(fds / 2).max(1) / 2 {
        let (a, b) = UnixStream::pair().unwrap();
        held.unix.extend([a, b]);
    }
    for _ in 0..quarter.max(1) {
        held.files.push(File::open(path).await.unwrap());
    }
    for _ in 0..(quarter / 2).max(1) {
        held.listeners
            .push(TcpListener::bind("127.0.0.1:0").unwrap());
    }
    if let Some(listener) = held.listeners.first() {
        let addr = listener.local_addr().unwrap();
        for _ in 0..(quarter / 4).max(1) {
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            held.tcp.extend([client, server]);
        }
    }
    held
}

fn count(held: &Held) -> usize {
    held.unix.len() + held.tcp.len() + held.files.len() + held.listeners.len()
}

/// How the fds are given up before the runtime's drop.
#[derive(Clone, Copy, Debug)]
enum Way {
    /// Dropped by the block_on future as it ends.
    DroppedJustBefore,
    /// Moved into spawned tasks that never run.
    InTasksThatNeverRan,
    /// Moved into spawned tasks each waiting on a read no peer will answer.
    InTasksMidRead,
}

fn scenario(backend: coring::Backend, fds: usize, way: Way, path: &Path) -> Option<String> {
    let before = open_fds();
    let runtime = coring::Builder::new().backend(backend).build().unwrap();
    let opened = runtime.block_on(async {
        let held = open(fds, path).await;
        let opened = count(&held);
        match way {
            Way::DroppedJustBefore => drop(held),
            Way::InTasksThatNeverRan => {
                coring::spawn(async move { drop(held) });
            }
            Way::InTasksMidRead => {
                let Held {
                    unix,
                    tcp,
                    files,
                    listeners,
                } = held;
                // Every stream reads; its peer sits in the same task, silent.
                let mut unix = unix.into_iter();
                while let (Some(a), Some(b)) = (unix.next(), unix.next()) {
                    coring::spawn(async move {
                        let _peer = b;
                        let _ = a.read(vec![0u8; 16]).await;
                    });
                }
                let mut tcp = tcp.into_iter();
                while let (Some(a), Some(b)) = (tcp.next(), tcp.next()) {
                    coring::spawn(async move {
                        let _peer = b;
                        let _ = a.read(vec![0u8; 16]).await;
                    });
                }
                coring::spawn(async move {
                    let _files = files;
                    let _listeners = listeners;
                    std::future::pending::<()>().await;
                });
                // Let every task start its read.
                for _ in 0..3 {
                    coring::task::yield_now().await;
                }
            }
        }
        opened
    });
    drop(runtime);
    let after = open_fds_settled(before, Duration::from_secs(10));
    (after != before).then(|| {
        format!(
            "{backend:?}, {opened} fds {way:?}: {} left open",
            after as isize - before as isize
        )
    })
}

#[test]
fn sockets_files_and_listeners_dropped_as_their_runtime_goes_leave_no_fd_open() {
    let _dog = Watchdog::new(300, "fds dropped as their runtime goes");
    let dir = TempDir::new("adv-fds");
    let path = dir.join("f");
    std::fs::write(&path, "x").unwrap();
    let mut left = Vec::new();
    for backend in backends() {
        for fds in [1, 100, 10_000] {
            for way in [
                Way::DroppedJustBefore,
                Way::InTasksThatNeverRan,
                Way::InTasksMidRead,
            ] {
                left.extend(scenario(backend, fds, way, &path));
            }
        }
    }
    assert!(left.is_empty(), "{left:#?}");
}
