//! R9, hostile peers against `examples/http_server.rs` (run as a user would: its own process,
//! with `--head-deadline-ms` and `--idle-timeout-ms` short so the test stays fast):
//!
//! * an endless header line: the server answers `400` once the head passes its 8 KiB limit and
//!   closes; 50 such peers at once leave its memory small;
//! * endless headers (many short lines): `400` at the 65th header (64 is the limit), long before
//!   the 8 KiB head limit;
//! * slowloris: 2,000 clients each sending one byte of a head every 300 ms; a normal keep-alive
//!   client's p99 with and without the crowd, the server's RSS, and how long until each slow
//!   client is evicted (`408` and close, at the head deadline);
//! * an idle keep-alive connection is closed at the idle timeout, and so is one whose client
//!   pipelines requests and never reads the responses.

mod common;

use common::examples::{build_example, start_server, Server};
use common::process::process_rss_bytes;
use common::{percentile, Watchdog};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The tests of this file one at a time: latencies and RSS are measured.
static SERIAL: Mutex<()> = Mutex::new(());

/// The server's limits (see `examples/common/http_head.rs`).
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn http_server(head_deadline_ms: u64, idle_timeout_ms: u64) -> Server {
    let program = build_example("http_server");
    start_server(
        &program,
        &[
            "--head-deadline-ms",
            &head_deadline_ms.to_string(),
            "--idle-timeout-ms",
            &idle_timeout_ms.to_string(),
        ],
    )
}

fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the http server");
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// What a flood of one connection came to.
#[derive(Debug)]
struct Flood {
    /// The status line the server answered with (empty if none).
    status: String,
    /// Bytes (or units) the client had written when the answer arrived.
    sent_at_answer: u64,
    /// Time from the first byte to the answer.
    answer_after: Duration,
    /// Whether the server closed the connection after answering (EOF or reset).
    closed: bool,
}

/// Sends `prefix`, then `unit` over and over (pausing `pace` every `units_per_pause` units),
/// until the server answers; reads the answer to the end of the connection. Gives up after
/// `cap` units or 10 s.
fn flood(port: u16, prefix: &[u8], unit: &[u8], pace: Duration, cap: u64) -> Flood {
    let mut writer = connect(port);
    let mut reader = writer.try_clone().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let (sent_r, answered_r) = (sent.clone(), answered.clone());
    let read_side = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut at = None;
        let mut chunk = [0u8; 4096];
        let closed = loop {
            match reader.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => {
                    if at.is_none() {
                        at = Some((sent_r.load(Ordering::SeqCst), start.elapsed()));
                        answered_r.store(true, Ordering::SeqCst);
                    }
                    answer.extend_from_slice(&chunk[..n]);
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
                Err(_) => break false, // timed out: still open
            }
        };
        answered_r.store(true, Ordering::SeqCst);
        let status = String::from_utf8_lossy(&answer)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        (status, at, closed)
    });
    let mut units = 0u64;
    if writer.write_all(prefix).is_ok() {
        while units < cap && !answered.load(Ordering::SeqCst) && start.elapsed().as_secs() < 10 {
            // Counted before the write: the server may answer, and the reader see it, before
            // this thread runs again after `write_all` returns (seen under load: 7 of 8 KiB).
            sent.store(units + 1, Ordering::SeqCst);
            if writer.write_all(unit).is_err() {
                break; // reset by the server
            }
            units += 1;
            if !pace.is_zero() {
                std::thread::sleep(pace);
            }
        }
    }
    let (status, at, closed) = read_side.join().unwrap();
    let (sent_at_answer, answer_after) = at.unwrap_or((units, start.elapsed()));
    Flood {
        status,
        sent_at_answer,
        answer_after,
        closed,
    }
}

