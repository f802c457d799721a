//! The ceiling: a hand-written io_uring event loop with no runtime. One ring with
//! `SINGLE_ISSUER | DEFER_TASKRUN`, 1024 SQ entries, a multishot accept, and per connection one
//! buffer and one operation in flight at a time: `recv` into the buffer, then `send` of what
//! came (again for a partial send), then `recv` again; for http the fixed response for each
//! complete head. One `io_uring_enter` per loop turn (`submit_and_wait(1)`), which submits
//! everything queued by the previous turn's completions.

use super::{print_stats, ready, take_requests, Proto, ECHO_BUF, ENTRIES, HTTP_BUF, RESPONSE};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::borrow::Cow;
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static ENTERS: AtomicU64 = AtomicU64::new(0);

const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;

struct Conn {
    buf: Box<[u8]>,
    /// Bytes to send (echo: what the last recv got) and how many went out.
    out: Cow<'static, [u8]>,
    len: usize,
    sent: usize,
    /// http: an incomplete head carried over to the next recv.
    pending: Vec<u8>,
}

fn user_data(fd: i32, op: u64) -> u64 {
    ((fd as u64) << 2) | op
}

pub fn run(proto: Proto) {
    let listener = super::std_listener();
    let port = listener.local_addr().expect("local_addr").port();
    let lfd = listener.into_raw_fd();
    super::control_thread(|| print_stats(&format!("enters={}", ENTERS.load(Relaxed))));
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(ENTRIES * 4)
        .build(ENTRIES)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN");
    ready(port, "raw SINGLE_ISSUER|DEFER_TASKRUN");
    let buf_size = match proto {
        Proto::Echo => ECHO_BUF,
        Proto::Http => HTTP_BUF,
    };
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut reaped: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    let accept = || {
        opcode::AcceptMulti::new(types::Fd(lfd))
            .build()
            .user_data(user_data(lfd, ACCEPT))
    };
    push(&mut ring, accept());
    loop {
        ENTERS.fetch_add(1, Relaxed);
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
            Err(err) => panic!("raw: io_uring_enter: {err}"),
        }
        reaped.extend(
            ring.completion()
                .map(|c: cqueue::Entry| (c.user_data(), c.result(), c.flags())),
        );
        for (ud, res, flags) in reaped.drain(..) {
            let fd = (ud >> 2) as i32;
            match ud & 3 {
                ACCEPT => {
                    if res >= 0 {
                        let cfd = res;
                        set_nodelay(cfd);
                        let slot = cfd as usize;
                        if conns.len() <= slot {
                            conns.resize_with(slot + 1, || None);
                        }
                        let conn = conns[slot].insert(Conn {
                            buf: vec![0u8; buf_size].into_boxed_slice(),
                            out: Cow::Borrowed(&[]),
                            len: 0,
                            sent: 0,
                            pending: Vec::new(),
                        });
                        push(&mut ring, recv(cfd, conn));
                    } else {
                        eprintln!("raw accept: {}", std::io::Error::from_raw_os_error(-res));
                    }
                    if !cqueue::more(flags) {
                        push(&mut ring, accept());
                    }
                }
                RECV => {
                    if res <= 0 {
                        close(&mut conns, fd);
                        continue;
                    }
                    let conn = conns[fd as usize].as_mut().expect("connection");
                    let n = res as usize;
                    match proto {
                        Proto::Echo => {
                            conn.len = n;
                            conn.sent = 0;
                            push(&mut ring, send_echo(fd, conn));
                        }
                        Proto::Http => match take_requests(&mut conn.pending, &conn.buf[..n]) {
                            Ok(0) => push(&mut ring, recv(fd, conn)),
                            Ok(k) => {
                                conn.out = if k == 1 {
                                    Cow::Borrowed(RESPONSE)
                                } else {
                                    Cow::Owned(RESPONSE.repeat(k))
                                };
                                conn.len = conn.out.len();
                                conn.sent = 0;
                                push(&mut ring, send_out(fd, conn));
                            }
                            Err(_) => {
                                conns[fd as usize] = None;
                                // SAFETY: no operation is in flight on `fd` (its recv is done).
                                unsafe { libc::close(fd) };
                                super::closed();
                            }
                        },
                    }
                }
                SEND => {
                    if res < 0 {
                        close(&mut conns, fd);
                        continue;
                    }
                    let conn = conns[fd as usize].as_mut().expect("connection");
                    conn.sent += res as usize;
                    let sqe = if conn.sent < conn.len {
                        match proto {
                            Proto::Echo => send_echo(fd, conn),
                            Proto::Http => send_out(fd, conn),
                        }
                    } else {
                        recv(fd, conn)
                    };
                    push(&mut ring, sqe);
                }
                _ => unreachable!(),
            }
        }
    }
}

/// Queues `sqe`, submitting first if the submission queue is full.
fn push(ring: &mut IoUring, sqe: squeue::Entry) {
    loop {
        // SAFETY: every entry points into a connection's boxed buffer or `out`, which stay in
        // place until the connection is closed, and a connection is closed only from the
        // completion of its one operation in flight (so none is in flight then); or into
        // `RESPONSE` (static).
        if unsafe { ring.submission().push(&sqe) }.is_ok() {
            return;
        }
        ENTERS.fetch_add(1, Relaxed);
        ring.submit().expect("raw: io_uring_enter");
    }
}

fn recv(fd: i32, conn: &mut Conn) -> squeue::Entry {
    opcode::Recv::new(types::Fd(fd), conn.buf.as_mut_ptr(), conn.buf.len() as u32)
        .build()
        .user_data(user_data(fd, RECV))
}

fn send_echo(fd: i32, conn: &mut Conn) -> squeue::Entry {
    let rest = &conn.buf[conn.sent..conn.len];
    opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(fd, SEND))
}

fn send_out(fd: i32, conn: &mut Conn) -> squeue::Entry {
    let rest = &conn.out[conn.sent..conn.len];
    opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(user_data(fd, SEND))
}

fn close(conns: &mut [Option<Conn>], fd: i32) {
    conns[fd as usize] = None;
    // SAFETY: `fd` came from accept and is closed once, with no operation in flight on it.
    unsafe { libc::close(fd) };
    super::closed();
}

fn set_nodelay(fd: i32) {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a valid c_int for the call; a failure only leaves Nagle on.
    unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}
