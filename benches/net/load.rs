//! Load generators: the io_uring echo load and the wget clients.

use super::*;

pub(crate) struct LoadArgs {
    pub(crate) port: u16,
    pub(crate) conns: usize,
    pub(crate) size: usize,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    pub(crate) server_pid: u32,
}

/// One client connection of the load generator.
pub(crate) struct Conn {
    pub(crate) stream: std::net::TcpStream,
    pub(crate) buf: Vec<u8>,
    pub(crate) sent: usize,
    pub(crate) got: usize,
    pub(crate) started: Instant,
}

pub(crate) const SEND: u64 = 0;
pub(crate) const RECV: u64 = 1;

/// A bare io_uring loop (SINGLE_ISSUER | DEFER_TASKRUN, no runtime): every connection sends a
/// message and reads the echo, one message in flight per connection, all connections in one
/// `io_uring_enter` per turn. Prints `MARK` at the start and the end of the measured window (the
/// parent samples the server's counters then) and one `RESULT` line, then exits.
pub(crate) fn load_echo(args: &LoadArgs) {
    let addr = loopback(args.port);
    let payload = vec![0x5a_u8; args.size];
    let mut conns: Vec<Conn> = (0..args.conns)
        .map(|_| {
            let stream = std::net::TcpStream::connect(addr).expect("connect to the echo server");
            stream.set_nodelay(true).expect("TCP_NODELAY");
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
    let send = |c: &mut Conn, i: usize| {
        use std::os::fd::AsRawFd;
        // SAFETY: `payload` outlives every operation (the process exits at the end of this
        // function, before anything is dropped) and `sent < size`.
        let ptr = unsafe { payload.as_ptr().add(c.sent) };
        opcode::Send::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (args.size - c.sent) as u32,
        )
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(((i as u64) << 1) | SEND)
    };
    let recv = |c: &mut Conn, i: usize| {
        use std::os::fd::AsRawFd;
        // SAFETY: as above: the connection's buffer never moves (`conns` is never resized) and
        // lives until the process exits; `got < size`.
        let ptr = unsafe { c.buf.as_mut_ptr().add(c.got) };
        opcode::Recv::new(
            types::Fd(c.stream.as_raw_fd()),
            ptr,
            (args.size - c.got) as u32,
        )
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
    // Taken when the measured window starts.
    let mut start: Option<Probe> = None;
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
                panic!(
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
            }
            if user_data & 1 == SEND {
                c.sent += result as usize;
                if c.sent < args.size {
                    queue.push(send(c, i));
                    continue;
                }
            } else {
                c.got += result as usize;
                if c.got < args.size {
                    queue.push(recv(c, i));
                    continue;
                }
            }
            if c.sent == args.size && c.got == args.size {
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
            let probe = Probe::take(&[args.server_pid], true);
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
                    "RESULT rts={round_trips} p50_ns={} p99_ns={} {}",
                    pct(50),
                    pct(99),
                    probe.fields_since(start),
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

// --- wget clients -----------------------------------------------------------------------------

pub(crate) struct WgetArgs {
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) inflight: usize,
    pub(crate) warmup: Duration,
    pub(crate) window: Duration,
    /// The nginx processes, whose CPU time is reported as the servers'.
    pub(crate) nginx: Vec<u32>,
}

pub(crate) fn wget_result(fetches: u64, errors: u64, start: &Probe, end: &Probe, extra: &str) {
    println!(
        "RESULT fetches={fetches} errors={errors} {}{extra}",
        end.fields_since(start)
    );
    io::stdout().flush().expect("stdout");
    std::process::exit(0);
}

pub(crate) fn head_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "no complete response head")
}

pub(crate) fn wget_coring(args: WgetArgs) {
    use std::cell::Cell;
    use std::rc::Rc;
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("{err}"));
    let done = Rc::new(Cell::new(0u64));
    let errors = Rc::new(Cell::new(0u64));
    runtime.block_on(async {
        for i in 0..args.inflight {
            let addr = args.addrs[i % args.addrs.len()];
            let (done, errors) = (done.clone(), errors.clone());
            coring::spawn(async move {
                let mut buf = Vec::with_capacity(HTTP_BUF);
                loop {
                    let (result, b) = fetch_coring(addr, buf).await;
                    buf = b;
                    match result {
                        Ok(()) => done.set(done.get() + 1),
                        Err(_) => errors.set(errors.get() + 1),
                    }
                }
            });
        }
        coring::time::sleep(args.warmup).await;
        let (d0, e0, s0) = (done.get(), errors.get(), runtime.metrics());
        let start = Probe::take(&args.nginx, false);
        coring::time::sleep(args.window).await;
        let end = Probe::take(&args.nginx, false);
        let (d1, e1, s1) = (done.get(), errors.get(), runtime.metrics());
        wget_result(
            d1 - d0,
            e1 - e0,
            &start,
            &end,
            &format!(" enters={}", s1.enters - s0.enters),
        );
    });
}

/// One fetch: connect, send the request, read up to the end of the response head, close.
async fn fetch_coring(addr: SocketAddr, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    let stream = match coring::net::TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return (Err(err), buf),
    };
    if let (Err(err), _) = stream.write_all(GET).await {
        return (Err(err), buf);
    }
    let mut head = Vec::new();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        match n {
            Ok(0) => return (Err(head_error()), buf),
            Ok(n) if head.is_empty() && head_end(&buf[..n]).is_some() => return (Ok(()), buf),
            Ok(n) => {
                head.extend_from_slice(&buf[..n]);
                if head_end(&head).is_some() {
                    return (Ok(()), buf);
                }
                if head.len() > HEAD_MAX {
                    return (Err(head_error()), buf);
                }
            }
            Err(err) => return (Err(err), buf),
        }
    }
}

pub(crate) fn wget_tokio(args: WgetArgs) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    use std::sync::Arc;
    let runtime = tokio_current_thread();
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    runtime.block_on(async {
        for i in 0..args.inflight {
            let addr = args.addrs[i % args.addrs.len()];
            let (done, errors) = (done.clone(), errors.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; HTTP_BUF];
                loop {
                    match fetch_tokio(addr, &mut buf).await {
                        Ok(()) => done.fetch_add(1, Relaxed),
                        Err(_) => errors.fetch_add(1, Relaxed),
                    };
                }
            });
        }
        tokio::time::sleep(args.warmup).await;
        let (d0, e0) = (done.load(Relaxed), errors.load(Relaxed));
        let start = Probe::take(&args.nginx, false);
        tokio::time::sleep(args.window).await;
        let end = Probe::take(&args.nginx, false);
        let (d1, e1) = (done.load(Relaxed), errors.load(Relaxed));
        wget_result(d1 - d0, e1 - e0, &start, &end, "");
    });
}

async fn fetch_tokio(addr: SocketAddr, buf: &mut [u8]) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(GET).await?;
    let mut head = Vec::new();
    loop {
        let n = stream.read(buf).await?;
        if n == 0 {
            return Err(head_error());
        }
        if head.is_empty() && head_end(&buf[..n]).is_some() {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head_end(&head).is_some() {
            return Ok(());
        }
        if head.len() > HEAD_MAX {
            return Err(head_error());
        }
    }
}
