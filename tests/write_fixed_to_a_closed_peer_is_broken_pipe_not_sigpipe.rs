//! `TcpStream::write_fixed` to a peer that closed must fail with `BrokenPipe`, as every write
//! on a `TcpStream` does, even in a process where `SIGPIPE` kills (C hosts, children, programs
//! that restore the default). Before the fix it used `WRITE_FIXED`, a plain `write(2)`, and the
//! process died of `SIGPIPE` (issue 18, item 4). Run in a child with `SIGPIPE` at `SIG_DFL`.

mod common;

use common::process::{is_child, run_child};
use std::io;
use std::net::Shutdown;
use std::time::Duration;

const CHILD: &str = "CORING_WRITE_FIXED_SIGPIPE_CHILD";

#[test]
fn write_fixed_to_a_closed_peer_is_broken_pipe() {
    if !is_child(CHILD) {
        let run = run_child(
            "write_fixed_to_a_closed_peer_is_broken_pipe",
            &[(CHILD, "1")],
            Duration::from_secs(60),
        );
        assert!(
            run.status.success() && !run.timed_out,
            "the child failed ({:?}):\n{}",
            run.status,
            run.report()
        );
        assert!(run.stdout.contains("BrokenPipe"), "{}", run.report());
        return;
    }
    // SAFETY: restoring the default disposition has no memory-safety preconditions; the Rust
    // runtime set it to SIG_IGN at start-up, as a C host would not.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    coring::block_on(async {
        let pool = coring::buf::FixedBufPool::new(1, 4096).unwrap();
        let listener = coring::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = coring::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // A reset, so the very first write after it is EPIPE.
        server.set_linger(Some(Duration::ZERO)).unwrap();
        drop(server);
        coring::time::sleep(Duration::from_millis(100)).await;
        let _ = client.shutdown(Shutdown::Read).await;

        let mut buf = pool.try_take().unwrap();
        buf.extend_from_slice(b"hello");
        let mut kind = None;
        for _ in 0..10 {
            let (result, back) = client.write_fixed(buf).await;
            buf = back;
            if let Err(err) = result {
                kind = Some(err.kind());
                break;
            }
        }
        println!("write_fixed ended with {kind:?}");
        assert!(
            matches!(
                kind,
                Some(io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)
            ),
            "expected BrokenPipe, got {kind:?}"
        );
        // The reset was reported first; the next write is the broken pipe.
        let (result, _) = client.write_fixed(buf).await;
        let kind = result.unwrap_err().kind();
        println!("then {kind:?}");
        assert_eq!(kind, io::ErrorKind::BrokenPipe);
    });
}
