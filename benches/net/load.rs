//! The wget clients (their fetch is `benches/harness/conn.rs` and the echo load generator
//! `benches/harness/load.rs`, shared with `benches/peers`).

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
                    let (result, b) = fetch_coring(addr, GET, buf).await;
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
                    match fetch_tokio(addr, GET, &mut buf).await {
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
