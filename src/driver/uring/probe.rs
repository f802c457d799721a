//! Which opcodes this kernel has: asked once per process, so an op newer than the kernel takes
//! its fallback instead of failing with a bare `EINVAL`.
//!
//! coring runs from Linux 5.11 (`setup.rs`), and some of the opcodes it uses came later
//! (`SEND_ZC` 6.0, `MSG_RING` 5.18, `MKDIRAT` 5.15; the table is in README.md, "Kernel
//! requirements"). `IORING_REGISTER_PROBE` (5.6) lists the opcodes the kernel knows; the
//! answer is a fact about the kernel, the same for every ring of the process, so the first ring
//! asks and every later question is a load of a cached bit: nothing on the hot path.
//!
//! A probe says nothing of flags (multishot, `POLL_FIRST`) an opcode takes: those are learned
//! from the kernel's `EINVAL` where they are used (`Uring::arm_wake_fd`, `Incoming`, the read
//! pool), or inferred from the set-up flags (`poll_first_supported`).

#[cfg(feature = "fault-injection")]
use super::super::faults;
use io_uring::{IoUring, Probe};
use std::sync::OnceLock;

/// The opcodes the kernel reported, one bit each (opcodes are a `u8`). Unset until a ring of
/// the process was built and the probe answered.
static OPCODES: OnceLock<[u64; 4]> = OnceLock::new();

/// Asks the kernel which opcodes it has, unless a ring of this process already did. A kernel
/// that cannot say (the registration refused) leaves the cache unset: every op is then tried,
/// and a missing one fails with the kernel's own error.
pub(super) fn record(ring: &IoUring) {
    if OPCODES.get().is_some() {
        return;
    }
    let mut probe = Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        return;
    }
    let mut bits = [0u64; 4];
    for code in 0..=u8::MAX {
        if probe.is_supported(code) {
            bits[usize::from(code / 64)] |= 1 << (code % 64);
        }
    }
    let _ = OPCODES.set(bits);
}

/// Whether the kernel is known to lack `opcode` (an `io_uring::opcode::*::CODE`). `false` when
/// nothing is known (no ring built yet, the probe refused, the epoll backend): the op is then
/// tried and the kernel answers for itself.
pub(crate) fn kernel_lacks(opcode: u8) -> bool {
    #[cfg(feature = "fault-injection")]
    if faults::opcode_hidden(opcode) {
        return true;
    }
    OPCODES
        .get()
        .is_some_and(|bits| bits[usize::from(opcode / 64)] & (1 << (opcode % 64)) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::opcode;

    /// The probe ran for a ring on this (6.x) machine: what it has is not reported missing,
    /// and an opcode number no kernel has yet is.
    #[test]
    fn the_probe_knows_this_kernels_opcodes() {
        let ring = IoUring::new(2).expect("io_uring on the test machine");
        record(&ring);
        assert!(!kernel_lacks(opcode::Nop::CODE));
        assert!(!kernel_lacks(opcode::SendZc::CODE));
        assert!(!kernel_lacks(opcode::MsgRingData::CODE));
        assert!(kernel_lacks(250));
    }
}