#[test]
fn an_endless_header_line_gets_400_at_the_head_limit_and_memory_stays_small() {
    let _serial = serial();
    let _watchdog = Watchdog::new(120, "R9 (a): endless header line");
    let server = http_server(10_000, 30_000);

    // One peer, 1 KiB every millisecond: how far it gets before the answer.
    let one = flood(
        server.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ",
        &[b'a'; 1024],
        Duration::from_millis(1),
        64 * 1024,
    );
    let sent_kib = one.sent_at_answer;
    println!(
        "R9 (a): endless header line: {:?} after {sent_kib} KiB sent ({:?}); closed: {}",
        one.status, one.answer_after, one.closed
    );
    assert!(
        one.status.starts_with("HTTP/1.1 400"),
        "a 400 answer: {one:?}"
    );
    assert!(
        sent_kib as usize * 1024 >= MAX_HEAD && sent_kib < 1024,
        "answered past the 8 KiB head limit, before 1 MiB: {one:?}"
    );
    assert!(one.closed, "the server closes after the 400: {one:?}");

    // Fifty peers at once, as fast as they can, until the server resets them.
    let before = process_rss_bytes(server.pid()).unwrap();
    let start = Instant::now();
    let port = server.port;
    let peers: Vec<_> = (0..50)
        .map(|_| {
            std::thread::spawn(move || {
                flood(
                    port,
                    b"GET / HTTP/1.1\r\nX-Endless: ",
                    &[b'a'; 16 * 1024],
                    Duration::ZERO,
                    64 * 64, // 64 MiB at most
                )
            })
        })
        .collect();
    let floods: Vec<Flood> = peers.into_iter().map(|p| p.join().unwrap()).collect();
    let after = process_rss_bytes(server.pid()).unwrap();
    let most = floods.iter().map(|f| f.sent_at_answer).max().unwrap() * 16;
    println!(
        "R9 (a): 50 endless lines at once, in {:?}: all answered 400: {}; at most {most} KiB \
         written (into the socket buffers) before one saw its answer; server RSS {} -> {} KiB (+{} KiB)",
        start.elapsed(),
        floods.iter().all(|f| f.status.starts_with("HTTP/1.1 400")),
        before / 1024,
        after / 1024,
        (after as i64 - before as i64) / 1024
    );
    assert!(
        floods.iter().all(|f| f.status.starts_with("HTTP/1.1 400")),
        "every peer got its 400: {floods:?}"
    );
    assert!(
        after < before + (16 << 20),
        "the server's memory stayed small: {before} -> {after} bytes"
    );
    assert_still_serves(server.port);
}

