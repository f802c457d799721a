//! tokio's servers, and the HTTP request parsing every server shares.

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
        tokio::spawn(tokio_accept_loop(listener, proto));
        while rx.recv().await.is_some() {
            print_stats("");
        }
    });
}

async fn tokio_accept_loop(listener: std::net::TcpListener, proto: Proto) {
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(err) => {
                eprintln!("tokio accept: {err}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        match proto {
            Proto::Http => tokio::spawn(tokio_http(stream)),
            _ => tokio::spawn(tokio_echo(stream)),
        };
    }
}

async fn tokio_echo(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn tokio_http(mut stream: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; HTTP_BUF];
    let mut pending = Vec::new();
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        match take_requests(&mut pending, &buf[..n])? {
            0 => {}
            1 => stream.write_all(RESPONSE).await?,
            k => stream.write_all(&RESPONSE.repeat(k)).await?,
        }
    }
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
    runtime.block_on(tokio_accept_loop(listener, Proto::Echo));
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
                tokio_current_thread().block_on(tokio_accept_loop(listener, Proto::Echo));
            })
        })
        .collect();
    control_thread(|| print_stats(""));
    ready(port, "tokio-2x-current-thread");
    for thread in threads {
        let _ = thread.join();
    }
}

/// Appends `data` to `pending`, removes the complete request heads (up to a blank line) and
/// returns how many there were. A head longer than [`HEAD_MAX`] is `InvalidData`.
pub(crate) fn take_requests(pending: &mut Vec<u8>, data: &[u8]) -> io::Result<usize> {
    pending.extend_from_slice(data);
    let mut start = 0;
    let mut count = 0;
    while let Some(end) = head_end(&pending[start..]) {
        start += end;
        count += 1;
    }
    pending.drain(..start);
    if pending.len() > HEAD_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request head too long",
        ));
    }
    Ok(count)
}

/// The length of the head at the start of `data`, through its blank line, if it is complete.
pub(crate) fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| at + 4)
}

// --- the echo load generator ------------------------------------------------------------------
