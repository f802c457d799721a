//! A missing file, a directory where a file is expected, and a file we may not read give
//! `io::Error`s of the right kind whose messages name the path.
//!
//! Root bypasses permission checks, so as root the `EACCES` case runs in a child process that
//! first drops to user and group 65534 (nobody).

mod common;

use common::process::{is_child, run_child};
use common::{TempDir, Watchdog};
use coring::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const CHILD: &str = "CORING_FS_EACCES_CHILD";

#[test]
fn a_missing_file_is_not_found_and_named() {
    let _dog = Watchdog::new(60, "missing");
    let dir = TempDir::new("missing");
    let path = dir.join("no-such-file");
    coring::block_on(async {
        for err in [
            File::open(&path).await.unwrap_err(),
            fs::read(&path).await.unwrap_err(),
            fs::metadata(&path).await.unwrap_err(),
            fs::remove_file(&path).await.unwrap_err(),
            fs::rename(&path, dir.join("elsewhere")).await.unwrap_err(),
            fs::create_dir(dir.join("no/parent")).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            assert!(
                err.to_string().contains(dir.path().to_str().unwrap()),
                "{err}"
            );
        }
        let err = File::open(&path).await.unwrap_err();
        assert!(err.to_string().contains("no-such-file"), "{err}");
        assert!(err.to_string().contains("os error 2"), "{err}");
    });
}

#[test]
fn a_directory_is_not_a_file() {
    let _dog = Watchdog::new(60, "eisdir");
    let dir = TempDir::new("eisdir");
    coring::block_on(async {
        let err = File::create(dir.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
        assert!(
            err.to_string().contains(dir.path().to_str().unwrap()),
            "{err}"
        );
        // Opening a directory read-only works (as open(2)); reading it does not.
        let err = fs::read(dir.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
        assert!(
            err.to_string().contains(dir.path().to_str().unwrap()),
            "{err}"
        );
        fs::create_dir(dir.join("d")).await.unwrap();
        let err = fs::create_dir(dir.join("d")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
        let err = fs::remove_file(dir.join("d")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory, "{err}");
    });
}

/// Opens the file named by the environment and prints how it went.
fn open_in_child(path: &str) {
    let path = path.to_string();
    let result = coring::block_on(async move { File::open(&path).await.map(drop) });
    match result {
        Ok(()) => println!("OPENED"),
        Err(err) => println!("ERR {:?} {err}", err.kind()),
    }
}

#[test]
fn a_file_we_may_not_read_is_permission_denied() {
    if is_child(CHILD) {
        // SAFETY: plain syscalls on this single-threaded child before any runtime starts.
        unsafe {
            if libc::getuid() == 0 {
                assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
                assert_eq!(libc::setgid(65534), 0);
                assert_eq!(libc::setuid(65534), 0);
            }
        }
        open_in_child(&std::env::var(CHILD).unwrap());
        return;
    }
    let _dog = Watchdog::new(60, "eacces");
    let dir = TempDir::new("eacces");
    // Others may enter the directory but not read the file.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, "top secret").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = run_child(
        "a_file_we_may_not_read_is_permission_denied",
        &[(CHILD, path.to_str().unwrap())],
        Duration::from_secs(30),
    );
    assert!(run.status.success(), "{}", run.report());
    // The harness prints the test's name on the same line, before the child's output.
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("ERR ") || l.contains("OPENED"))
        .unwrap_or_default();
    assert!(line.contains("ERR PermissionDenied"), "{}", run.report());
    assert!(line.contains("secret"), "{line}");
}