#[test]
fn endless_headers_get_400_at_the_header_count_limit() {
    let _serial = serial();
    let _watchdog = Watchdog::new(120, "R9 (b): endless headers");
    let server = http_server(10_000, 30_000);

    // Exactly at the limit: Host + 63 more is fine, one more is not.
    for (headers, expected) in [
        (MAX_HEADERS, "HTTP/1.1 200"),
        (MAX_HEADERS + 1, "HTTP/1.1 400"),
    ] {
        let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".to_vec();
        for i in 2..headers {
            request.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        let mut stream = connect(server.port);
        stream.write_all(&request).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        println!(
            "R9 (b): {headers} headers ({} bytes): {:?}",
            request.len(),
            answer.lines().next()
        );
        assert!(
            answer.starts_with(expected),
            "{headers} headers: {answer:?}"
        );
    }

    // A flood of short header lines, one line per write.
    let flood = flood(
        server.port,
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        b"X-Flood: v\r\n",
        Duration::from_micros(200),
        1_000_000,
    );
    println!(
        "R9 (b): endless headers: {:?} after {} lines ({} bytes) sent ({:?}); closed: {}",
        flood.status,
        flood.sent_at_answer,
        flood.sent_at_answer * 12,
        flood.answer_after,
        flood.closed
    );
    assert!(
        flood.status.starts_with("HTTP/1.1 400"),
        "a 400 answer: {flood:?}"
    );
    assert!(
        flood.sent_at_answer as usize >= MAX_HEADERS - 1
            && (flood.sent_at_answer as usize) * 12 < 64 * MAX_HEAD,
        "answered at the header count limit, well before 64 heads' worth: {flood:?}"
    );
    assert!(flood.closed, "the server closes after the 400: {flood:?}");
    assert_still_serves(server.port);
}

/// One keep-alive request and its whole response; the time it took.
fn request(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    while !got.ends_with(b"Hello, world!") {
        let n = stream.read(&mut chunk).expect("the response");
        assert!(n > 0, "the server closed a keep-alive connection");
        got.extend_from_slice(&chunk[..n]);
    }
    start.elapsed()
}

/// `count` keep-alive requests on one connection (or fewer, if `limit` passes first).
fn latencies(port: u16, count: usize, limit: Duration) -> Vec<Duration> {
    let mut stream = connect(port);
    let start = Instant::now();
    let mut samples = Vec::with_capacity(count);
    while samples.len() < count && start.elapsed() < limit {
        samples.push(request(&mut stream));
        std::thread::sleep(Duration::from_micros(500));
    }
    samples
}

fn assert_still_serves(port: u16) {
    let mut stream = connect(port);
    request(&mut stream);
}

/// One slow client of the crowd.
struct Slow {
    stream: TcpStream,
    first_byte: Instant,
    sent: usize,
    evicted: Option<Duration>,
    got_408: bool,
}

const SLOW_CLIENTS: usize = 2_000;
const SLOW_PERIOD: Duration = Duration::from_millis(300);
const HEAD_DEADLINE_MS: u64 = 2_000;

#[test]
fn a_slowloris_crowd_is_evicted_at_the_head_deadline_and_does_not_slow_a_normal_client() {
    let _serial = serial();
    let _watchdog = Watchdog::new(120, "R9 (c): slowloris");
    let server = http_server(HEAD_DEADLINE_MS, 5_000);
    let deadline = Duration::from_millis(HEAD_DEADLINE_MS);

    let mut base = latencies(server.port, 1_000, Duration::from_secs(5));
    let base_p99 = percentile(&mut base, 99.0);
    let rss_before = process_rss_bytes(server.pid()).unwrap();

    // The crowd: each client sends the first byte of a head at once, then one more every 300 ms.
    let template = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec();
    let port = server.port;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let crowd = std::thread::spawn(move || {
        let mut crowd: Vec<Slow> = Vec::with_capacity(SLOW_CLIENTS);
        for _ in 0..SLOW_CLIENTS {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("a slow client");
            stream.write_all(&template[..1]).unwrap();
            stream.set_nonblocking(true).unwrap();
            crowd.push(Slow {
                stream,
                first_byte: Instant::now(),
                sent: 1,
                evicted: None,
                got_408: false,
            });
        }
        ready_tx.send(crowd[0].first_byte).unwrap();
        let give_up = Instant::now() + deadline + Duration::from_secs(15);
        let mut left = crowd.len();
        let mut answer = [0u8; 1024];
        while left > 0 && Instant::now() < give_up {
            for slow in crowd.iter_mut().filter(|s| s.evicted.is_none()) {
                let gone = match slow.stream.read(&mut answer) {
                    Ok(0) => true,
                    Ok(n) => {
                        slow.got_408 |= answer[..n].starts_with(b"HTTP/1.1 408");
                        true
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        let due = slow.first_byte + SLOW_PERIOD * slow.sent as u32;
                        if Instant::now() >= due {
                            let byte = template.get(slow.sent).copied().unwrap_or(b'a');
                            match slow.stream.write(&[byte]) {
                                Ok(n) => {
                                    slow.sent += n;
                                    false
                                }
                                Err(e) => e.kind() != ErrorKind::WouldBlock,
                            }
                        } else {
                            false
                        }
                    }
                    Err(_) => true,
                };
                if gone {
                    slow.evicted = Some(slow.first_byte.elapsed());
                    left -= 1;
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        crowd
    });
    let first_byte = ready_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the crowd connected");
    // Measured while the whole crowd is connected and trickling: until shortly before the first
    // slow client's deadline.
    let established = Instant::now();
    let window = (first_byte + deadline - Duration::from_millis(200))
        .saturating_duration_since(established)
        .min(deadline * 6 / 10);
    let mut loaded = latencies(server.port, 1_000, window);
    let loaded_p99 = percentile(&mut loaded, 99.0);
    let rss_peak = process_rss_bytes(server.pid()).unwrap();
    let fds_peak = common::process::process_open_fds(server.pid()).unwrap();
    let measured_within = established.elapsed();

    let crowd = crowd.join().unwrap();
    let mut evictions: Vec<Duration> = crowd.iter().filter_map(|s| s.evicted).collect();
    let evicted = evictions.len();
    let got_408 = crowd.iter().filter(|s| s.got_408).count();
    let max_sent = crowd.iter().map(|s| s.sent).max().unwrap();
    let first = *evictions.iter().min().unwrap_or(&Duration::ZERO);
    let median = percentile(&mut evictions, 50.0);
    let last = percentile(&mut evictions, 100.0);
    drop(crowd);
    std::thread::sleep(Duration::from_millis(300));
    let rss_after = process_rss_bytes(server.pid()).unwrap();
    println!(
        "R9 (c): slowloris, {SLOW_CLIENTS} clients, 1 byte / {SLOW_PERIOD:?}, head deadline \
         {deadline:?}: normal keep-alive p99 {base_p99:?} alone ({} requests), {loaded_p99:?} \
         with the crowd ({} requests in {measured_within:?}); server RSS {} KiB -> {} KiB with \
         the crowd ({} fds; {} B per slow client) -> {} KiB after; evicted {evicted}/{SLOW_CLIENTS} ({got_408} saw \
         the 408) after {first:?} (first) / {median:?} (median) / {last:?} (last) from their \
         first byte; at most {max_sent} bytes sent by one slow client",
        base.len(),
        loaded.len(),
        rss_before / 1024,
        rss_peak / 1024,
        fds_peak,
        (rss_peak as i64 - rss_before as i64) / SLOW_CLIENTS as i64,
        rss_after / 1024,
    );
    assert!(
        loaded.len() >= 100,
        "enough requests measured: {}",
        loaded.len()
    );
    assert!(
        fds_peak > SLOW_CLIENTS,
        "the crowd was held while measuring: {fds_peak} fds"
    );
    assert!(
        loaded_p99 < Duration::from_millis(100),
        "a normal client stays fast beside the crowd: p99 {loaded_p99:?}"
    );
    assert_eq!(evicted, SLOW_CLIENTS, "every slow client is evicted");
    assert!(
        got_408 * 10 >= SLOW_CLIENTS * 9,
        "slow clients are told 408: {got_408}"
    );
    assert!(
        first >= deadline - Duration::from_millis(50) && last <= deadline + Duration::from_secs(2),
        "evicted at the head deadline (not before, not long after): {first:?}..{last:?}"
    );
    // About 3 KiB each (task, socket, a 1 KiB read buffer) since the example's buffers start
    // small; 10 KiB each when every connection reserved 16 + 4 KiB up front.
    assert!(
        rss_peak < rss_before + SLOW_CLIENTS as u64 * 6 * 1024,
        "a slow client holds little server memory: {rss_before} -> {rss_peak} bytes"
    );
    assert_still_serves(server.port);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let _serial = serial();
    let _watchdog = Watchdog::new(60, "R9: idle timeout");
    let idle = Duration::from_millis(1_000);
    let server = http_server(10_000, idle.as_millis() as u64);
    for requests in [0, 1] {
        let mut stream = connect(server.port);
        for _ in 0..requests {
            request(&mut stream);
        }
        let start = Instant::now();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        let took = start.elapsed();
        println!(
            "R9: idle timeout {idle:?}: closed {took:?} after {requests} request(s), {} bytes",
            rest.len()
        );
        assert!(rest.is_empty(), "an idle close sends nothing: {rest:?}");
        assert!(
            took >= idle - Duration::from_millis(50) && took < idle + Duration::from_secs(2),
            "closed at the idle timeout: {took:?}"
        );
    }
}

/// Open fds of process `pid`.
fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

#[test]
fn a_client_that_never_reads_its_responses_is_closed_at_the_idle_timeout() {
    let _serial = serial();
    let _watchdog = Watchdog::new(60, "R9: a client that never reads");
    let idle = Duration::from_millis(1_000);
    let server = http_server(10_000, idle.as_millis() as u64);
    let before = fds_of(server.pid());
    let mut stream = connect(server.port);
    stream.set_nonblocking(true).unwrap();
    // Pipeline requests and read nothing, until the server stops taking them: its responses
    // have filled this socket's receive queue and its own send queue, so its write waits.
    let requests = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n".repeat(1000);
    let (mut sent, started) = (0usize, Instant::now());
    let mut last_progress = Instant::now();
    while last_progress.elapsed() < Duration::from_millis(300) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the server never stalled"
        );
        match stream.write(&requests) {
            Ok(n) => {
                sent += n;
                last_progress = Instant::now();
            }
            Err(err) if err.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(err) => panic!("the server went away before its writes stalled: {err}"),
        }
    }
    let stalled = Instant::now();
    assert_eq!(fds_of(server.pid()), before + 1, "the connection is open");
    // Still not reading: the server must give up on the write and close.
    while fds_of(server.pid()) > before {
        assert!(
            stalled.elapsed() < idle + Duration::from_secs(5),
            "the server still holds a connection whose client stopped reading"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    println!(
        "R9: a client that never reads: {sent} bytes of requests, closed {:?} after the stall",
        stalled.elapsed()
    );
}
