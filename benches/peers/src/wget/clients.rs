//! The wget clients, one per runtime, as alike as their APIs allow: [`super::INFLIGHT`] tasks,
//! each looping over one fetch (connect, write the request, read until the end of the head,
//! drop the stream) under the runtime's own timeout of [`FETCH_TIMEOUT`].

use super::{count, timed_out, Head, WgetArgs, BUF, FETCH_TIMEOUT, GET};
use crate::conn::{fetch_coring, fetch_tokio};
use crate::servers::ENTRIES;
use std::io;
use std::net::SocketAddr;

pub fn coring(args: &WgetArgs) {
    let runtime = coring::Builder::new()
        .entries(ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("coring runtime: {err}"));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..args.inflight)
            .map(|i| {
                let addr = args.addr(i);
                coring::spawn(async move {
                    let mut buf = Vec::with_capacity(BUF);
                    loop {
                        let fetch = fetch_coring(addr, GET, buf);
                        let (result, b) = match coring::time::timeout(FETCH_TIMEOUT, fetch).await {
                            Ok(done) => done,
                            Err(_) => (Err(timed_out()), Vec::with_capacity(BUF)),
                        };
                        buf = b;
                        count(result);
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

/// [`coring`] with what a user writes: a `BufReader`, reading through the runtime's read pool.
pub fn coring_pool(args: &WgetArgs) {
    let runtime = coring::Builder::new()
        .entries(ENTRIES)
        .build()
        .unwrap_or_else(|err| panic!("coring runtime: {err}"));
    runtime.block_on(async {
        let tasks: Vec<_> = (0..args.inflight)
            .map(|i| {
                let addr = args.addr(i);
                coring::spawn(async move {
                    loop {
                        let fetch = fetch_coring_pool(addr);
                        let result = coring::time::timeout(FETCH_TIMEOUT, fetch)
                            .await
                            .unwrap_or_else(|_| Err(timed_out()));
                        count(result);
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

async fn fetch_coring_pool(addr: SocketAddr) -> io::Result<()> {
    let stream = coring::net::TcpStream::connect(addr).await?;
    stream.write_all(GET).await.0?;
    let mut reader = coring::io::BufReader::new(stream);
    let mut head = Head::default();
    loop {
        let chunk = reader.fill_buf().await?;
        let done = head.feed(chunk)?;
        let n = chunk.len();
        reader.consume(n);
        if done {
            return Ok(());
        }
    }
}

fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn tokio(args: &WgetArgs) {
    tokio_current_thread().block_on(async {
        let tasks: Vec<_> = (0..args.inflight)
            .map(|i| {
                let addr = args.addr(i);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; BUF];
                    loop {
                        let result =
                            tokio::time::timeout(FETCH_TIMEOUT, fetch_tokio(addr, GET, &mut buf))
                                .await
                                .unwrap_or_else(|_| Err(timed_out()));
                        count(result);
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

pub fn monoio(args: &WgetArgs) {
    let mut runtime = crate::flags::PeerFlags::current()
        .monoio(ENTRIES)
        .enable_timer()
        .build()
        .expect("monoio runtime");
    runtime.block_on(async {
        let tasks: Vec<_> = (0..args.inflight)
            .map(|i| {
                let addr = args.addr(i);
                monoio::spawn(async move {
                    let mut buf = Vec::with_capacity(BUF);
                    loop {
                        let fetch = fetch_monoio(addr, buf);
                        let (result, b) = match monoio::time::timeout(FETCH_TIMEOUT, fetch).await {
                            Ok(done) => done,
                            Err(_) => (Err(timed_out()), Vec::with_capacity(BUF)),
                        };
                        buf = b;
                        count(result);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
}

async fn fetch_monoio(addr: SocketAddr, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    let mut stream = match monoio::net::TcpStream::connect_addr(addr).await {
        Ok(stream) => stream,
        Err(err) => return (Err(err), buf),
    };
    if let (Err(err), _) = stream.write_all(GET).await {
        return (Err(err), buf);
    }
    let mut head = Head::default();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        match n.and_then(|n| head.feed(&buf[..n])) {
            Ok(true) => return (Ok(()), buf),
            Ok(false) => {}
            Err(err) => return (Err(err), buf),
        }
    }
}

pub fn compio(args: &WgetArgs) {
    let runtime = crate::flags::PeerFlags::current().compio();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..args.inflight)
            .map(|i| {
                let addr = args.addr(i);
                compio::runtime::spawn(async move {
                    let mut buf = Vec::with_capacity(BUF);
                    loop {
                        let fetch = fetch_compio(addr, buf);
                        let (result, b) = match compio::time::timeout(FETCH_TIMEOUT, fetch).await {
                            Ok(done) => done,
                            Err(_) => (Err(timed_out()), Vec::with_capacity(BUF)),
                        };
                        buf = b;
                        count(result);
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

async fn fetch_compio(addr: SocketAddr, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    use compio::io::{AsyncRead, AsyncWriteExt};
    let mut stream = match compio::net::TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return (Err(err), buf),
    };
    if let compio::BufResult(Err(err), _) = stream.write_all(GET).await {
        return (Err(err), buf);
    }
    let mut head = Head::default();
    loop {
        buf.clear();
        let compio::BufResult(n, b) = stream.read(buf).await;
        buf = b;
        match n.and_then(|n| head.feed(&buf[..n])) {
            Ok(true) => return (Ok(()), buf),
            Ok(false) => {}
            Err(err) => return (Err(err), buf),
        }
    }
}

pub fn glommio(args: &WgetArgs) {
    let addrs: Vec<SocketAddr> = (0..args.inflight).map(|i| args.addr(i)).collect();
    let handle = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .ring_depth(ENTRIES as usize)
        .spawn(move || async move {
            let tasks: Vec<_> = addrs
                .into_iter()
                .map(|addr| {
                    glommio::spawn_local(async move {
                        let mut buf = vec![0u8; BUF];
                        loop {
                            let fetch = async {
                                fetch_glommio(addr, &mut buf)
                                    .await
                                    .map_err(glommio::GlommioError::from)
                            };
                            let result = glommio::timer::timeout(FETCH_TIMEOUT, fetch)
                                .await
                                .map_err(|err| match err {
                                    glommio::GlommioError::TimedOut(_) => timed_out(),
                                    other => io::Error::other(other.to_string()),
                                });
                            count(result);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await;
            }
        })
        .expect("glommio executor");
    let _ = handle.join();
}

async fn fetch_glommio(addr: SocketAddr, buf: &mut [u8]) -> io::Result<()> {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let mut stream = glommio::net::TcpStream::connect(addr)
        .await
        .map_err(io::Error::from)?;
    stream.write_all(GET).await?;
    let mut head = Head::default();
    loop {
        let n = stream.read(buf).await?;
        if head.feed(&buf[..n])? {
            return Ok(());
        }
    }
}

pub fn tokio_uring(args: &WgetArgs) {
    let builder = crate::flags::PeerFlags::current().tokio_uring(ENTRIES);
    builder.start(async {
        let tasks: Vec<_> = (0..args.inflight)
            .map(|i| {
                let addr = args.addr(i);
                tokio_uring::spawn(async move {
                    let mut buf = Vec::with_capacity(BUF);
                    loop {
                        let fetch = fetch_tokio_uring(addr, buf);
                        let (result, b) = match tokio::time::timeout(FETCH_TIMEOUT, fetch).await {
                            Ok(done) => done,
                            Err(_) => (Err(timed_out()), Vec::with_capacity(BUF)),
                        };
                        buf = b;
                        count(result);
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

async fn fetch_tokio_uring(addr: SocketAddr, mut buf: Vec<u8>) -> (io::Result<()>, Vec<u8>) {
    let stream = match tokio_uring::net::TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return (Err(err), buf),
    };
    if let (Err(err), _) = stream.write_all(GET).await {
        return (Err(err), buf);
    }
    let mut head = Head::default();
    loop {
        buf.clear();
        let (n, b) = stream.read(buf).await;
        buf = b;
        match n.and_then(|n| head.feed(&buf[..n])) {
            Ok(true) => return (Ok(()), buf),
            Ok(false) => {}
            Err(err) => return (Err(err), buf),
        }
    }
}
