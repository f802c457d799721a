//! The hand-written io_uring server, no runtime: the ceiling the runtimes are compared with.

use super::*;

/// `(completions, µs)` for the batching raw server, from `$NET_BENCH_RAW_BATCH` ("32,50").
pub(crate) fn raw_batch() -> (u32, u32) {
    let spec = std::env::var("NET_BENCH_RAW_BATCH").unwrap_or_default();
    let mut parts = spec.split(',').map(|p| p.trim().parse().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(want), Some(usec)) => (want, usec),
        _ => (32, 50),
    }
}

// --- the raw io_uring server: no runtime -------------------------------------------------------

/// One connection of the raw server.
pub(crate) struct RawConn {
    pub(crate) stream: std::net::TcpStream,
    pub(crate) buf: Vec<u8>,
    /// HTTP: bytes of an incomplete request head.
    pub(crate) pending: Vec<u8>,
    /// HTTP: responses to pipelined requests.
    pub(crate) out: Vec<u8>,
    /// What the current send sends: a pointer into `buf`, `out` or [`RESPONSE`], and its length.
    pub(crate) send_ptr: *const u8,
    pub(crate) send_len: usize,
    pub(crate) sent: usize,
}

pub(crate) const RAW_ACCEPT: u64 = 0;
pub(crate) const RAW_CONTROL: u64 = 1;
pub(crate) const RAW_RECV: u64 = 2;
pub(crate) const RAW_SEND: u64 = 3;

