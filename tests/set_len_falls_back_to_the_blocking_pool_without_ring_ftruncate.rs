//! On a kernel without `IORING_OP_FTRUNCATE` (before 6.9) the ring answers `EINVAL`; `set_len`
//! then truncates on the blocking pool and still succeeds. The old kernel is simulated with a
//! scripted submission failure (`fault-injection`).

mod common;

use common::{TempDir, Watchdog};
use coring::faults::{self, OpKind};
use coring::fs::OpenOptions;

#[test]
fn set_len_falls_back_to_the_blocking_pool_without_ring_ftruncate() {
    let _dog = Watchdog::new(60, "set_len fallback");
    let dir = TempDir::new("setlen");
    let path = dir.join("f");
    coring::block_on(async {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        faults::fail_next_op(OpKind::Any, libc::EINVAL);
        file.set_len(12_345).await.unwrap();
        assert_eq!(
            faults::pending().failed_ops,
            0,
            "the ring op was tried first"
        );
        assert_eq!(file.metadata().await.unwrap().len(), 12_345);
        drop(file);

        // A real EINVAL (a read-only file) is still reported, with the path.
        let file = OpenOptions::new().read(true).open(&path).await.unwrap();
        faults::fail_next_op(OpKind::Any, libc::EINVAL);
        let err = file.set_len(1).await.unwrap_err();
        assert!(err.to_string().contains("set_len"), "{err}");
        assert!(err.to_string().contains(path.to_str().unwrap()), "{err}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 12_345);
    });
}
