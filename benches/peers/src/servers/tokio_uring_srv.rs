//! tokio-uring (io_uring driver inside a tokio current-thread runtime, 1024 entries, ring flags
//! from [`crate::flags`]):
//! `read`/`write_all` with one owned `Vec` per connection.

use super::{
    plain_control_thread, ready, responses, take_requests, Proto, ECHO_BUF, ENTRIES, HTTP_BUF,
    RESPONSE,
};
use std::io;
use tokio_uring::net::TcpStream;

pub fn run(proto: Proto) {
    let listener = super::std_listener();
    let port = listener.local_addr().expect("local_addr").port();
    plain_control_thread();
    let flags = crate::flags::PeerFlags::current();
    ready(port, &format!("tokio-uring {}", flags.of("tokio-uring")));
    flags.tokio_uring(ENTRIES).start(async move {
        let listener = tokio_uring::net::TcpListener::from_std(listener);
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("tokio-uring accept: {err}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match proto {
                Proto::Echo => tokio_uring::spawn(super::watch(echo(stream))),
                Proto::Http => tokio_uring::spawn(super::watch(http(stream))),
            };
        }
    });
}

async fn echo(stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(ECHO_BUF);
    loop {
        // A read fills the buffer from its start but only ever extends its length: clear it.
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

async fn http(stream: TcpStream) -> io::Result<()> {
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
            k => stream.write_all(responses(k)).await.0?,
        }
    }
}
