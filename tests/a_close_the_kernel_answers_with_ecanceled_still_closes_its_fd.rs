//! A close the kernel answers with `ECANCELED` never ran: the fd is still open, and the op is
//! its only owner (the `File` was consumed), so the op must close it, and `close` reports that
//! close's result, as if the kernel had run it. Scripted here with the
//! driver's fault injection (an op failed at submission, as the kernel fails an entry it
//! cancelled before issuing it), so the answer is certain; the real kernel's cancels are in
//! `a_close_cancelled_before_it_ran_still_closes_its_file.rs`.

mod common;

use common::{open_fds, open_fds_settled, TempDir};
use coring::faults::{self, OpKind};
use coring::fs::File;
use std::time::Duration;

#[test]
fn a_close_the_kernel_answers_with_ecanceled_still_closes_its_fd() {
    if common::skip::io_uring_only("a_close_the_kernel_answers_with_ecanceled_still_closes_its_fd")
    {
        return;
    }
    let dir = TempDir::new("close-ecanceled");
    let path = dir.join("f");
    std::fs::write(&path, "x").unwrap();
    let before = open_fds();
    let results = coring::block_on(async {
        let mut results = Vec::new();
        for _ in 0..10 {
            let file = File::open(&path).await.unwrap();
            faults::fail_next_op(OpKind::Any, libc::ECANCELED);
            results.push(file.close().await);
        }
        assert_eq!(faults::pending(), faults::Pending::default());
        results
    });
    assert_eq!(
        open_fds_settled(before, Duration::from_secs(5)),
        before,
        "the cancelled closes left their files open"
    );
    for result in results {
        assert!(result.is_ok(), "the file was closed after all: {result:?}");
    }
}
