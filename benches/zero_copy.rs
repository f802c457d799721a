//! Zero-copy benchmark (issue 5): coring's buffer paths against each other, tokio and iperf3, on
//! loopback, in one run, with ratios.
//!
//! ```text
//! cargo bench --bench zero_copy                # full: about two minutes
//! cargo bench --bench zero_copy -- --quick     # smoke run, a few seconds
//! cargo test --release --bench zero_copy       # the same smoke run, as `cargo test` runs it
//! ```
//!
//! * **streams**: one connection, 64 KiB and 1 MiB messages, sender and receiver on two threads
//!   pinned to two different cores, each with its own runtime. Paths: plain owned buffers
//!   (`write_all`/`read` of a reused `Vec`), registered buffers (`write_fixed`/`read_fixed`),
//!   buffer-ring receive (`write_all` → `recv_stream`), `send_zc` of a `Vec` and of a registered
//!   buffer (→ `read`), tokio (`write_all`/`read`), and `iperf3 -l SIZE` when it is installed
//!   (not needed: the row is skipped otherwise). Throughput in GB/s (10^9 B) and bytes per
//!   CPU-second, CPU being the user+system time of both threads (`CLOCK_THREAD_CPUTIME_ID`),
//!   or of both iperf3 processes (`RUSAGE_CHILDREN`). Best of several runs.
//! * **echo**: 500 connections doing 1 KiB ping-pong against a server on one core that reads
//!   with plain `read` into a 16 KiB buffer per connection, or through a shared buffer ring
//!   (`recv_stream`, the chunk written straight back). Requests/s and server CPU per request.
//! * **idle memory**: a server child process (this binary, `--child idle <plain|ring>`) takes
//!   2,000 connections, serves one 16 KiB request on each, then holds them idle. Its `VmRSS`
//!   after, minus before, over 2,000. The ring's own memory (64 x 16 KiB) is counted in "after".

use coring::buf::{BufRing, FixedBufPool, IoBuf};
use coring::net::{TcpListener, TcpStream};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::thread::JoinHandleExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

const KIB: usize = 1024;
const ECHO_MSG: usize = 1024;
const ECHO_BUF: usize = 16 * KIB;
const IDLE_REQUEST: usize = 16 * KIB;
const IDLE_RING: u16 = 64;

struct Plan {
    stream_secs: f64,
    reps: usize,
    /// How long to wait for other processes to leave our cores before each round.
    quiet_wait: Duration,
    echo_conns: usize,
    echo_warm: Duration,
    echo_window: Duration,
    echo_reps: usize,
    idle_conns: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Plain,
    Fixed,
    Ring,
    SendZc,
    SendZcFixed,
    Tokio,
}

impl Path {
    const ALL: [Path; 6] = [
        Path::Plain,
        Path::Fixed,
        Path::Ring,
        Path::SendZc,
        Path::SendZcFixed,
        Path::Tokio,
    ];
    fn label(self) -> &'static str {
        match self {
            Path::Plain => "coring write_all/read (Vec)",
            Path::Fixed => "coring write_fixed/read_fixed",
            Path::Ring => "coring write_all/recv_stream (ring)",
            Path::SendZc => "coring send_zc(Vec)/read",
            Path::SendZcFixed => "coring send_zc(FixedBuf)/read",
            Path::Tokio => "tokio write_all/read",
        }
    }
}

/// Bytes moved, wall time and CPU time of one stream run.
#[derive(Clone, Copy, Default)]
struct Run {
    bytes: u64,
    secs: f64,
    cpu: f64,
    /// CPUs' worth of time other processes took on our two cores meanwhile.
    others: f64,
}

