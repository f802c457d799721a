//! The one echo load generator of `benches/net` and `benches/peers` (both include this file
//! with `#[path]`): a bare io_uring loop (SINGLE_ISSUER | DEFER_TASKRUN, no runtime) on its own
//! pinned CPU. Every connection sends a message and reads the echo back, one message in flight
//! per connection, all connections submitted in one `io_uring_enter` per turn.
//!
//! Protocol with the parent: `MARK` at the start and at the end of the measured window (the
//! parent samples the server's counters then), then one `RESULT` line, then exit. `PEERS_CC`
//! names a TCP congestion control for the load's sockets (as for the servers', see
//! `serve.rs`).

// Each includer uses a different part of this file.
#![allow(dead_code)]

use io_uring::{opcode, types, IoUring};
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::Child;
use std::time::{Duration, Instant};

/// What the parent tells a load child: `load PORT CONNS SIZE WARMUP_MS WINDOW_MS SERVER_PID`.
pub(crate) struct LoadArgs {
    pub(crate) port: u16,
    pub(crate) conns: usize,
    pub(crate) size: usize,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    pub(crate) server_pid: u32,
}

impl LoadArgs {
    /// The arguments after `load`, as [`LoadArgs::to_args`] wrote them.
    pub(crate) fn parse(args: &[String]) -> LoadArgs {
        let num = |i: usize| -> u64 {
            args.get(i)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("load child: argument {i} of {args:?} is not a number"))
        };
        LoadArgs {
            port: num(0) as u16,
            conns: num(1) as usize,
            size: num(2) as usize,
            warmup: Duration::from_millis(num(3)),
            window: Duration::from_millis(num(4)),
            server_pid: num(5) as u32,
        }
    }

    /// The child's command line: `load` and the arguments [`LoadArgs::parse`] reads.
    pub(crate) fn to_args(&self) -> Vec<String> {
        vec![
            "load".to_owned(),
            self.port.to_string(),
            self.conns.to_string(),
            self.size.to_string(),
            self.warmup.as_millis().to_string(),
            self.window.as_millis().to_string(),
            self.server_pid.to_string(),
        ]
    }
}

/// Reads a load child's output to its end (the child exits after its `RESULT`): calls `on_mark`
/// at each `MARK` line and returns the `RESULT` line, if one came.
pub(crate) fn read_load_output(load: &mut Child, mut on_mark: impl FnMut()) -> Option<String> {
    let mut stdout = BufReader::new(load.stdout.take().expect("load stdout"));
    let mut result = None;
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            return result;
        }
        let line = line.trim();
        if line == "MARK" {
            on_mark();
        } else if line.starts_with("RESULT ") {
            result = Some(line.to_owned());
        }
    }
}

/// One client connection.
struct Conn {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    sent: usize,
    got: usize,
    started: Instant,
}

const SEND: u64 = 0;
const RECV: u64 = 1;

