//! The compat adapters promise that a write which returned `Ready(n)` has handed its `n` bytes
//! over, to be sent in order. After `shutdown` (tokio) or `close` (futures) no byte can be
//! sent any more, so a write must fail at once (as on a plain socket: `BrokenPipe`), not be
//! accepted and then dropped.

mod common;

use coring::compat::TokioIo;
use std::io::{self, ErrorKind};
use tokio::io::AsyncWriteExt;

#[coring::test]
async fn a_write_after_shutdown_fails_with_broken_pipe() -> io::Result<()> {
    let _watchdog = common::Watchdog::new(30, "compat write after shutdown");
    let (client, server) = common::tcp_pair().await;
    let mut client = TokioIo::new(client);
    client.write_all(b"last").await?;
    client.shutdown().await?;
    let late = client.write(b"late").await;
    let err = late.expect_err("a write after shutdown was accepted, its bytes can never be sent");
    assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
    assert!(err.to_string().contains("shut"), "unclear: {err}");
    // Nothing was broken by the refused write: shutting down again is still done.
    client.shutdown().await?;
    client.flush().await?;
    let mut got = Vec::new();
    loop {
        let (n, buf) = server.read(Vec::with_capacity(16)).await;
        match n? {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(got, b"last");
    Ok(())
}