impl Run {
    fn gbps(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e9
    }
    fn per_cpu(&self) -> f64 {
        self.bytes as f64 / self.cpu
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        idle_server(args.get(2).map(String::as_str) == Some("ring"));
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) this is a smoke run.
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let plan = if quick {
        Plan {
            stream_secs: 0.1,
            reps: 1,
            quiet_wait: Duration::ZERO,
            echo_conns: 500,
            echo_warm: Duration::from_millis(100),
            echo_window: Duration::from_millis(250),
            echo_reps: 1,
            idle_conns: 200,
        }
    } else {
        Plan {
            stream_secs: 1.0,
            reps: 5,
            quiet_wait: Duration::from_secs(10),
            echo_conns: 500,
            echo_warm: Duration::from_millis(500),
            echo_window: Duration::from_secs(2),
            echo_reps: 3,
            idle_conns: 2000,
        }
    };
    let cpus = allowed_cpus();
    let cores = (cpus[0], *cpus.get(1).unwrap_or(&cpus[0]));
    let started = Instant::now();
    println!(
        "zero_copy bench ({}): receiver/server on cpu {}, sender/client on cpu {}; kernel {}; \
         load average {}",
        if quick { "quick" } else { "full" },
        cores.0,
        cores.1,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        loadavg()
    );

    println!("\n## Streams over loopback (best of {})\n", plan.reps);
    println!(
        "| message | path | GB/s | GB per CPU-s | vs plain | vs tokio | vs iperf3 | CPU eff. \
         vs iperf3 | others' CPU |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for size in [64 * KIB, 1024 * KIB] {
        let mut best = [Run::default(); 6];
        for _ in 0..plan.reps {
            wait_for_quiet(cores, plan.quiet_wait);
            for (i, path) in Path::ALL.into_iter().enumerate() {
                let probe = Probe::now(cores);
                let mut run = stream_run(path, size, plan.stream_secs, cores);
                run.others = probe.others(cores);
                if best[i].bytes == 0 || run.gbps() > best[i].gbps() {
                    best[i] = run;
                }
            }
        }
        let iperf = (0..plan.reps)
            .filter_map(|_| {
                wait_for_quiet(cores, plan.quiet_wait);
                let probe = Probe::now(cores);
                let mut run = iperf3(size, plan.stream_secs, cores, quick)?;
                run.others = probe.others(cores);
                Some(run)
            })
            .max_by(|a, b| a.gbps().total_cmp(&b.gbps()));
        let (plain, tokio) = (best[0], best[5]);
        let ratio =
            |a: f64, b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}x", a / b));
        for (i, path) in Path::ALL.into_iter().enumerate() {
            let r = best[i];
            println!(
                "| {} KiB | {} | {:.2} | {:.2} | {} | {} | {} | {} | {:.2} |",
                size / KIB,
                path.label(),
                r.gbps(),
                r.per_cpu() / 1e9,
                ratio(r.gbps(), Some(plain.gbps())),
                ratio(r.gbps(), Some(tokio.gbps())),
                ratio(r.gbps(), iperf.map(|i| i.gbps())),
                ratio(r.per_cpu(), iperf.map(|i| i.per_cpu())),
                r.others,
            );
        }
        match iperf {
            Some(r) => println!(
                "| {} KiB | iperf3 -l {}K (kernel reference) | {:.2} | {:.2} | {} | {} | 1.00x | \
                 1.00x | {:.2} |",
                size / KIB,
                size / KIB,
                r.gbps(),
                r.per_cpu() / 1e9,
                ratio(r.gbps(), Some(plain.gbps())),
                ratio(r.gbps(), Some(tokio.gbps())),
                r.others,
            ),
            None => println!(
                "| {} KiB | iperf3 | not installed | | | | | | |",
                size / KIB
            ),
        }
    }

    println!(
        "\n## Echo, {} connections, {} B ping-pong, server on one core (best of {})\n",
        plan.echo_conns, ECHO_MSG, plan.echo_reps
    );
    println!(
        "| server read path | requests/s | server CPU µs/request | vs plain (req/s) | vs plain \
         (CPU/request) | others' CPU |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    // Alternating runs, the best of each (by requests/s) kept.
    let (mut plain, mut ring) = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0));
    for _ in 0..plan.echo_reps {
        for (use_ring, best) in [(false, &mut plain), (true, &mut ring)] {
            wait_for_quiet(cores, plan.quiet_wait);
            let run = echo_run(use_ring, &plan, cores);
            if run.0 > best.0 {
                *best = run;
            }
        }
    }
    for (name, r) in [
        ("plain read, 16 KiB Vec per connection", plain),
        ("recv_stream, shared ring 512 x 16 KiB", ring),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2}x | {:.2}x | {:.2} |",
            r.0,
            r.1 * 1e6,
            r.0 / plain.0,
            r.1 / plain.1,
            r.2
        );
    }

    println!(
        "\n## Server memory per idle connection ({} connections, one {} KiB request each)\n",
        plan.idle_conns,
        IDLE_REQUEST / KIB
    );
    println!("| server read path | VmRSS before | VmRSS after | bytes per connection | vs plain |");
    println!("|---|---:|---:|---:|---:|");
    let plain = idle_memory(false, plan.idle_conns);
    let ring = idle_memory(true, plan.idle_conns);
    for (name, (before, after)) in [
        ("plain read, 16 KiB Vec per connection", plain),
        ("recv_stream, shared ring 64 x 16 KiB", ring),
    ] {
        let per = (after.saturating_sub(before)) as f64 / plan.idle_conns as f64;
        let plain_per = (plain.1.saturating_sub(plain.0)) as f64 / plan.idle_conns as f64;
        println!(
            "| {name} | {} KiB | {} KiB | {:.0} | {:.2}x |",
            before / 1024,
            after / 1024,
            per,
            per / plain_per
        );
    }
    println!(
        "\ntotal time {:.1} s; load average at the end: {}",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
}