/// Runs the load against the server `args` names until the end of the measured window, then
/// exits the process. `take(server_pid)` samples what the includer measures at both ends of the
/// window; `fields_since(end, start)` renders the window for the `RESULT` line.
pub(crate) fn load_echo<P>(
    args: &LoadArgs,
    take: impl Fn(u32) -> P,
    fields_since: impl Fn(&P, &P) -> String,
) -> ! {
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    let payload = vec![0x5a_u8; args.size];
    let mut conns: Vec<Conn> = (0..args.conns)
        .map(|_| {
            let stream = std::net::TcpStream::connect(addr).expect("connect to the echo server");
            stream.set_nodelay(true).expect("TCP_NODELAY");
            if let Ok(cc) = std::env::var("PEERS_CC") {
                crate::serve::set_congestion(stream.as_raw_fd(), &cc).expect("TCP_CONGESTION");
            }
            Conn {
                stream,
                buf: vec![0; args.size],
                sent: 0,
                got: 0,
                started: Instant::now(),
            }
        })
        .collect();
    let entries = (2 * args.conns + 8).next_power_of_two() as u32;
    let mut ring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries * 2)
        .build(entries)
        .or_else(|_| IoUring::builder().setup_cqsize(entries * 2).build(entries))
        .expect("io_uring for the load generator");
    let size = args.size;
    let send = |c: &mut Conn, i: usize| {
        // SAFETY: `payload` outlives every operation (the process exits at the end of this
        // function, before anything is dropped) and `sent < size`.
        let ptr = unsafe { payload.as_ptr().add(c.sent) };
        opcode::Send::new(types::Fd(c.stream.as_raw_fd()), ptr, (size - c.sent) as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(((i as u64) << 1) | SEND)
    };
    let recv = |c: &mut Conn, i: usize| {
        // SAFETY: as above: the connection's buffer never moves (`conns` is never resized) and
        // lives until the process exits; `got < size`.
        let ptr = unsafe { c.buf.as_mut_ptr().add(c.got) };
        opcode::Recv::new(types::Fd(c.stream.as_raw_fd()), ptr, (size - c.got) as u32)
            .build()
            .user_data(((i as u64) << 1) | RECV)
    };
    let mut queue = Vec::with_capacity(2 * args.conns);
    for (i, c) in conns.iter_mut().enumerate() {
        queue.push(send(c, i));
        queue.push(recv(c, i));
    }
    let mut reaped: Vec<(u64, i32)> = Vec::with_capacity(2 * args.conns);
    let mut latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut phase_end = Instant::now() + args.warmup;
    let mut round_trips = 0u64;
    // Including the warm-up (for per-request counts taken over the server's whole life).
    let mut round_trips_total = 0u64;
    // Taken when the measured window starts.
    let mut start: Option<P> = None;
    loop {
        {
            let mut sq = ring.submission();
            for entry in queue.drain(..) {
                // SAFETY: each entry points into `payload` or a connection's buffer, both alive
                // and in place until the process exits; at most two entries per connection are
                // ever in flight, and the queue holds twice the connection count.
                unsafe { sq.push(&entry).expect("submission queue full") };
            }
        }
        let wait = phase_end
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let ts = types::Timespec::from(wait);
        let submit_args = types::SubmitArgs::new().timespec(&ts);
        match ring.submitter().submit_with_args(1, &submit_args) {
            Ok(_) => {}
            Err(err) if matches!(err.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
            Err(err) => panic!("load generator: io_uring_enter: {err}"),
        }
        reaped.extend(
            ring.completion()
                .map(|cqe: io_uring::cqueue::Entry| (cqe.user_data(), cqe.result())),
        );
        let now = Instant::now();
        for (user_data, result) in reaped.drain(..) {
            let i = (user_data >> 1) as usize;
            let c = &mut conns[i];
            if result <= 0 {
                eprintln!(
                    "load generator: connection {i}: {} returned {}",
                    if user_data & 1 == SEND {
                        "send"
                    } else {
                        "recv"
                    },
                    if result == 0 {
                        "end of file".to_owned()
                    } else {
                        io::Error::from_raw_os_error(-result).to_string()
                    }
                );
                std::process::exit(2);
            }
            if user_data & 1 == SEND {
                c.sent += result as usize;
                if c.sent < size {
                    queue.push(send(c, i));
                    continue;
                }
            } else {
                c.got += result as usize;
                if c.got < size {
                    queue.push(recv(c, i));
                    continue;
                }
            }
            if c.sent == size && c.got == size {
                round_trips_total += 1;
                if start.is_some() {
                    round_trips += 1;
                    let nanos = now.duration_since(c.started).as_nanos();
                    latencies.push(u32::try_from(nanos).unwrap_or(u32::MAX));
                }
                c.sent = 0;
                c.got = 0;
                c.started = now;
                queue.push(send(c, i));
                queue.push(recv(c, i));
            }
        }
        if now >= phase_end {
            let probe = take(args.server_pid);
            println!("MARK");
            if let Some(start) = &start {
                latencies.sort_unstable();
                let pct = |p: usize| {
                    latencies
                        .get(latencies.len() * p / 100)
                        .copied()
                        .unwrap_or(0)
                };
                println!(
                    "RESULT rts={round_trips} rts_total={round_trips_total} p50_ns={} p99_ns={} {}",
                    pct(50),
                    pct(99),
                    fields_since(&probe, start),
                );
                io::stdout().flush().expect("stdout");
                // Exit with operations in flight and without dropping their memory.
                std::process::exit(0);
            }
            io::stdout().flush().expect("stdout");
            phase_end = now + args.window;
            start = Some(probe);
        }
    }
}
