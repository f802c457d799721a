//! The ceiling: a hand-written io_uring event loop with no runtime. One ring with
//! `SINGLE_ISSUER | DEFER_TASKRUN`, 1024 SQ entries, a multishot accept, and per connection one
//! buffer and one operation in flight at a time: `recv` into the buffer, then `send` of what
//! came (again for a partial send), then `recv` again; for http the fixed response for each
//! complete head. One `io_uring_enter` per loop turn (`submit_and_wait(1)`), which submits
//! everything queued by the previous turn's completions.
//!
//! The `direct` variant (server `raw-direct`, opt-in) keeps the connections in the ring's
//! registered file table instead of the process's fd table: the multishot accept allocates a
//! direct slot (`IORING_FILE_INDEX_ALLOC`) for each connection, `recv`/`send` name it with
//! `IOSQE_FIXED_FILE`, and a `Close` on the ring frees it, so no op pays the fd lookup (and, in
//! a process with several threads, the reference taken on the file for the op). `TCP_NODELAY`
//! is set on the listener, which accepted sockets inherit: a direct socket has no fd for
//! `setsockopt`. It measures what direct descriptors would save a runtime (issue 19 item 4).

use super::{print_stats, ready, take_requests, Proto, ECHO_BUF, ENTRIES, HTTP_BUF, RESPONSE};
use io_uring::{cqueue, opcode, squeue, types, IoUring};
use std::borrow::Cow;
use std::os::fd::IntoRawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static ENTERS: AtomicU64 = AtomicU64::new(0);

const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;
const CLOSE: u64 = 3;
/// Slots of the registered file table in the `direct` variant: more than any case's connections.
const DIRECT_SLOTS: u32 = 4096;

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

pub fn run(proto: Proto, direct: bool) {
    let listener = super::std_listener();
    if direct {
        set_nodelay(std::os::fd::AsRawFd::as_raw_fd(&listener));
    }
    let port = listener.local_addr().expect("local_addr").port();
    let lfd = listener.into_raw_fd();
    super::control_thread(|| print_stats(&format!("enters={}", ENTERS.load(Relaxed))));
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(ENTRIES * 4)
        .build(ENTRIES)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN");
    if direct {
        ring.submitter()
            .register_files_sparse(DIRECT_SLOTS)
            .expect("raw-direct: a sparse registered file table");
    }
    ready(
        port,
        if direct {
            "raw SINGLE_ISSUER|DEFER_TASKRUN, direct descriptors"
        } else {
            "raw SINGLE_ISSUER|DEFER_TASKRUN"
        },
    );
    let io = Io { direct };
    let buf_size = match proto {
        Proto::Echo => ECHO_BUF,
        Proto::Http => HTTP_BUF,
    };
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut reaped: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    let accept = || {
        opcode::AcceptMulti::new(types::Fd(lfd))
            .allocate_file_index(direct)
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
                        if !direct {
                            set_nodelay(cfd);
                        }
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
                        push(&mut ring, io.recv(cfd, conn));
                    } else {
                        eprintln!("raw accept: {}", std::io::Error::from_raw_os_error(-res));
                    }
                    if !cqueue::more(flags) {
                        push(&mut ring, accept());
                    }
                }
                RECV => {
                    if res <= 0 {
                        io.close(&mut ring, &mut conns, fd);
                        continue;
                    }
                    let conn = conns[fd as usize].as_mut().expect("connection");
                    let n = res as usize;
                    match proto {
                        Proto::Echo => {
                            conn.len = n;
                            conn.sent = 0;
                            push(&mut ring, io.send_echo(fd, conn));
                        }
                        Proto::Http => match take_requests(&mut conn.pending, &conn.buf[..n]) {
                            Ok(0) => push(&mut ring, io.recv(fd, conn)),
                            Ok(k) => {
                                conn.out = if k == 1 {
                                    Cow::Borrowed(RESPONSE)
                                } else {
                                    Cow::Owned(RESPONSE.repeat(k))
                                };
                                conn.len = conn.out.len();
                                conn.sent = 0;
                                push(&mut ring, io.send_out(fd, conn));
                            }
                            Err(_) => io.close(&mut ring, &mut conns, fd),
                        },
                    }
                }
                SEND => {
                    if res < 0 {
                        io.close(&mut ring, &mut conns, fd);
                        continue;
                    }
                    let conn = conns[fd as usize].as_mut().expect("connection");
                    conn.sent += res as usize;
                    let sqe = if conn.sent < conn.len {
                        match proto {
                            Proto::Echo => io.send_echo(fd, conn),
                            Proto::Http => io.send_out(fd, conn),
                        }
                    } else {
                        io.recv(fd, conn)
                    };
                    push(&mut ring, sqe);
                }
                // A direct slot's close: nothing to do.
                _ => {}
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

/// Builds the connection ops, naming a connection by fd or, in the `direct` variant, by its slot
/// in the registered file table (`fd` is then the slot index the accept returned).
struct Io {
    direct: bool,
}

impl Io {
    fn recv(&self, fd: i32, conn: &mut Conn) -> squeue::Entry {
        let (ptr, len) = (conn.buf.as_mut_ptr(), conn.buf.len() as u32);
        let op = if self.direct {
            opcode::Recv::new(types::Fixed(fd as u32), ptr, len)
        } else {
            opcode::Recv::new(types::Fd(fd), ptr, len)
        };
        op.build().user_data(user_data(fd, RECV))
    }

    fn send_echo(&self, fd: i32, conn: &mut Conn) -> squeue::Entry {
        let rest = &conn.buf[conn.sent..conn.len];
        self.send(fd, rest.as_ptr(), rest.len() as u32)
    }

    fn send_out(&self, fd: i32, conn: &mut Conn) -> squeue::Entry {
        let rest = &conn.out[conn.sent..conn.len];
        self.send(fd, rest.as_ptr(), rest.len() as u32)
    }

    fn send(&self, fd: i32, ptr: *const u8, len: u32) -> squeue::Entry {
        let op = if self.direct {
            opcode::Send::new(types::Fixed(fd as u32), ptr, len)
        } else {
            opcode::Send::new(types::Fd(fd), ptr, len)
        };
        op.flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(fd, SEND))
    }

    /// Closes a connection with no operation in flight: its fd at once, or its direct slot
    /// through the ring (freed for the accept to reuse when the close runs).
    fn close(&self, ring: &mut IoUring, conns: &mut [Option<Conn>], fd: i32) {
        conns[fd as usize] = None;
        if self.direct {
            let close = opcode::Close::new(types::Fixed(fd as u32)).build();
            push(ring, close.user_data(user_data(fd, CLOSE)));
        } else {
            // SAFETY: `fd` came from accept and is closed once, with no operation in flight on it.
            unsafe { libc::close(fd) };
        }
        super::closed();
    }
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
