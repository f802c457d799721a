//! `Signal` promises each handle sees every delivery after it was created. A handle that
//! started the read of the signalfd and is then kept alive but never polled again (say, it
//! lost a `select`) must not keep the deliveries that read takes from every other handle. Runs in a child process, as the signal tests do.

mod common;

use common::process::run_child_with_signals_blocked;
use common::{poll_once, Watchdog};
use coring::signal::{self, SignalKind};
use std::pin::pin;
use std::time::Duration;

const CHILD: &str = "CORING_IDLE_SIGNAL_CHILD";

#[test]
fn a_signal_handle_that_is_kept_but_not_polled_does_not_stall_the_others() {
    if std::env::var_os(CHILD).is_none() {
        let _dog = Watchdog::new(60, "idle signal handle");
        let test = "a_signal_handle_that_is_kept_but_not_polled_does_not_stall_the_others";
        let run = run_child_with_signals_blocked(
            test,
            &[(CHILD, "1")],
            Duration::from_secs(30),
            &[libc::SIGUSR2],
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
        let mut idle = signal::signal(SignalKind::user_defined2()).unwrap();
        // One poll starts the read of the signalfd; the handle is then kept but left alone.
        assert!(poll_once(pin!(idle.recv())).await.is_none());
        let mut busy = signal::signal(SignalKind::user_defined2()).unwrap();
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR2) }, 0);
        let got = coring::time::timeout(Duration::from_secs(5), busy.recv()).await;
        assert_eq!(
            got.ok(),
            Some(Some(())),
            "the delivery never reached `busy`"
        );
        drop(idle);
    });
    println!("DONE");
}
