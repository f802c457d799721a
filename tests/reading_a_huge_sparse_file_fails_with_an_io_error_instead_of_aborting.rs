//! `fs::read` sizes its buffer from the file's length. A sparse file whose length is more
//! than memory can hold must give an `io::Error` (as `std::fs::read` does: `OutOfMemory`), not
//! abort the process on a failed allocation. Runs in a child, as an abort is the failure.

mod common;

use common::process::{expect_child_prints, is_child};
use std::io;

const CHILD: &str = "CORING_HUGE_SPARSE_READ_CHILD";

#[test]
fn reading_a_huge_sparse_file_fails_with_an_io_error_instead_of_aborting() {
    if !is_child(CHILD) {
        let test = "reading_a_huge_sparse_file_fails_with_an_io_error_instead_of_aborting";
        return expect_child_prints(test, &[(CHILD, "1")], "DONE");
    }
    let _dog = common::Watchdog::new(30, "huge sparse read");
    let path = std::env::temp_dir().join(format!("coring-huge-sparse-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    // More than any address space (tmpfs, xfs, btrfs take it), else ext4's largest file: far
    // more than the machine's memory either way.
    let set = [1u64 << 50, (1 << 44) - 4096]
        .into_iter()
        .find(|&len| file.set_len(len).is_ok());
    drop(file);
    assert!(set.is_some(), "cannot make a sparse file here");
    let result = coring::block_on(coring::fs::read(&path));
    let _ = std::fs::remove_file(&path);
    let err = result.expect_err("read a file larger than memory");
    assert_eq!(err.kind(), io::ErrorKind::OutOfMemory, "{err}");
    println!("DONE");
}
