//! `MKDIRAT` came with Linux 5.15; coring runs from 5.11, where the ring answers `EINVAL` for
//! the unknown opcode. `fs::create_dir` must still make the directory (with `mkdir(2)` on the
//! blocking pool, as the epoll backend does), and real errors must still come back as such.
//!
//! The old kernel is scripted (`fault-injection`): either the probe of the kernel's opcodes
//! answers `MKDIRAT` missing (`faults::hide_opcode`), or no probe said so and the ring answers
//! `EINVAL` (`faults::fail_next_op`).

mod common;

use common::{TempDir, Watchdog};
use coring::faults::{self, OpKind};
use coring::{Backend, Runtime};
use std::io;

#[test]
fn create_dir_on_a_kernel_without_mkdirat_runs_on_the_blocking_pool() {
    let _dog = Watchdog::new(60, "create_dir without MKDIRAT");
    let dir = TempDir::new("mkdir-old-kernel");
    let runtime = Runtime::new().unwrap();
    let on_ring = runtime.metrics().backend == Backend::IoUring;
    runtime.block_on(async {
        // The kernel answers `EINVAL` to the opcode, and no probe said it lacks it.
        faults::fail_next_op(OpKind::MkDir, libc::EINVAL);
        coring::fs::create_dir(dir.join("refused")).await.unwrap();
        assert!(dir.join("refused").is_dir());
        if on_ring {
            assert_eq!(faults::pending().failed_ops, 0, "MKDIRAT was tried first");
        }
        faults::clear();

        // The probe says the kernel lacks it: nothing goes to the ring.
        faults::hide_opcode(OpKind::MkDir);
        faults::fail_next_op(OpKind::MkDir, libc::EINVAL);
        coring::fs::create_dir(dir.join("probed")).await.unwrap();
        assert!(dir.join("probed").is_dir());
        if on_ring {
            assert_eq!(faults::pending().failed_ops, 1, "a MKDIRAT was submitted");
        }

        // A real error still is one, with its kind and the path.
        let err = coring::fs::create_dir(dir.join("probed"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{err}");
        assert!(err.to_string().contains("probed"), "{err}");
        faults::clear();
    });
}