/// The practical limit: a hand-written io_uring loop with coring's ring flags
/// (SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG | SUBMIT_ALL, 1024 entries), a multishot accept,
/// and per connection one `recv` into its own buffer and one `send` at a time. All of a turn's
/// entries go in one `io_uring_enter`, which then waits for one completion — or, with `batch`
/// = `(n, µs)`, for `n` completions but at most `µs` microseconds (`min_wait_usec`, Linux 6.12).
pub(crate) fn raw_server(proto: Proto, batch: Option<(u32, u32)>) {
    use io_uring::{cqueue, squeue};
    use std::os::fd::{AsRawFd, FromRawFd};
    let listener = listen(loopback(0), false);
    let port = listener.local_addr().expect("local_addr").port();
    let mut ring = IoUring::builder()
        .setup_cqsize(4 * CORING_ENTRIES)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_submit_all()
        .build(CORING_ENTRIES)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN");
    // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
    let control = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(control >= 0, "eventfd: {}", io::Error::last_os_error());
    control_thread(move || {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live local buffer to the eventfd.
        let _ = unsafe { libc::write(control, one.as_ptr().cast(), one.len()) };
    });
    ready(port, if batch.is_some() { "raw-batch" } else { "raw" });
    let accept = || {
        opcode::AcceptMulti::new(types::Fd(listener.as_raw_fd()))
            .build()
            .user_data(RAW_ACCEPT)
    };
    let watch_control = || {
        opcode::PollAdd::new(types::Fd(control), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(RAW_CONTROL)
    };
    let recv = |key: usize, c: &mut RawConn| {
        opcode::Recv::new(
            types::Fd(c.stream.as_raw_fd()),
            c.buf.as_mut_ptr(),
            c.buf.len() as u32,
        )
        .build()
        .user_data(((key as u64) << 2) | RAW_RECV)
    };
    let send = |key: usize, c: &RawConn| {
        // SAFETY: `sent < send_len`, inside the memory `send_ptr` points at.
        let ptr = unsafe { c.send_ptr.add(c.sent) };
        opcode::Send::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (c.send_len - c.sent) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(((key as u64) << 2) | RAW_SEND)
    };
    let mut conns: slab::Slab<RawConn> = slab::Slab::with_capacity(1024);
    let mut queue: Vec<squeue::Entry> = vec![accept(), watch_control()];
    let mut reaped: Vec<(u64, i32, u32)> = Vec::with_capacity(4096);
    let mut enters = 0u64;
    let mut completions = 0u64;
    loop {
        {
            let mut sq = ring.submission();
            for entry in queue.drain(..) {
                // SAFETY: every entry points into a connection's heap buffers (which stay in
                // place while the connection is in the slab, and a connection leaves the slab
                // only when it has no operation in flight), into `RESPONSE`, or at nothing; the
                // queue never holds more than one entry per connection plus two.
                unsafe { sq.push(&entry).expect("submission queue full") };
            }
        }
        enters += 1;
        let entered = match batch {
            None => ring.submit_and_wait(1),
            Some((want, min_wait)) => {
                let args = types::SubmitArgs::new().min_wait_usec(min_wait);
                ring.submitter().submit_with_args(want as usize, &args)
            }
        };
        match entered {
            Ok(_) => {}
            Err(err) if matches!(err.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(err) => panic!("raw server: io_uring_enter: {err}"),
        }
        reaped.extend(
            ring.completion()
                .map(|cqe: cqueue::Entry| (cqe.user_data(), cqe.result(), cqe.flags())),
        );
        completions += reaped.len() as u64;
        for (user_data, result, flags) in reaped.drain(..) {
            let key = (user_data >> 2) as usize;
            match user_data & 3 {
                RAW_ACCEPT => {
                    if result >= 0 {
                        // SAFETY: the kernel just created this fd for us; nobody else owns it.
                        let stream = unsafe { std::net::TcpStream::from_raw_fd(result) };
                        let _ = stream.set_nodelay(true);
                        let entry = conns.vacant_entry();
                        let key = entry.key();
                        let conn = entry.insert(RawConn {
                            stream,
                            buf: vec![
                                0;
                                if proto == Proto::Http {
                                    HTTP_BUF
                                } else {
                                    ECHO_BUF
                                }
                            ],
                            pending: Vec::new(),
                            out: Vec::new(),
                            send_ptr: std::ptr::null(),
                            send_len: 0,
                            sent: 0,
                        });
                        queue.push(recv(key, conn));
                    }
                    if !cqueue::more(flags) {
                        queue.push(accept());
                    }
                }
                RAW_CONTROL => {
                    let mut value = [0u8; 8];
                    // SAFETY: reads at most 8 bytes into a live local buffer.
                    let _ = unsafe { libc::read(control, value.as_mut_ptr().cast(), 8) };
                    print_stats(&format!("enters={enters} completions={completions}"));
                    if !cqueue::more(flags) {
                        queue.push(watch_control());
                    }
                }
                RAW_RECV => {
                    let conn = &mut conns[key];
                    if result <= 0 {
                        conns.remove(key);
                        continue;
                    }
                    let n = result as usize;
                    conn.sent = 0;
                    if proto == Proto::Http {
                        let data = &conn.buf[..n];
                        match take_requests(&mut conn.pending, data) {
                            Ok(0) => {
                                queue.push(recv(key, conn));
                                continue;
                            }
                            Ok(1) => {
                                conn.send_ptr = RESPONSE.as_ptr();
                                conn.send_len = RESPONSE.len();
                            }
                            Ok(k) => {
                                conn.out = RESPONSE.repeat(k);
                                conn.send_ptr = conn.out.as_ptr();
                                conn.send_len = conn.out.len();
                            }
                            Err(_) => {
                                conns.remove(key);
                                continue;
                            }
                        }
                    } else {
                        conn.send_ptr = conn.buf.as_ptr();
                        conn.send_len = n;
                    }
                    queue.push(send(key, conn));
                }
                _ => {
                    let conn = &mut conns[key];
                    if result < 0 {
                        conns.remove(key);
                        continue;
                    }
                    conn.sent += result as usize;
                    if conn.sent < conn.send_len {
                        queue.push(send(key, conn));
                    } else {
                        queue.push(recv(key, conn));
                    }
                }
            }
        }
    }
}

// --- tokio servers ----------------------------------------------------------------------------
