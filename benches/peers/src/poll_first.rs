//! What `IORING_RECVSEND_POLL_FIRST` costs and saves on one loopback TCP receive (issue 19):
//! `peers --child poll-first [ROUNDS]`, pinned to the first CPU.
//!
//! coring submits a stream `recv` after a short read with `POLL_FIRST` (`src/op/recv.rs`): the
//! kernel skips the receive attempt at submission and arms its poll first. When the socket is
//! empty that saves a failed `tcp_recvmsg` (socket lock, checks, `EAGAIN`); when the bytes are
//! already there it costs a poll arm whose readiness is found at once, a task-work item and a
//! second issue of the request instead of one inline receive. Which way it goes depends on how
//! often the next message is already waiting, which depends on the load (see benches/README.md).
//!
//! One thread, one `SINGLE_ISSUER | DEFER_TASKRUN` ring (coring's set-up), one connected pair of
//! loopback sockets; each iteration writes 1 KiB to one end (a plain `write`, which delivers it
//! on this CPU) and receives it from the other with a `recv` on the ring, in two orders:
//!
//! * present: write, then submit the receive and wait for it (the bytes are waiting);
//! * absent: submit the receive (no wait), write, then wait for it (the socket was empty).
//!
//! each with and without `POLL_FIRST`. The figure is this thread's CPU time per iteration
//! (`CLOCK_THREAD_CPUTIME_ID`), so other processes on the machine inflate it less than a rate;
//! the four variants run interleaved in every round and the table shows medians over rounds.
//! The write's cost is the same in every variant: the differences are the receive's.

use io_uring::{opcode, types, IoUring};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

const MSG: usize = 1024;
const ITERS: u32 = 20_000;
const POLL_FIRST: u16 = 1;

pub fn child(args: &[String]) {
    let rounds: usize = args.first().map_or(9, |r| r.parse().expect("rounds"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut tx = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (rx, _) = listener.accept().expect("accept");
    tx.set_nodelay(true).expect("nodelay");
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(64)
        .expect("io_uring with SINGLE_ISSUER | DEFER_TASKRUN");
    let mut buf = vec![0u8; 16 * 1024];
    let msg = vec![7u8; MSG];
    let variants = [
        ("bytes present, plain recv", true, false),
        ("bytes present, POLL_FIRST", true, true),
        ("socket empty, plain recv", false, false),
        ("socket empty, POLL_FIRST", false, true),
    ];
    let mut ns: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    // One round of each first, unmeasured: the socket buffers and the ring warm up.
    for round in 0..=rounds {
        for (i, &(_, present, poll_first)) in variants.iter().enumerate() {
            let start = thread_cpu_ns();
            for _ in 0..ITERS {
                let recv = opcode::Recv::new(
                    types::Fd(rx.as_raw_fd()),
                    buf.as_mut_ptr(),
                    buf.len() as u32,
                )
                .ioprio(if poll_first { POLL_FIRST } else { 0 })
                .build();
                if present {
                    tx.write_all(&msg).expect("write");
                }
                // SAFETY: `buf` outlives the op: this loop waits for its completion below.
                unsafe { ring.submission().push(&recv) }.expect("queue");
                if present {
                    ring.submit_and_wait(1).expect("enter");
                } else {
                    ring.submit().expect("enter");
                    tx.write_all(&msg).expect("write");
                    ring.submit_and_wait(1).expect("enter");
                }
                let cqe = ring.completion().next().expect("a completion");
                assert_eq!(cqe.result(), MSG as i32, "one whole message per receive");
            }
            let per = (thread_cpu_ns() - start) as f64 / f64::from(ITERS);
            if round > 0 {
                ns[i].push(per);
            }
        }
    }
    // Nothing may be left unread: a stray byte would shift every later message.
    rx.set_nonblocking(true).expect("nonblocking");
    assert!((&rx).read(&mut buf).is_err(), "bytes left over");
    println!("POLL_FIRST on a 1 KiB loopback TCP receive: thread CPU ns per write + receive, median of {rounds} rounds of {ITERS}");
    for (i, (name, ..)) in variants.iter().enumerate() {
        ns[i].sort_by(f64::total_cmp);
        let all: Vec<String> = ns[i].iter().map(|v| format!("{v:.0}")).collect();
        println!(
            "{name:28} {:7.0}  ({})",
            ns[i][ns[i].len() / 2],
            all.join(" ")
        );
    }
    let med = |i: usize| ns[i][ns[i].len() / 2];
    println!(
        "POLL_FIRST costs {:.0} ns when the bytes are present and saves {:.0} ns when the socket is empty: it pays off when more than {:.0}% of receives find an empty socket",
        med(1) - med(0),
        med(2) - med(3),
        100.0 * (med(1) - med(0)) / ((med(1) - med(0)) + (med(2) - med(3))),
    );
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live local the call writes.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
