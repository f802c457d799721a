//! The wget client with no runtime (the practical limit), in the style of the raw echo server:
//! one ring (`SINGLE_ISSUER | DEFER_TASKRUN`), per fetch slot one operation in flight at a time:
//! `socket(2)` (a plain system call, as the runtimes do), `connect`, `send` of the request,
//! `recv` until the end of the head, then an asynchronous `close` that nobody waits for and the
//! next fetch in the same slot. One `io_uring_enter` per loop turn, which waits for at least one
//! completion or 100 ms; every 100 ms the slots are checked for fetches older than
//! [`FETCH_TIMEOUT`], whose operation is cancelled (its `-ECANCELED` completion ends the fetch).

use super::{count, timed_out, Head, WgetArgs, BUF, FETCH_TIMEOUT, GET};
use crate::servers::ENTRIES;
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CONNECT: u64 = 0;
const SEND: u64 = 1;
const RECV: u64 = 2;
const CLOSE: u64 = 3;
const CANCEL: u64 = 4;

struct Slot {
    addr: Box<libc::sockaddr_in>,
    fd: i32,
    buf: Box<[u8]>,
    sent: usize,
    head: Head,
    started: Instant,
    /// The operation in flight (its user data), and whether it was cancelled for the timeout.
    op: u64,
    cancelled: bool,
}

fn ud(slot: usize, kind: u64) -> u64 {
    ((slot as u64) << 3) | kind
}

fn sockaddr(addr: SocketAddr) -> libc::sockaddr_in {
    let SocketAddr::V4(v4) = addr else {
        panic!("raw wget: IPv4 only")
    };
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(v4.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

pub fn run(args: &WgetArgs) {
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(ENTRIES * 4)
        .build(ENTRIES)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN");
    let mut slots: Vec<Slot> = (0..args.inflight)
        .map(|i| Slot {
            addr: Box::new(sockaddr(args.addr(i))),
            fd: -1,
            buf: vec![0u8; BUF].into_boxed_slice(),
            sent: 0,
            head: Head::default(),
            started: Instant::now(),
            op: 0,
            cancelled: false,
        })
        .collect();
    for i in 0..slots.len() {
        start(&mut ring, &mut slots, i);
    }
    let tick = types::Timespec::new().nsec(100_000_000);
    let mut checked = Instant::now();
    let mut reaped: Vec<(u64, i32)> = Vec::with_capacity(4096);
    loop {
        let wait = types::SubmitArgs::new().timespec(&tick);
        match ring.submitter().submit_with_args(1, &wait) {
            Ok(_) => {}
            Err(err) if matches!(err.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(err) => panic!("raw wget: io_uring_enter: {err}"),
        }
        reaped.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        for (data, res) in reaped.drain(..) {
            let (i, kind) = ((data >> 3) as usize, data & 7);
            if kind == CLOSE || kind == CANCEL {
                continue;
            }
            let slot = &mut slots[i];
            let step: io::Result<bool> = if res < 0 {
                Err(if slot.cancelled {
                    timed_out()
                } else {
                    io::Error::from_raw_os_error(-res)
                })
            } else {
                match kind {
                    CONNECT => Ok(false),
                    SEND => {
                        slot.sent += res as usize;
                        Ok(false)
                    }
                    _ => slot.head.feed(&slot.buf[..res as usize]),
                }
            };
            match step {
                Ok(false) => {
                    let sqe = if kind == CONNECT || (kind == SEND && slot.sent < GET.len()) {
                        send(i, slot)
                    } else {
                        recv(i, slot)
                    };
                    push(&mut ring, sqe);
                }
                done => {
                    count(done.map(|_| ()));
                    let close = opcode::Close::new(types::Fd(slot.fd))
                        .build()
                        .user_data(ud(i, CLOSE));
                    push(&mut ring, close);
                    start(&mut ring, &mut slots, i);
                }
            }
        }
        if checked.elapsed() >= Duration::from_millis(100) {
            checked = Instant::now();
            for slot in slots.iter_mut() {
                if !slot.cancelled && slot.started.elapsed() > FETCH_TIMEOUT {
                    slot.cancelled = true;
                    let cancel = opcode::AsyncCancel::new(slot.op).build().user_data(CANCEL);
                    push(&mut ring, cancel);
                }
            }
        }
    }
}

/// A new fetch in slot `i`: a socket, then its connect.
fn start(ring: &mut IoUring, slots: &mut [Slot], i: usize) {
    let slot = &mut slots[i];
    // SAFETY: plain system call with constant arguments.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", io::Error::last_os_error());
    slot.fd = fd;
    slot.sent = 0;
    slot.head = Head::default();
    slot.started = Instant::now();
    slot.cancelled = false;
    slot.op = ud(i, CONNECT);
    let addr: *const libc::sockaddr_in = &*slot.addr;
    let sqe = opcode::Connect::new(
        types::Fd(fd),
        addr.cast(),
        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
    )
    .build()
    .user_data(slot.op);
    push(ring, sqe);
}

fn send(i: usize, slot: &mut Slot) -> squeue::Entry {
    slot.op = ud(i, SEND);
    let rest = &GET[slot.sent..];
    opcode::Send::new(types::Fd(slot.fd), rest.as_ptr(), rest.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(slot.op)
}

fn recv(i: usize, slot: &mut Slot) -> squeue::Entry {
    slot.op = ud(i, RECV);
    opcode::Recv::new(
        types::Fd(slot.fd),
        slot.buf.as_mut_ptr(),
        slot.buf.len() as u32,
    )
    .build()
    .user_data(slot.op)
}

/// Queues `sqe`, submitting first if the submission queue is full.
fn push(ring: &mut IoUring, sqe: squeue::Entry) {
    loop {
        // SAFETY: every entry points into a slot's boxed sockaddr or buffer, which live as long
        // as the ring (the slots are never dropped while it runs: the process ends in the
        // measuring thread), or into `GET` (static).
        if unsafe { ring.submission().push(&sqe) }.is_ok() {
            return;
        }
        ring.submit().expect("raw wget: io_uring_enter");
    }
}