// ---------------------------------------------------------------------------------------------
// Streams

/// One connection, `size`-byte messages for `secs` seconds; receiver on `cores.0`, sender on
/// `cores.1`.
fn stream_run(path: Path, size: usize, secs: f64, cores: (usize, usize)) -> Run {
    let (addr_tx, addr_rx) = mpsc::channel();
    let receiver = thread::spawn(move || {
        pin_to(cores.0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        if path == Path::Tokio {
            tokio_rt().block_on(tokio_receive(listener, size))
        } else {
            coring::block_on(coring_receive(listener, path, size))
        }
    });
    let addr: SocketAddr = addr_rx.recv().unwrap();
    let sender = thread::spawn(move || {
        pin_to(cores.1);
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let cpu0 = thread_cpu();
        if path == Path::Tokio {
            tokio_rt().block_on(tokio_send(addr, size, deadline));
        } else {
            coring::block_on(coring_send(addr, path, size, deadline));
        }
        thread_cpu() - cpu0
    });
    let send_cpu = sender.join().expect("sender panicked");
    let (bytes, secs, recv_cpu) = receiver.join().expect("receiver panicked");
    Run {
        bytes,
        secs,
        cpu: send_cpu + recv_cpu,
        others: 0.0,
    }
}

fn message(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8 + 1).collect()
}

async fn coring_send(addr: SocketAddr, path: Path, size: usize, deadline: Instant) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let pool = matches!(path, Path::Fixed | Path::SendZcFixed)
        .then(|| FixedBufPool::new(2, size).expect("registering the send buffers"));
    let mut vec = message(size);
    let mut fixed = pool.as_ref().map(|pool| {
        let mut buf = pool.try_take().unwrap();
        buf.extend_from_slice(&vec);
        buf
    });
    while Instant::now() < deadline {
        match path {
            Path::Plain | Path::Ring => {
                let (r, buf) = stream.write_all(vec).await;
                r.unwrap();
                vec = buf;
            }
            Path::SendZc => {
                let mut done = 0;
                while done < size {
                    let (r, buf) = stream.send_zc(vec.slice(done..)).await;
                    vec = buf.into_inner();
                    done += r.unwrap();
                }
            }
            Path::Fixed | Path::SendZcFixed => {
                let mut buf = fixed.take().unwrap();
                let mut done = 0;
                while done < size {
                    let (r, slice) = if path == Path::Fixed {
                        stream.write_fixed(buf.slice(done..size)).await
                    } else {
                        stream.send_zc(buf.slice(done..size)).await
                    };
                    buf = slice.into_inner();
                    done += r.unwrap();
                }
                fixed = Some(buf);
            }
            Path::Tokio => unreachable!(),
        }
    }
    stream.shutdown(Shutdown::Write).await.unwrap();
}

