//! tokio (epoll): `read` into a `&mut [u8]`, `write_all`; on the current-thread runtime, or
//! (`multi`) on the multi-thread runtime with one worker thread, the accept loop itself a task on
//! the worker (a second worker would only contend for the one pinned server CPU).

use super::{plain_control_thread, ready, Proto};
use crate::conn::{tokio_accept_loop, tokio_echo, tokio_http};

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
    let serve = tokio_accept_loop(listener, move |stream| {
        match proto {
            Proto::Echo => tokio::spawn(super::watch(tokio_echo(stream))),
            Proto::Http => tokio::spawn(super::watch(tokio_http(stream))),
        };
    });
    if multi {
        let _ = runtime.block_on(runtime.spawn(serve));
    } else {
        runtime.block_on(serve);
    }
}
