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
    let runtime = coring::Builder::new()
        .entries(CORING_ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("{err}"));
    let (listener, port) = coring_listener();
    let (tx, mut rx) = coring::sync::mpsc::unbounded_channel::<()>();
    control_thread(move || {
        let _ = tx.send(());
    });
    ready(port, &runtime.ring_mode().to_string());
    runtime.block_on(async {
        let ring = (proto == Proto::EchoRing).then(|| {
            coring::buf::BufRing::new(RING_BUFFERS, ECHO_BUF).unwrap_or_else(|e| panic!("{e}"))
        });
        coring::spawn(coring_accept_loop(listener, move |stream| {
            match (proto, &ring) {
                (Proto::EchoRing, Some(ring)) => {
                    coring::spawn(coring_echo_ring(stream, ring.clone()))
                }
                (Proto::Http, _) => coring::spawn(coring_http(stream)),
                _ => coring::spawn(coring_echo(stream)),
            };
        }));
        while rx.recv().await.is_some() {
            let stats = runtime.metrics();
            print_stats(&format!(
                "enters={} completions={} pushed={}",
                stats.enters, stats.completions, stats.sqes_submitted
            ));
        }
    });
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
        let listener = coring::net::TcpListener::from_std(listener).expect("from_std");
        coring_accept_loop(listener, |stream| drop(coring::spawn(coring_echo(stream))))
    });
}
