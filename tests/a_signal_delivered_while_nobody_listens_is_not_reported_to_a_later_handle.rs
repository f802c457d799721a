//! `signal(kind)` listens for deliveries "from now on", and `ctrl_c` completes at the next
//! `SIGINT` after the call. Once the signal has been watched, a delivery that arrives while no
//! handle exists stays queued in the process's signalfd; a handle made later must not report
//! it as its own. Runs in a child process, as the signal tests do.

mod common;

use common::process::run_child_with_signals_blocked;
use common::Watchdog;
use coring::signal::{self, SignalKind};
use std::time::Duration;

const CHILD: &str = "CORING_STALE_SIGNAL_CHILD";

fn kill_self(signo: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signo) }, 0);
}

#[test]
fn a_signal_delivered_while_nobody_listens_is_not_reported_to_a_later_handle() {
    if std::env::var_os(CHILD).is_none() {
        let _dog = Watchdog::new(60, "stale signal");
        let test = "a_signal_delivered_while_nobody_listens_is_not_reported_to_a_later_handle";
        let run = run_child_with_signals_blocked(
            test,
            &[(CHILD, "1")],
            Duration::from_secs(30),
            &[libc::SIGUSR1],
        );
        assert!(
            run.status.success() && run.stdout.contains("DONE"),
            "{:?}\n{}",
            run.status,
            run.report()
        );
        return;
    }
    coring::block_on(async {
        drop(signal::signal(SignalKind::user_defined1()).unwrap());
        kill_self(libc::SIGUSR1);
        let mut later = signal::signal(SignalKind::user_defined1()).unwrap();
        let got = coring::time::timeout(Duration::from_millis(300), later.recv()).await;
        assert!(
            got.is_err(),
            "a handle made after the delivery reported it: {got:?}"
        );
        // It does see the next one.
        kill_self(libc::SIGUSR1);
        let got = coring::time::timeout(Duration::from_secs(5), later.recv()).await;
        assert_eq!(got.ok(), Some(Some(())));
    });
    println!("DONE");
}
