//! The wget clients (the echo load generator is `benches/harness/load.rs`, shared with
//! `benches/peers`).

use super::*;

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
