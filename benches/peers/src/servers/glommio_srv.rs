//! glommio (one `LocalExecutor`, ring depth 1024; sockets are readiness-based: POLL_ADD on the
//! ring, then the syscall): `read` into a `&mut [u8]`, `write_all` (futures-lite traits).

use super::{
    plain_control_thread, ready, responses, take_requests, Proto, ECHO_BUF, ENTRIES, HTTP_BUF,
    RESPONSE,
};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use std::io;

pub fn run(proto: Proto) {
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .ring_depth(ENTRIES as usize)
        .spawn(move || async move {
            let listener = TcpListener::bind("127.0.0.1:0").expect("glommio bind");
            let port = listener.local_addr().expect("local_addr").port();
            plain_control_thread();
            ready(port, "glommio");
            loop {
                let stream = match listener.accept().await {
                    Ok(stream) => stream,
                    Err(err) => {
                        eprintln!("glommio accept: {err}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                match proto {
                    Proto::Echo => glommio::spawn_local(super::watch(echo(stream))).detach(),
                    Proto::Http => glommio::spawn_local(super::watch(http(stream))).detach(),
                };
            }
        })
        .expect("glommio executor");
    handle.join().expect("glommio executor thread");
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
