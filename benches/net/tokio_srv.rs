//! tokio's servers (their accept loop and handlers are `benches/harness/conn.rs`).

use super::*;

pub(crate) fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub(crate) fn tokio_server(proto: Proto) {
    let runtime = tokio_current_thread();
    let listener = listen(loopback(0), false);
    let port = listener.local_addr().expect("local_addr").port();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    control_thread(move || {
        let _ = tx.send(());
    });
    ready(port, "tokio-current-thread");
    runtime.block_on(async move {
        tokio::spawn(tokio_serve(listener, proto));
        while rx.recv().await.is_some() {
            print_stats("");
        }
    });
}

/// The accept loop of every tokio server: echo, or HTTP.
async fn tokio_serve(listener: std::net::TcpListener, proto: Proto) {
    tokio_accept_loop(listener, move |stream| {
        match proto {
            Proto::Http => tokio::spawn(tokio_http(stream)),
            _ => tokio::spawn(tokio_echo(stream)),
        };
    })
    .await;
}

pub(crate) fn tokio_multi_server() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let listener = listen(loopback(0), false);
    let port = listener.local_addr().expect("local_addr").port();
    control_thread(|| print_stats(""));
    ready(port, "tokio-multi-thread-2");
    runtime.block_on(tokio_serve(listener, Proto::Echo));
}

pub(crate) fn tokio_two_runtimes_server() {
    let first = listen(loopback(0), true);
    let port = first.local_addr().expect("local_addr").port();
    let second = listen(loopback(port), true);
    let threads: Vec<_> = [first, second]
        .into_iter()
        .enumerate()
        .map(|(core, listener)| {
            std::thread::spawn(move || {
                // Pinned like coring's workers (`pin_cores(true)`): worker N on CPU N.
                let _ = set_affinity(&cpu_set(&[core]));
                tokio_current_thread().block_on(tokio_serve(listener, Proto::Echo));
            })
        })
        .collect();
    control_thread(|| print_stats(""));
    ready(port, "tokio-2x-current-thread");
    for thread in threads {
        let _ = thread.join();
    }
}
