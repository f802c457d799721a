//! Registering buffers can fail for reasons the user must act on; the error says which
//! (reliability.md H9):
//!
//! * a second `FixedBufPool` on one runtime (a ring has one buffer table): the error says "one
//!   FixedBufPool per runtime", and once the first pool is gone a new one registers;
//! * more memory than `RLIMIT_MEMLOCK` allows: the error names the limit and how to raise it.
//!
//! The second case needs a process the kernel actually charges. Root with `CAP_IPC_LOCK` (as
//! tests often run, here included) may pin any amount, and the kernel decides whether to charge
//! a ring when the ring is created. So the test re-runs itself in a child process that first
//! removes `CAP_IPC_LOCK` from its effective and permitted sets (`capset`; if that is refused,
//! it switches to the `nobody` user, which drops every capability), lowers `RLIMIT_MEMLOCK` to
//! 64 KiB, and only then builds its runtime and asks for 16 MiB of fixed buffers.

mod common;

use coring::buf::{BufRing, FixedBufPool};
use coring::Runtime;
use std::io::ErrorKind;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "CORING_TEST_MEMLOCK_CHILD";
const CAP_IPC_LOCK: u32 = 14;

/// Fails the process if `done` is not set within `limit`.
fn watchdog(limit: Duration) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while waited < limit {
            if flag.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(step);
            waited += step;
        }
        eprintln!("watchdog: the test did not finish within {limit:?}");
        std::process::exit(101);
    });
    done
}

#[test]
fn a_second_pool_on_one_runtime_says_one_pool_per_runtime() {
    if common::skip::io_uring_only("a_second_pool_on_one_runtime_says_one_pool_per_runtime") {
        return;
    }
    let done = watchdog(Duration::from_secs(30));
    let runtime = Runtime::new().unwrap();
    runtime.block_on(async {
        let first = FixedBufPool::new(4, 4096).unwrap();
        let err = FixedBufPool::new(4, 4096).expect_err("a second pool registered");
        eprintln!("second pool: {err}");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(
            err.to_string().contains("one FixedBufPool per runtime"),
            "the error does not say what is wrong: {err}"
        );
        // The failed attempt left the first pool working.
        let buf = first.try_take().unwrap();
        assert_eq!(first.available(), 3);
        drop(buf);
        // Once the first pool and its buffers are gone, the ring's table is free again.
        drop(first);
        let again = FixedBufPool::new(8, 4096).expect("a new pool after the first was dropped");
        assert_eq!(again.available(), 8);
    });
    // Another runtime has its own ring and its own table.
    let other = Runtime::new().unwrap();
    other.block_on(async {
        FixedBufPool::new(4, 4096).expect("one pool per runtime, not per process")
    });
    done.store(true, Ordering::SeqCst);
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two `CapData` words.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// This thread's effective capabilities (capset changes only the calling thread, and the test
/// harness runs tests on their own threads).
fn effective_caps() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).unwrap()
}

/// Removes CAP_IPC_LOCK from this process's effective and permitted sets. Returns how.
fn drop_ipc_lock() -> &'static str {
    if effective_caps() & (1 << CAP_IPC_LOCK) == 0 {
        return "CAP_IPC_LOCK was not held";
    }
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes one header and two data words, which is what we pass.
    let got = unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) };
    if got == 0 {
        data[0].effective &= !(1 << CAP_IPC_LOCK);
        data[0].permitted &= !(1 << CAP_IPC_LOCK);
        // SAFETY: capset reads one header and two data words; only lowering capabilities.
        let set = unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) };
        if set == 0 && effective_caps() & (1 << CAP_IPC_LOCK) == 0 {
            return "capset cleared CAP_IPC_LOCK";
        }
    }
    // Fall back to an unprivileged user: switching every uid away from 0 clears all
    // capabilities.
    // SAFETY: plain syscalls on this process's credentials; the group is changed first, while
    // we still may.
    let switched = unsafe {
        libc::setresgid(65534, 65534, 65534) == 0 && libc::setresuid(65534, 65534, 65534) == 0
    };
    assert!(
        switched,
        "could neither capset nor setuid: cannot drop CAP_IPC_LOCK"
    );
    assert_eq!(effective_caps() & (1 << CAP_IPC_LOCK), 0);
    "switched to uid 65534 (nobody)"
}

/// The child's side: runs only in the re-executed process.
fn memlock_child() {
    let how = drop_ipc_lock();
    let limit = libc::rlimit {
        rlim_cur: 64 * 1024,
        rlim_max: 64 * 1024,
    };
    // SAFETY: setrlimit reads one rlimit struct; lowering a limit is always allowed.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
    assert_eq!(rc, 0, "cannot lower RLIMIT_MEMLOCK");
    eprintln!("child: {how}; RLIMIT_MEMLOCK = 64 KiB");

    let runtime = Runtime::new().expect("a runtime under a 64 KiB memlock limit");
    runtime.block_on(async {
        let err = match FixedBufPool::new(16, 1 << 20) {
            Ok(_) => panic!("KERNEL-DID-NOT-REFUSE: 16 MiB registered under a 64 KiB limit"),
            Err(err) => err,
        };
        println!("CHILD-POOL-ERROR: {err}");
        assert_eq!(err.kind(), ErrorKind::OutOfMemory);
        let text = err.to_string();
        assert!(
            text.contains("RLIMIT_MEMLOCK"),
            "the error does not name the limit: {text}"
        );
        assert!(
            text.contains("ulimit -l"),
            "the error does not say how to raise it: {text}"
        );

        // A buffer ring too large for the limit: same story.
        match BufRing::new(32768, 4096) {
            Ok(_) => println!("CHILD-RING: a 512 KiB ring registered (not charged here)"),
            Err(err) => {
                println!("CHILD-RING-ERROR: {err}");
                assert!(err.to_string().contains("RLIMIT_MEMLOCK"), "{err}");
            }
        }

        // A failed registration leaves the ring usable: a pool within the limit works.
        let small = FixedBufPool::new(4, 4096).expect("16 KiB fits in 64 KiB");
        assert_eq!(small.available(), 4);
    });
    println!("CHILD-OK");
}

#[test]
fn registration_beyond_rlimit_memlock_names_the_limit() {
    if common::skip::io_uring_only("registration_beyond_rlimit_memlock_names_the_limit") {
        return;
    }
    if std::env::var_os(CHILD_ENV).is_some() {
        memlock_child();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "registration_beyond_rlimit_memlock_names_the_limit",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Watchdog: the child gets 30 s.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("the child process hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("--- child stdout ---\n{stdout}--- child stderr ---\n{stderr}");
    assert!(
        output.status.success() && stdout.contains("CHILD-OK"),
        "the child failed: {}",
        output.status
    );
    assert!(stdout.contains("CHILD-POOL-ERROR"));
}