/// Receives until end of file: `(bytes, seconds, CPU seconds)`, timed from the accept.
async fn coring_receive(
    listener: std::net::TcpListener,
    path: Path,
    size: usize,
) -> (u64, f64, f64) {
    let listener = TcpListener::from_std(listener).unwrap();
    let (stream, _) = listener.accept().await.unwrap();
    let (start, cpu0) = (Instant::now(), thread_cpu());
    let mut bytes = 0u64;
    match path {
        Path::Fixed => {
            let pool = FixedBufPool::new(2, size).expect("registering the receive buffers");
            let mut buf = pool.try_take().unwrap();
            loop {
                let (n, b) = stream.read_fixed(buf).await;
                buf = b;
                match n.unwrap() {
                    0 => break,
                    n => bytes += n as u64,
                }
            }
        }
        Path::Ring => {
            let entries = (4 * 1024 * KIB / size).clamp(16, 256) as u16;
            let ring = BufRing::new(entries.next_power_of_two(), size).unwrap();
            let mut chunks = stream.recv_stream(&ring);
            while let Some(chunk) = chunks.next().await {
                bytes += chunk.unwrap().len() as u64;
            }
        }
        _ => {
            let mut buf = Vec::with_capacity(size);
            loop {
                let (n, b) = stream.read(buf).await;
                buf = b;
                match n.unwrap() {
                    0 => break,
                    n => bytes += n as u64,
                }
            }
        }
    }
    (bytes, start.elapsed().as_secs_f64(), thread_cpu() - cpu0)
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn tokio_send(addr: SocketAddr, size: usize, deadline: Instant) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let msg = message(size);
    while Instant::now() < deadline {
        stream.write_all(&msg).await.unwrap();
    }
    stream.shutdown().await.unwrap();
}

async fn tokio_receive(listener: std::net::TcpListener, size: usize) -> (u64, f64, f64) {
    use tokio::io::AsyncReadExt;
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let (mut stream, _) = listener.accept().await.unwrap();
    let (start, cpu0) = (Instant::now(), thread_cpu());
    let mut buf = vec![0u8; size];
    let mut bytes = 0u64;
    loop {
        match stream.read(&mut buf).await.unwrap() {
            0 => break,
            n => bytes += n as u64,
        }
    }
    (bytes, start.elapsed().as_secs_f64(), thread_cpu() - cpu0)
}

/// iperf3 on loopback with the same message size and cores, if installed: the kernel's limit.
fn iperf3(size: usize, secs: f64, cores: (usize, usize), quick: bool) -> Option<Run> {
    Command::new("iperf3").arg("--version").output().ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port()
        .to_string();
    let ru0 = children_cpu();
    let mut server = Command::new("iperf3")
        .args(["-s", "-1", "-p", &port, "-A", &cores.0.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    // Its output is block-buffered into a pipe, so watch the socket table instead.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !listening(port.parse().ok()?) {
        if Instant::now() > deadline {
            server.kill().ok();
            server.wait().ok();
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
    let length = format!("{}K", size / KIB);
    let amount: [String; 2] = if quick {
        ["-n".into(), "256M".into()]
    } else {
        ["-t".into(), format!("{}", secs.ceil().max(2.0) as u64)]
    };
    let out = Command::new("iperf3")
        .args([
            "-c",
            "127.0.0.1",
            "-p",
            &port,
            "-A",
            &cores.1.to_string(),
            "-l",
            &length,
            "-J",
        ])
        .args(&amount)
        .output()
        .ok()?;
    server.wait().ok()?;
    let cpu = children_cpu() - ru0;
    let json = String::from_utf8_lossy(&out.stdout);
    let received = &json[json.find("\"sum_received\"")?..];
    Some(Run {
        bytes: json_number(received, "bytes")? as u64,
        secs: json_number(received, "seconds")?,
        cpu,
        others: 0.0,
    })
}

/// Whether some socket listens on TCP `port` (`/proc/net/tcp{,6}`, state 0A).
fn listening(port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() > 3 && fields[1].ends_with(&suffix) && fields[3] == "0A"
            })
    })
}

