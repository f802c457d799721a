//! Child processes: the dispatch of `--child`, coring's servers.

use super::*;

pub(crate) fn child(args: &[String]) {
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("child: missing argument {i} in {args:?}"))
    };
    let num = |i: usize| -> u64 {
        arg(i)
            .parse()
            .unwrap_or_else(|_| panic!("child: argument {i} of {args:?} is not a number"))
    };
    match arg(0) {
        "server" => server(arg(1)),
        "load" => load_echo(
            &LoadArgs::parse(&args[1..]),
            |pid| Probe::take(&[pid], true),
            Probe::fields_since,
        ),
        "wget" => {
            let addrs: Vec<SocketAddr> = arg(2)
                .split(',')
                .map(|a| a.parse().expect("wget address"))
                .collect();
            let run = WgetArgs {
                addrs,
                inflight: num(3) as usize,
                warmup: Duration::from_millis(num(4)),
                window: Duration::from_millis(num(5)),
                nginx: arg(6)
                    .split(',')
                    .map(|p| p.parse().expect("nginx pid"))
                    .collect(),
            };
            match arg(1) {
                "coring" => wget_coring(run),
                "tokio" => wget_tokio(run),
                other => panic!("unknown wget runtime {other}"),
            }
        }
        other => panic!("unknown child {other}"),
    }
}

/// What a connection handler does with its connection.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Proto {
    Echo,
    EchoRing,
    Http,
}

pub(crate) fn server(kind: &str) {
    match kind {
        "echo-coring" => coring_server(Proto::Echo),
        "echo-coring-ring" => coring_server(Proto::EchoRing),
        "http-coring" => coring_server(Proto::Http),
        "echo-tokio" => tokio_server(Proto::Echo),
        "http-tokio" => tokio_server(Proto::Http),
        "echo2-coring" => coring_multi_server(),
        "echo2-tokio-mt" => tokio_multi_server(),
        "echo2-tokio-ct" => tokio_two_runtimes_server(),
        "echo-raw" => raw_server(Proto::Echo, None),
        "http-raw" => raw_server(Proto::Http, None),
        // Experiments: wait for up to N completions, at most µs microseconds (`min_wait_usec`),
        // N,µs from $NET_BENCH_RAW_BATCH (default 32,50).
        "echo-raw-batch" => raw_server(Proto::Echo, Some(raw_batch())),
        "http-raw-batch" => raw_server(Proto::Http, Some(raw_batch())),
        other => panic!("unknown server {other}"),
    }
}

pub(crate) fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// --- coring servers ---------------------------------------------------------------------------

pub(crate) fn coring_server(proto: Proto) {
    use coring::net::{ListenOptions, TcpListener};
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("{err}"));
    let listener =
        TcpListener::bind_with("127.0.0.1:0", &ListenOptions::new().backlog(4096)).expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let (tx, mut rx) = coring::sync::mpsc::unbounded_channel::<()>();
    control_thread(move || {
        let _ = tx.send(());
    });
    ready(port, &runtime.ring_mode().to_string());
    runtime.block_on(async {
        let ring = (proto == Proto::EchoRing).then(|| {
            coring::buf::BufRing::new(RING_BUFFERS, ECHO_BUF).unwrap_or_else(|e| panic!("{e}"))
        });
        coring::spawn(async move {
            let mut incoming = listener.incoming();
            while let Some(stream) = incoming.next().await {
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(err) => {
                        eprintln!("coring accept: {err}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match (proto, &ring) {
                    (Proto::EchoRing, Some(ring)) => {
                        coring::spawn(coring_echo_ring(stream, ring.clone()))
                    }
                    (Proto::Http, _) => coring::spawn(coring_http(stream)),
                    _ => coring::spawn(coring_echo(stream)),
                };
            }
        });
        while rx.recv().await.is_some() {
            let stats = runtime.metrics();
            print_stats(&format!(
                "enters={} completions={} pushed={}",
                stats.enters, stats.completions, stats.sqes_submitted
            ));
        }
    });
}

/// Echo with one reused `Vec`: read what came, write it back.
async fn coring_echo(stream: coring::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(ECHO_BUF);
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let (written, b) = stream.write_all(b).await;
        written?;
        buf = b;
    }
}

/// Echo from a multishot receive into the shared buffer ring: each chunk is a `RingBuf`, written
/// back as it is (no copy) and handed back to the ring once the send is done.
async fn coring_echo_ring(
    stream: coring::net::TcpStream,
    ring: coring::buf::BufRing,
) -> io::Result<()> {
    let mut chunks = stream.recv_stream(&ring);
    while let Some(chunk) = chunks.next().await {
        let (written, chunk) = stream.write_all(chunk?).await;
        written?;
        drop(chunk);
    }
    Ok(())
}

async fn coring_http(stream: coring::net::TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(HTTP_BUF);
    let mut pending = Vec::new();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        if n? == 0 {
            return Ok(());
        }
        match take_requests(&mut pending, &buf)? {
            0 => {}
            1 => stream.write_all(RESPONSE).await.0?,
            k => stream.write_all(RESPONSE.repeat(k)).await.0?,
        }
    }
}

pub(crate) fn coring_multi_server() {
    use std::sync::{Arc, Mutex};
    let first = listen(loopback(0), true);
    let port = first.local_addr().expect("local_addr").port();
    let second = listen(loopback(port), true);
    let listeners = Arc::new(Mutex::new(vec![Some(first), Some(second)]));
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .workers(2)
        .pin_cores(true)
        .build_multi()
        .unwrap_or_else(|err| panic!("{err}"));
    control_thread(|| print_stats(""));
    ready(port, "coring-2-workers");
    runtime.run_on_all(move |worker| {
        let listener = listeners.lock().expect("listeners")[worker]
            .take()
            .expect("one listener per worker");
        async move {
            let listener = coring::net::TcpListener::from_std(listener).expect("from_std");
            let mut incoming = listener.incoming();
            while let Some(stream) = incoming.next().await {
                if let Ok(stream) = stream {
                    let _ = stream.set_nodelay(true);
                    coring::spawn(coring_echo(stream));
                }
            }
        }
    });
}
