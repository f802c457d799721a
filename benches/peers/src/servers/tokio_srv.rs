//! tokio (epoll): `read` into a `&mut [u8]`, `write_all`; on the current-thread runtime, or
//! (`multi`) on the multi-thread runtime with one worker thread, the accept loop itself a task on
//! the worker (a second worker would only contend for the one pinned server CPU).

use super::{
    plain_control_thread, ready, responses, take_requests, Proto, ECHO_BUF, HTTP_BUF, RESPONSE,
};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn run(proto: Proto, multi: bool) {
    let runtime = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("tokio runtime");
    let listener = super::std_listener();
    let port = listener.local_addr().expect("local_addr").port();
    plain_control_thread();
    ready(
        port,
        if multi {
            "tokio-multi-thread-1-worker"
        } else {
            "tokio-current-thread"
        },
    );
    let serve = async move {
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
                Proto::Echo => tokio::spawn(super::watch(echo(stream))),
                Proto::Http => tokio::spawn(super::watch(http(stream))),
            };
        }
    };
    if multi {
        let _ = runtime.block_on(runtime.spawn(serve));
    } else {
        runtime.block_on(serve);
    }
}

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; ECHO_BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn http(mut stream: TcpStream) -> io::Result<()> {
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
            k => stream.write_all(&responses(k)).await?,
        }
    }
}
