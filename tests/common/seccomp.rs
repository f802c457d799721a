//! A seccomp filter that forbids io_uring, as Docker's default profile and
//! `kernel.io_uring_disabled` do, for child processes (it can never be removed, so it must not
//! touch the test process itself).

use std::io;

/// `AUDIT_ARCH_*` from `<linux/audit.h>`: the `arch` a syscall reports in `seccomp_data`.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH_NATIVE: u32 = 0xC000_00F3; // AUDIT_ARCH_RISCV64

const fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// Installs, on the calling thread and every thread and process it makes later, a filter that
/// makes `io_uring_setup`, `io_uring_enter` and `io_uring_register` fail with `errno` and allows
/// every other syscall. Allocates nothing and does not panic, so it may run in a `pre_exec`.
pub fn forbid_io_uring(errno: libc::c_int) -> io::Result<()> {
    let arch_offset = std::mem::offset_of!(libc::seccomp_data, arch) as u32;
    let nr_offset = std::mem::offset_of!(libc::seccomp_data, nr) as u32;
    let jeq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let mut filter = [
        // 0: A = arch; 1: a foreign ABI is not our concern: to 6, allow.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, arch_offset),
        jump(jeq, AUDIT_ARCH_NATIVE, 0, 4),
        // 2: A = nr; 3-5: the three io_uring syscalls go to 7, the errno.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, nr_offset),
        jump(jeq, libc::SYS_io_uring_setup as u32, 3, 0),
        jump(jeq, libc::SYS_io_uring_enter as u32, 2, 0),
        jump(jeq, libc::SYS_io_uring_register as u32, 1, 0),
        // 6, 7
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA),
        ),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers and only restricts this process (a child
    // of the test run); it is required to install a filter without CAP_SYS_ADMIN.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
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
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