/// The first number after `"key":` in `text`.
fn json_number(text: &str, key: &str) -> Option<f64> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find([',', '}', '\n']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Echo at 500 connections

/// `(requests per second, server CPU seconds per request, others' CPUs)`.
fn echo_run(ring: bool, plan: &Plan, cores: (usize, usize)) -> (f64, f64, f64) {
    let conns = plan.echo_conns;
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = thread::spawn(move || {
        pin_to(cores.0);
        coring::block_on(echo_server(ring, conns, addr_tx));
    });
    let addr: SocketAddr = addr_rx.recv().unwrap();
    let (count, connected, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let client = {
        let (count, connected, stop) = (count.clone(), connected.clone(), stop.clone());
        thread::spawn(move || {
            pin_to(cores.1);
            coring::block_on(echo_clients(addr, conns, count, connected, stop));
        })
    };
    while connected.load(Ordering::SeqCst) < conns {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(plan.echo_warm);
    let server_thread = server.as_pthread_t();
    let probe = Probe::now(cores);
    let (n0, cpu0, t0) = (
        count.load(Ordering::SeqCst),
        pthread_cpu(server_thread),
        Instant::now(),
    );
    thread::sleep(plan.echo_window);
    let (n1, cpu1, secs) = (
        count.load(Ordering::SeqCst),
        pthread_cpu(server_thread),
        t0.elapsed().as_secs_f64(),
    );
    let others = probe.others(cores);
    stop.store(true, Ordering::SeqCst);
    client.join().expect("echo clients panicked");
    server.join().expect("echo server panicked");
    let requests = (n1 - n0) as f64;
    (requests / secs, (cpu1 - cpu0) / requests, others)
}

async fn echo_server(ring: bool, conns: usize, addr_tx: mpsc::Sender<SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    addr_tx.send(listener.local_addr().unwrap()).unwrap();
    let buffers = BufRing::new(512, ECHO_BUF).unwrap();
    let mut incoming = listener.incoming();
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let stream = incoming.next().await.unwrap().unwrap();
        let buffers = buffers.clone();
        tasks.push(coring::spawn(async move {
            if ring {
                let mut chunks = stream.recv_stream(&buffers);
                while let Some(Ok(chunk)) = chunks.next().await {
                    if stream.write_all(chunk).await.0.is_err() {
                        break;
                    }
                }
            } else {
                let mut buf = Vec::with_capacity(ECHO_BUF);
                loop {
                    let (n, b) = stream.read(buf).await;
                    let n = match n {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let (r, b) = stream.write_all(b.slice(..n)).await;
                    if r.is_err() {
                        break;
                    }
                    buf = b.into_inner();
                }
            }
        }));
    }
    drop(incoming);
    coring::task::join_all(tasks).await;
}

async fn echo_clients(
    addr: SocketAddr,
    conns: usize,
    count: Arc<AtomicU64>,
    connected: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let tasks = (0..conns).map(|_| {
        let (count, connected, stop) = (count.clone(), connected.clone(), stop.clone());
        coring::spawn(async move {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            connected.fetch_add(1, Ordering::SeqCst);
            let mut msg = vec![7u8; ECHO_MSG];
            let mut buf = Vec::with_capacity(ECHO_MSG);
            while !stop.load(Ordering::Relaxed) {
                let (r, m) = stream.write_all(msg).await;
                r.unwrap();
                msg = m;
                let mut got = 0;
                while got < ECHO_MSG {
                    buf.clear();
                    let (n, b) = stream.read(buf).await;
                    buf = b;
                    got += n.unwrap();
                }
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
    });
    coring::task::join_all(tasks.collect::<Vec<_>>()).await;
}

// ---------------------------------------------------------------------------------------------
// Memory per idle connection

/// `(VmRSS before, VmRSS after)` in bytes of a server child holding `conns` idle connections.
fn idle_memory(ring: bool, conns: usize) -> (u64, u64) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--child", "idle", if ring { "ring" } else { "plain" }])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port: u16 = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    thread::sleep(Duration::from_millis(100));
    let before = vm_rss(child.id());
    let request = vec![1u8; IDLE_REQUEST];
    let clients: Vec<std::net::TcpStream> = (0..conns)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(&request).unwrap();
            c
        })
        .collect();
    for mut c in &clients {
        let mut ack = [0u8; 1];
        c.read_exact(&mut ack).unwrap();
    }
    thread::sleep(Duration::from_millis(300));
    let after = vm_rss(child.id());
    drop(clients);
    child.kill().ok();
    child.wait().ok();
    (before, after)
}

/// The idle server: one task per connection; each reads a 16 KiB request, answers one byte, and
/// waits for more (plain: with its own 16 KiB buffer; ring: holding no buffer).
fn idle_server(ring: bool) {
    coring::block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let buffers = BufRing::new(IDLE_RING, IDLE_REQUEST).unwrap();
        println!("port {}", listener.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        let mut incoming = listener.incoming();
        while let Some(Ok(stream)) = incoming.next().await {
            let buffers = buffers.clone();
            coring::spawn(async move {
                let mut got = 0;
                let mut served = |n: usize| {
                    got += n;
                    let done = got >= IDLE_REQUEST;
                    if done {
                        got -= IDLE_REQUEST;
                    }
                    done
                };
                if ring {
                    let mut chunks = stream.recv_stream(&buffers);
                    while let Some(Ok(chunk)) = chunks.next().await {
                        let done = served(chunk.len());
                        drop(chunk);
                        if done {
                            stream.write_all(&b"k"[..]).await.0.ok();
                        }
                    }
                } else {
                    let mut buf = Vec::with_capacity(IDLE_REQUEST);
                    loop {
                        let (n, b) = stream.read(buf).await;
                        buf = b;
                        match n {
                            Ok(0) | Err(_) => break,
                            Ok(n) if served(n) => {
                                stream.write_all(&b"k"[..]).await.0.ok();
                            }
                            Ok(_) => {}
                        }
                    }
                }
            });
        }
    });
}

/// The 1-minute load average: other work on the machine skews every figure.
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().unwrap_or("?").to_string()
}

fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

// ---------------------------------------------------------------------------------------------
// CPUs and CPU time

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: passes the set's real size; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET only reads bit `cpu` of the set, `cpu` < CPU_SETSIZE.
        .filter(|&cpu| rc == 0 && unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        vec![0]
    } else {
        cpus
    }
}

