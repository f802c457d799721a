//! Children that must not outlive the suite (the nginx farm): their pids are kept in a small
//! fixed table, and SIGINT/SIGTERM/SIGHUP kill them before the suite exits.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Once;

static PIDS: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

extern "C" fn on_signal(signal: libc::c_int) {
    for slot in &PIDS {
        let pid = slot.load(SeqCst);
        if pid != 0 {
            // SAFETY: kill is async-signal-safe and has no memory preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + signal) };
}

/// Remembers `pid` for the signal handler (installed on first use).
pub fn register(pid: u32) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only calls async-signal-safe functions and reads atomics.
            unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
        }
    });
    // With more than 32 live children the rest go unregistered (the farm has 4).
    let _ = PIDS
        .iter()
        .find(|s| s.compare_exchange(0, pid, SeqCst, SeqCst).is_ok());
}

pub fn unregister(pid: u32) {
    for slot in &PIDS {
        let _ = slot.compare_exchange(pid, 0, SeqCst, SeqCst);
    }
}
