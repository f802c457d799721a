//! compio with its io_uring driver (1024 entries, ring flags from [`crate::flags`]): `read`/
//! `write_all` with one owned `Vec` per connection.

use super::{
    plain_control_thread, ready, responses, take_requests, Proto, ECHO_BUF, HTTP_BUF, RESPONSE,
};
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::TcpStream;
use std::io;

pub fn run(proto: Proto) {
    let flags = crate::flags::PeerFlags::current();
    let runtime = flags.compio();
    let listener = super::std_listener();
    let port = listener.local_addr().expect("local_addr").port();
    plain_control_thread();
    ready(
        port,
        &format!("compio-{:?} {}", runtime.driver_type(), flags.of("compio")),
    );
    runtime.block_on(async move {
        let listener = compio::net::TcpListener::from_std(listener).expect("compio listener");
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    eprintln!("compio accept: {err}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            match proto {
                Proto::Echo => compio::runtime::spawn(super::watch(echo(stream))).detach(),
                Proto::Http => compio::runtime::spawn(super::watch(http(stream))).detach(),
            };
        }
    });
}

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(ECHO_BUF);
    loop {
        // A read appends to the buffer: clear it.
        buf.clear();
        let compio::BufResult(n, b) = stream.read(buf).await;
        if n? == 0 {
            return Ok(());
        }
        let compio::BufResult(written, b) = stream.write_all(b).await;
        written?;
        buf = b;
    }
}

async fn http(mut stream: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(HTTP_BUF);
    let mut pending = Vec::new();
    loop {
        buf.clear();
        let compio::BufResult(n, b) = stream.read(buf).await;
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
