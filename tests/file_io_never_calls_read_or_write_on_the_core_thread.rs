//! No `coring::fs` call blocks the core in `read(2)`, `pread64(2)`, `write(2)` and friends:
//! a child process installs a seccomp filter that kills it on any of them (on the core thread
//! and threads it starts), then runs every file operation. It must exit 0; a control child that
//! calls `std::fs::read` under the same filter must die of `SIGSYS`, which shows the filter
//! bites. The child cannot print once filtered (printing is a `write`), so it reports through
//! its exit status only.

mod common;

use common::process::{is_child, run_child};
use common::{TempDir, Watchdog};
use coring::buf::FixedBufPool;
use coring::fs::{self, File, OpenOptions};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

const CHILD: &str = "CORING_FS_SECCOMP_CHILD";
const DIR: &str = "CORING_FS_SECCOMP_DIR";
const TEST: &str = "file_io_never_calls_read_or_write_on_the_core_thread";

const BANNED: [libc::c_long; 10] = [
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_preadv,
    libc::SYS_pwritev,
    libc::SYS_preadv2,
    libc::SYS_pwritev2,
];

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Kills the process on any syscall in `BANNED` made by this thread or threads it starts.
fn install_filter() {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET;
    let n = BANNED.len();
    // 0: load arch; 1: right arch? skip 2; 2: kill; 3: load nr; 4..4+n: banned? jump to the
    // kill at 5+n; 4+n: allow; 5+n: kill.
    let kill_at = 5 + n;
    let mut prog = vec![
        stmt(load, 4),
        jeq(AUDIT_ARCH, 1, 0),
        stmt(ret, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(load, 0),
    ];
    for (i, &nr) in BANNED.iter().enumerate() {
        prog.push(jeq(nr as u32, (kill_at - (4 + i) - 1) as u8, 0));
    }
    prog.push(stmt(ret, libc::SECCOMP_RET_ALLOW));
    prog.push(stmt(ret, libc::SECCOMP_RET_KILL_PROCESS));
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: `fprog` points at a valid BPF program that outlives the calls (the kernel copies it).
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &fprog as *const libc::sock_fprog
            ),
            0
        );
    }
}

/// Every file operation coring has, under the filter.
async fn every_file_operation(dir: &std::path::Path) -> std::io::Result<()> {
    let path = dir.join("data");
    let pool = FixedBufPool::new(1, 4096)?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .await?;
    file.write_all_at(vec![1u8; 1 << 20], 0).await.0?;
    file.read_exact_at(Vec::with_capacity(1 << 20), 0).await.0?;
    let mut fixed = pool.try_take().expect("a registered buffer");
    fixed.extend_from_slice(&[2; 4096]);
    let (result, fixed) = file.write_fixed_at(fixed, 8192).await;
    result?;
    file.read_fixed_at(fixed, 0).await.0?;
    file.sync_all().await?;
    file.sync_data().await?;
    assert_eq!(file.metadata().await?.len(), 1 << 20);
    file.set_len(100).await?;
    file.close().await?;
    fs::write(dir.join("w"), b"hello".to_vec()).await?;
    assert_eq!(fs::read(dir.join("w")).await?, b"hello");
    assert_eq!(fs::read_to_string(dir.join("w")).await?, "hello");
    assert!(fs::metadata(dir.join("w")).await?.is_file());
    fs::rename(dir.join("w"), dir.join("v")).await?;
    fs::create_dir(dir.join("d")).await?;
    fs::remove_file(dir.join("v")).await?;
    let append = OpenOptions::new().append(true).open(&path).await?;
    append.write_at(b"tail".to_vec(), 0).await.0?;
    drop(append);
    File::open(&path).await?.read_at(vec![0; 8], 0).await.0?;
    Ok(())
}

#[test]
fn file_io_never_calls_read_or_write_on_the_core_thread() {
    if common::skip::io_uring_only("file_io_never_calls_read_or_write_on_the_core_thread") {
        return;
    }
    if let Ok(role) = std::env::var(CHILD) {
        let dir = std::path::PathBuf::from(std::env::var(DIR).unwrap());
        let runtime = coring::Runtime::new().unwrap();
        install_filter();
        if role == "control" {
            let _ = std::hint::black_box(std::fs::read(dir.join("control")));
        } else {
            let result = runtime.block_on(every_file_operation(&dir));
            drop(runtime);
            // SAFETY: `_exit` ends the process without running the harness, which would print.
            unsafe { libc::_exit(if result.is_ok() { 0 } else { 3 }) };
        }
        // SAFETY: as above.
        unsafe { libc::_exit(0) };
    }
    let _dog = Watchdog::new(120, "seccomp children");
    assert!(!is_child(CHILD));
    let dir = TempDir::new("seccomp");
    std::fs::write(dir.join("control"), "x").unwrap();
    let run = |role: &str| {
        run_child(
            TEST,
            &[(CHILD, role), (DIR, dir.path().to_str().unwrap())],
            Duration::from_secs(60),
        )
    };
    let control = run("control");
    assert_eq!(
        control.status.signal(),
        Some(libc::SIGSYS),
        "the control child read a file through std under the filter and was not killed: {:?}\n{}",
        control.status,
        control.report()
    );
    let fs_run = run("coring");
    assert!(
        fs_run.status.success(),
        "coring::fs under the filter: {:?} (SIGSYS = {}, exit 3 = an operation failed)\n{}",
        fs_run.status,
        libc::SIGSYS,
        fs_run.report()
    );
}
