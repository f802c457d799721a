//! An `open` whose future is dropped after submission closes the file it opened anyway (the
//! cancel usually loses the race against a page-cache open), so no fd leaks; the same for a
//! dropped `close`, which must not close an fd twice.

mod common;

use common::{open_fds, open_fds_settled, poll_once, TempDir, Watchdog};
use coring::fs::{self, File};
use std::pin::pin;
use std::time::Duration;

#[test]
fn a_cancelled_open_leaks_no_fd() {
    let _dog = Watchdog::new(60, "cancelled opens");
    let dir = TempDir::new("cancel-open");
    let path = dir.join("f");
    std::fs::write(&path, "x").unwrap();
    let before = open_fds();
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        for _ in 0..1_000 {
            let mut open = pin!(File::open(&path));
            assert!(
                poll_once(open.as_mut()).await.is_none(),
                "opened before submission"
            );
            // Dropped in flight here.
        }
        // Let the abandoned opens complete and be disposed of.
        for _ in 0..10 {
            coring::time::sleep(Duration::from_millis(5)).await;
        }
        for _ in 0..200 {
            let file = File::open(&path).await.unwrap();
            let mut close = pin!(file.close());
            let _ = poll_once(close.as_mut()).await;
        }
        coring::time::sleep(Duration::from_millis(20)).await;
        // The fds still work: nothing was closed twice under a reused number.
        assert_eq!(fs::read(&path).await.unwrap(), b"x");
    });
    drop(runtime);
    // On epoll the opens and closes ran on the blocking pool, whose threads may still hold a
    // waker (and with it the runtime's eventfd) for a moment after the drop.
    assert_eq!(
        open_fds_settled(before, Duration::from_secs(5)),
        before,
        "fds leaked by cancelled opens or closes"
    );
}
