//! A thread's table of registered ring fds holds 16 rings. Twenty runtimes alive at once on one
//! thread all work: the first 16 enter their ring by its registered index, the others by the
//! plain fd. Dropping a runtime frees its entry in the table (else the ring would stay alive in
//! the kernel until the thread exits): twenty new runtimes get 16 entries again.

mod common;

use coring::net::{TcpListener, TcpStream};
use coring::Runtime;

/// The kernel's limit of registered ring fds per thread (`IO_RINGFD_REG_MAX`).
const TABLE: usize = 16;

/// One echo round trip over 127.0.0.1 and a timer, on `runtime`.
fn echo_on(runtime: &Runtime, tag: u8) {
    let got = runtime.block_on(async move {
        coring::time::sleep(std::time::Duration::from_millis(1)).await;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = coring::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let (n, buf) = stream.read(Vec::with_capacity(64)).await;
            n?;
            let (written, _) = stream.write_all(buf).await;
            written
        });
        let client = TcpStream::connect(addr).await?;
        let (written, _) = client.write_all(vec![tag; 16]).await;
        written?;
        let (n, buf) = client.read(Vec::with_capacity(64)).await;
        n?;
        server.await.expect("the echo task")?;
        std::io::Result::Ok(buf)
    });
    assert_eq!(got.unwrap(), vec![tag; 16], "runtime {tag}");
}

fn twenty_runtimes() -> usize {
    let runtimes: Vec<Runtime> = (0..20).map(|_| Runtime::new().unwrap()).collect();
    // Interleaved: each runtime runs while all the others are alive.
    for round in 0..2 {
        for (i, runtime) in runtimes.iter().enumerate() {
            echo_on(runtime, (round * 20 + i) as u8);
        }
    }
    runtimes
        .iter()
        .filter(|runtime| runtime.metrics().ring_fd_registered)
        .count()
}

#[test]
fn twenty_runtimes_on_one_thread_all_work() {
    if common::skip::io_uring_only("twenty_runtimes_on_one_thread_all_work") {
        return;
    }
    let _watchdog = common::Watchdog::new(60, "twenty_runtimes_on_one_thread_all_work");
    common::within(std::time::Duration::from_secs(50), || {
        if !Runtime::new().unwrap().metrics().ring_fd_registered {
            return common::skip::skipped(
                "twenty_runtimes_on_one_thread_all_work",
                "this kernel does not register ring fds (IORING_REGISTER_RING_FDS, 5.18)",
            );
        }
        assert_eq!(twenty_runtimes(), TABLE, "the first round");
        assert_eq!(
            twenty_runtimes(),
            TABLE,
            "the second round: dropped runtimes gave their table entries back"
        );
    });
}
