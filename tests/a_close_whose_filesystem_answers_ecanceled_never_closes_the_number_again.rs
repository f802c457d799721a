//! Adversary: a FUSE server's answer to `FLUSH` is the close's result, so a close run in a
//! kernel worker (which took the fd out of the table before the flush) can complete
//! `ECANCELED` without any cancel: the same result as a close cancelled unrun, after which
//! coring closes the fd itself. Here the number was free, and taken by another file, while the
//! flush was held: coring's `close(2)` must not close that file. Both a dropped file (a close
//! nobody waits for) and an awaited `close()`. io_uring only.
//!
//! Fails today, both ways: "dropped file: 1 of 8 files opened beside coring's closes were
//! closed (or replaced) under their owner", and the awaited close even returns `Ok(())` (the
//! result of closing the canary). Not fixed: the CQE cannot tell the two `ECANCELED`s apart;
//! only coring's own record of whether it sent a cancel (none for a detached close before
//! shutdown's "any" cancel, none for an awaited close whose future was not dropped) can, and
//! the other cause of an unrun cancel (io-wq failing to start a worker) then leaks the fd.

mod common;

use common::canary::Nest;
use common::fuse::StuckFlush;
use common::{TempDir, Watchdog};
use std::time::{Duration, Instant};

const NAME: &str = "a_close_whose_filesystem_answers_ecanceled_never_closes_the_number_again";

/// Waits (a thread beside the runtime) for the close's flush to be held, so its number is free,
/// opens canaries that take it, then fails the flush with `ECANCELED`.
fn take_the_number_then_fail(fs: &StuckFlush, nest: &Nest) -> Vec<std::fs::File> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs.flushes().1 == 0 {
        assert!(
            Instant::now() < deadline,
            "the close's flush never reached the server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let canaries = (0..8).map(|_| nest.open()).collect();
    fs.fail_flushes(libc::ECANCELED);
    canaries
}

#[test]
#[ignore = "a FUSE flush answering ECANCELED makes coring close the fd number a second time"]
fn a_close_whose_filesystem_answers_ecanceled_never_closes_the_number_again() {
    let _dog = Watchdog::new(60, NAME);
    if common::skip::io_uring_only(NAME) {
        return;
    }
    let dir = TempDir::new("flush-ecanceled");
    let nest = Nest::new(dir.path());
    for awaited in [false, true] {
        let fs = match StuckFlush::mount() {
            Ok(fs) => fs,
            Err(why) => return common::skip::skipped(NAME, &why),
        };
        let runtime = coring::Builder::new()
            .backend(coring::Backend::IoUring)
            .build()
            .unwrap();
        let canaries = std::thread::scope(|scope| {
            let canaries = scope.spawn(|| take_the_number_then_fail(&fs, &nest));
            runtime.block_on(async {
                let file = coring::fs::File::open(&fs.path).await.unwrap();
                if awaited {
                    let result = file.close().await;
                    eprintln!("awaited close: {result:?}");
                } else {
                    drop(file);
                }
                // Turns enough for the detached close's completion to be reaped.
                while !canaries.is_finished() {
                    coring::time::sleep(Duration::from_millis(5)).await;
                }
                coring::time::sleep(Duration::from_millis(200)).await;
            });
            canaries.join().unwrap()
        });
        let what = if awaited {
            "awaited close"
        } else {
            "dropped file"
        };
        nest.check(canaries, what);
        drop(runtime);
    }
}
