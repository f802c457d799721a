//! When io_uring is forbidden or missing, `Runtime::new()` returns an `io::Error` that names the
//! cause and what to do, and `block_on` panics with that same message (DESIGN.md invariant 8,
//! reliability.md H16).
//!
//! Each test re-executes this test binary as a child process (`--exact <test> --nocapture`, with
//! `CORING_SECCOMP_CHILD` set). The child installs a seccomp filter that makes `io_uring_setup`
//! fail with a chosen errno — EPERM as under Docker's default profile or
//! `kernel.io_uring_disabled`, ENOSYS as on a kernel built without io_uring — and then builds a
//! runtime. The filter cannot be removed, so it must never touch the parent test process.

// The filter checks the syscall ABI; the architectures below are the ones whose AUDIT_ARCH we know.
#![cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
))]

mod common;

use common::process::run_child;
use std::io;
use std::time::Duration;

/// Environment variable telling a re-executed test binary that it is the child, and which errno
/// its seccomp filter should return for `io_uring_setup`.
const CHILD_ENV: &str = "CORING_SECCOMP_CHILD";
/// Printed by the child when every assertion passed, so the parent can tell a child that ran the
/// test from one that filtered it out (libtest exits 0 when no test matches).
const CHILD_OK: &str = "CORING_SECCOMP_CHILD_OK";
/// A child that takes longer than this is killed and the test fails (a hang is a bug too).
const CHILD_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn eperm_from_seccomp_names_seccomp_and_the_sysctl() {
    run_scenario(
        "eperm_from_seccomp_names_seccomp_and_the_sysctl",
        "eperm",
        libc::EPERM,
        |msg| {
            let lower = msg.to_lowercase();
            lower.contains("seccomp") && lower.contains("io_uring_disabled")
        },
        "mention both \"seccomp\" and \"io_uring_disabled\"",
    );
}

#[test]
fn enosys_says_the_kernel_lacks_io_uring() {
    run_scenario(
        "enosys_says_the_kernel_lacks_io_uring",
        "enosys",
        libc::ENOSYS,
        |msg| {
            let lower = msg.to_lowercase();
            msg.contains("ENOSYS")
                || lower.contains("not supported")
                || lower.contains("does not support")
        },
        "mention \"ENOSYS\", \"not supported\" or \"does not support\"",
    );
}

/// In the parent: re-executes this binary for `test_name` and checks the child's outcome.
/// In the child (`CHILD_ENV` set to `mode`): forbids `io_uring_setup` and checks the runtime.
fn run_scenario(
    test_name: &str,
    mode: &str,
    errno: libc::c_int,
    message_ok: fn(&str) -> bool,
    expectation: &str,
) {
    match std::env::var(CHILD_ENV) {
        Ok(m) if m == mode => child(errno, message_ok, expectation),
        Ok(other) => panic!("{CHILD_ENV}={other} reached the test for mode {mode}"),
        Err(_) => parent(test_name, mode),
    }
}

fn parent(test_name: &str, mode: &str) {
    let run = run_child(
        test_name,
        &[(CHILD_ENV, mode), ("RUST_BACKTRACE", "1")],
        CHILD_DEADLINE,
    );
    let (status, stdout, report) = (run.status, &run.stdout, run.report());
    assert!(
        !run.timed_out,
        "child ({mode}) did not finish within {CHILD_DEADLINE:?}\n{report}"
    );
    assert!(
        status.success(),
        "child ({mode}) failed: {status}\n{report}"
    );
    assert!(
        stdout.contains(CHILD_OK),
        "child ({mode}) exited 0 but did not run the scenario (test name filter?)\n{report}"
    );
    // Show the child's output in the parent's (captured) output, useful with --nocapture.
    println!("{report}");
}

fn child(errno: libc::c_int, message_ok: fn(&str) -> bool, expectation: &str) {
    forbid_io_uring_setup(errno);

    // The filter is in force: a raw io_uring_setup with bogus arguments would normally fail with
    // EFAULT/EINVAL, now it must fail with exactly our errno.
    // SAFETY: io_uring_setup(0, NULL) passes no memory the kernel could write to; with the filter
    // installed the kernel does not even run the syscall.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            0 as libc::c_uint,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    let raw = io::Error::last_os_error();
    assert_eq!(
        rc, -1,
        "io_uring_setup succeeded despite the seccomp filter"
    );
    assert_eq!(
        raw.raw_os_error(),
        Some(errno),
        "seccomp filter returned {raw} instead of errno {errno}"
    );

    let err = match coring::Runtime::new() {
        Ok(_) => panic!("Runtime::new() succeeded although io_uring_setup fails with {raw}"),
        Err(e) => e,
    };
    let msg = err.to_string();
    println!("Runtime::new() error (kind {:?}): {msg}", err.kind());
    assert!(
        message_ok(&msg),
        "Runtime::new() error should {expectation}; got: {msg}"
    );

    let panicked = std::panic::catch_unwind(|| coring::block_on(async {}));
    let payload = match panicked {
        Ok(()) => panic!("block_on succeeded although io_uring_setup fails with {raw}"),
        Err(payload) => payload,
    };
    let panic_msg = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("block_on panicked with a non-string payload");
    println!("block_on panic message: {panic_msg}");
    assert!(
        panic_msg.contains(&msg),
        "block_on should panic with the Runtime::new() message.\n  error: {msg}\n  panic: {panic_msg}"
    );

    println!("{CHILD_OK}");
}

/// `AUDIT_ARCH_*` from `<linux/audit.h>`: the `arch` a syscall reports in `seccomp_data`.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00F3; // AUDIT_ARCH_RISCV64

const fn bpf_stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn bpf_jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Installs, on the calling thread (and every thread it creates later), a seccomp filter that
/// makes `io_uring_setup` return `-errno` and allows every other syscall.
fn forbid_io_uring_setup(errno: libc::c_int) {
    let arch_offset = std::mem::offset_of!(libc::seccomp_data, arch) as u32;
    let nr_offset = std::mem::offset_of!(libc::seccomp_data, nr) as u32;
    let mut filter = [
        // A = seccomp_data.arch; a foreign ABI is not our concern: allow it.
        bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, arch_offset),
        bpf_jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_NATIVE,
            0,
            3,
        ),
        // A = seccomp_data.nr
        bpf_stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, nr_offset),
        bpf_jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            libc::SYS_io_uring_setup as u32,
            0,
            1,
        ),
        bpf_stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ),
        bpf_stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_mut_ptr(),
    };

    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers and only restricts this process (a child
    // of the test run); it is required to install a filter without CAP_SYS_ADMIN.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(rc, 0, "PR_SET_NO_NEW_PRIVS: {}", io::Error::last_os_error());
    // SAFETY: `prog` points at `filter`, a valid array of `prog.len` BPF instructions that lives
    // until after the call returns; the kernel copies the program during the call.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    assert_eq!(
        rc,
        0,
        "PR_SET_SECCOMP(SECCOMP_MODE_FILTER): {}",
        io::Error::last_os_error()
    );
}
