//! A signal sent to the process (`kill(getpid(), SIGUSR1)`) wakes the task waiting for it, on
//! its own core and on other workers, and `ctrl_c` completes on `SIGINT`. Each scenario runs in
//! a child process: a signal that slipped past the signalfd would end the process (the default
//! action of these signals), which the parent sees as a failed child.

mod common;

use common::process::run_child_with_signals_blocked;
use common::Watchdog;
use coring::signal::{self, SignalKind};
use std::time::Duration;

const CHILD: &str = "CORING_SIGNAL_CHILD";

fn kill_self(signo: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signo) }, 0);
}

/// Runs `test` in a child and checks it printed `DONE` and exited 0. The child starts with the
/// signals blocked, as `coring::signal` asks of threads started before its first use (here the
/// test harness's own threads).
fn in_child(test: &str) {
    let _dog = Watchdog::new(60, test);
    let signals = &[libc::SIGINT, libc::SIGUSR1, libc::SIGUSR2];
    let run =
        run_child_with_signals_blocked(test, &[(CHILD, "1")], Duration::from_secs(30), signals);
    assert!(
        run.status.success() && run.stdout.contains("DONE"),
        "{:?}\n{}",
        run.status,
        run.report()
    );
}

#[test]
fn sigusr1_reaches_the_waiting_task() {
    if std::env::var_os(CHILD).is_none() {
        return in_child("sigusr1_reaches_the_waiting_task");
    }
    coring::block_on(async {
        let mut usr1 = signal::signal(SignalKind::user_defined1()).unwrap();
        let mut usr1_again = signal::signal(SignalKind::user_defined1()).unwrap();
        let waiter = coring::spawn(async move { usr1.recv().await });
        coring::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "woke with no signal sent");
        kill_self(libc::SIGUSR1);
        assert_eq!(waiter.await.unwrap(), Some(()));
        // A second handle saw the same delivery.
        assert_eq!(usr1_again.recv().await, Some(()));
        // And the next delivery too.
        kill_self(libc::SIGUSR1);
        assert_eq!(usr1_again.recv().await, Some(()));
    });
    println!("DONE");
}

#[test]
fn waiters_on_other_workers_are_woken_too() {
    if std::env::var_os(CHILD).is_none() {
        return in_child("waiters_on_other_workers_are_woken_too");
    }
    // Blocked here, before the workers start, so they inherit the mask.
    drop(signal::signal(SignalKind::user_defined2()).unwrap());
    let runtime = coring::Builder::new().workers(2).build_multi().unwrap();
    let handles = runtime.handles().to_vec();
    let mut waiters = Vec::new();
    for handle in &handles {
        waiters.push(handle.spawn_with(|| async {
            let mut usr2 = signal::signal(SignalKind::user_defined2()).unwrap();
            usr2.recv().await.is_some()
        }));
    }
    std::thread::sleep(Duration::from_millis(200));
    kill_self(libc::SIGUSR2);
    for waiter in waiters {
        assert!(runtime.block_on(waiter).unwrap());
    }
    println!("DONE");
}

#[test]
fn ctrl_c_completes_on_sigint() {
    if std::env::var_os(CHILD).is_none() {
        return in_child("ctrl_c_completes_on_sigint");
    }
    coring::block_on(async {
        let waiter = coring::spawn(signal::ctrl_c());
        coring::time::sleep(Duration::from_millis(50)).await;
        kill_self(libc::SIGINT);
        waiter.await.unwrap().unwrap();
    });
    println!("DONE");
}

#[test]
fn signals_that_cannot_be_caught_are_refused() {
    let err = signal::signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let err = signal::signal(SignalKind::from_raw(0)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn a_reader_dropped_mid_read_hands_over_to_the_other_waiters() {
    if std::env::var_os(CHILD).is_none() {
        return in_child("a_reader_dropped_mid_read_hands_over_to_the_other_waiters");
    }
    coring::block_on(async {
        // The first handle polled becomes the reader; the second waits on it.
        let reader = coring::spawn(async {
            let mut usr1 = signal::signal(SignalKind::user_defined1()).unwrap();
            usr1.recv().await
        });
        coring::task::yield_now().await;
        let waiter = coring::spawn(async {
            let mut usr1 = signal::signal(SignalKind::user_defined1()).unwrap();
            usr1.recv().await
        });
        coring::time::sleep(Duration::from_millis(50)).await;
        reader.abort();
        coring::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "woke with no signal sent");
        kill_self(libc::SIGUSR1);
        let got = coring::time::timeout(Duration::from_secs(10), waiter).await;
        assert_eq!(got.expect("the waiter was never woken").unwrap(), Some(()));
    });
    println!("DONE");
}