fn pin_to(cpu: usize) {
    // SAFETY: an all-zero cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET writes bit `cpu` (< CPU_SETSIZE, from allowed_cpus) of the set.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes the set's real size; pid 0 is the calling thread. Failure only costs pinning.
    let _ = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
}

fn clock_secs(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// CPU seconds (user + system) of the calling thread.
fn thread_cpu() -> f64 {
    clock_secs(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU seconds of another live thread of this process.
fn pthread_cpu(thread: libc::pthread_t) -> f64 {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: the thread is alive (its JoinHandle is held and not joined); writes one clockid.
    unsafe { libc::pthread_getcpuclockid(thread, &mut clock) };
    clock_secs(clock)
}

/// Busy time of our two cores (all processes) and this process's own CPU time (its threads and
/// waited-for children), to tell how much other processes took meanwhile.
#[derive(Clone, Copy)]
struct Probe {
    at: Instant,
    busy: f64,
    own: f64,
}

impl Probe {
    fn now(cores: (usize, usize)) -> Probe {
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let mut busy = 0.0;
        for line in stat.lines() {
            let mut fields = line.split_whitespace();
            let Some(cpu) = fields.next().and_then(|f| f.strip_prefix("cpu")) else {
                continue;
            };
            let Ok(cpu) = cpu.parse::<usize>() else {
                continue;
            };
            if cpu != cores.0 && cpu != cores.1 {
                continue;
            }
            let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
            // user nice system (idle iowait) irq softirq steal
            busy += [0, 1, 2, 5, 6, 7]
                .iter()
                .filter_map(|&i| v.get(i))
                .sum::<u64>() as f64
                / hz;
        }
        Probe {
            at: Instant::now(),
            busy,
            own: clock_secs(libc::CLOCK_PROCESS_CPUTIME_ID) + children_cpu(),
        }
    }

    /// CPUs' worth of time others used on our cores since `self` (10 ms resolution).
    fn others(&self, cores: (usize, usize)) -> f64 {
        let now = Probe::now(cores);
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-3);
        ((now.busy - self.busy) - (now.own - self.own)).max(0.0) / secs
    }
}

/// Waits up to `max` for a quarter second in which other processes use less than a fifth of a
/// CPU on our cores (the machine may be shared).
fn wait_for_quiet(cores: (usize, usize), max: Duration) {
    let deadline = Instant::now() + max;
    while Instant::now() < deadline {
        let probe = Probe::now(cores);
        thread::sleep(Duration::from_millis(250));
        if probe.others(cores) < 0.2 {
            return;
        }
    }
}

/// CPU seconds of waited-for child processes.
fn children_cpu() -> f64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: writes one rusage, which we pass.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
