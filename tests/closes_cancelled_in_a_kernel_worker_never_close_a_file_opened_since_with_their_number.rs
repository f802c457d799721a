//! Adversary: a close of a POSIX message queue goes to an io_uring worker thread, where a
//! cancel may end it unrun (`ECANCELED`: coring then closes the fd itself) or find it running
//! (it closes, and the number is free at once). Close futures dropped after one poll (each
//! drop sends a cancel) and dropped files (closes nobody waits for), hundreds at a time, with
//! `std` opens in between that take every number freed: coring's fallback `close(2)` must
//! only ever close an fd the kernel did not, never a file opened since. 20 rounds on every
//! backend (on epoll each close is a plain `close(2)`).

mod common;

use common::canary::Nest;
use common::mqueue::queue;
use common::{backends, open_fds, open_fds_settled, poll_once, TempDir, Watchdog};
use coring::fs::File;
use std::pin::pin;
use std::time::Duration;

const ROUNDS: usize = 20;
const FILES: usize = 256;

#[test]
fn closes_cancelled_in_a_kernel_worker_never_close_a_file_opened_since_with_their_number() {
    let _dog = Watchdog::new(300, "cancelled closes beside reused numbers");
    let Some(queue) = queue("adv-cancel") else {
        common::skip::skipped(
            "closes_cancelled_in_a_kernel_worker_never_close_a_file_opened_since_with_their_number",
            "no POSIX message queues (mq_open failed)",
        );
        return;
    };
    let dir = TempDir::new("adv-cancel");
    let nest = Nest::new(dir.path());
    for backend in backends() {
        let before = open_fds();
        let mut canaries = Vec::new();
        for round in 0..ROUNDS {
            let runtime = coring::Builder::new().backend(backend).build().unwrap();
            runtime.block_on(async {
                let mut files = Vec::with_capacity(FILES);
                for _ in 0..FILES {
                    files.push(File::open(&queue.path).await.unwrap());
                }
                for (i, file) in files.into_iter().enumerate() {
                    if (i + round) % 2 == 0 {
                        let mut close = pin!(file.close());
                        let _ = poll_once(close.as_mut()).await;
                    } else {
                        drop(file);
                    }
                    if i % 8 == 7 {
                        coring::task::yield_now().await;
                        canaries.extend((0..4).map(|_| nest.open()));
                    }
                }
            });
            drop(runtime);
            canaries.extend((0..8).map(|_| nest.open()));
        }
        let expected = before + canaries.len();
        let now = open_fds_settled(expected, Duration::from_secs(10));
        nest.check(canaries, &format!("{backend:?}"));
        assert_eq!(
            now, expected,
            "{backend:?}: fds left open (or closed twice)"
        );
    }
}
