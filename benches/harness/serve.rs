//! The server side of the protocol between a benchmark and its server children, shared by
//! `benches/net` and `benches/peers` (both include this file with `#[path]`): the listening
//! socket, the `READY` line, and the control thread that answers `mark` with a `STATS` line.
//! `PEERS_CC` names a TCP congestion control for the listening socket (accepted sockets inherit
//! it).

// Each includer uses a different part of this file.
#![allow(dead_code)]

use std::io::{self, BufRead as _, Write as _};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// A listening std socket on `addr` with `SO_REUSEADDR` and a 4096 backlog, optionally with
/// `SO_REUSEPORT`.
pub(crate) fn listen(addr: SocketAddr, reuse_port: bool) -> std::net::TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    if reuse_port {
        socket.set_reuse_port(true).expect("SO_REUSEPORT");
    }
    if let Ok(cc) = std::env::var("PEERS_CC") {
        set_congestion(socket.as_raw_fd(), &cc).expect("TCP_CONGESTION");
    }
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.into()
}

/// Tells the parent the server listens, on which port.
pub(crate) fn ready(port: u16, note: &str) {
    println!("READY port={port} mode={note}");
    io::stdout().flush().expect("stdout");
}

/// Reads the parent's commands on stdin in a thread: each `mark` line calls `mark`, which must
/// answer with one `STATS` line; end of input ends the process.
pub(crate) fn control_thread(mark: impl Fn() + Send + 'static) {
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line.as_deref() {
                Ok("mark") => mark(),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
}

/// The control thread of a server that keeps no counters.
pub(crate) fn plain_control_thread() {
    control_thread(|| print_stats(""));
}

/// Answers a `mark` with the server's counters (`name=value` fields, or nothing).
pub(crate) fn print_stats(stats: &str) {
    println!("STATS {stats}");
    io::stdout().flush().expect("stdout");
}

/// Sets the TCP congestion control of socket `fd` (`TCP_CONGESTION`).
pub(crate) fn set_congestion(fd: i32, name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
