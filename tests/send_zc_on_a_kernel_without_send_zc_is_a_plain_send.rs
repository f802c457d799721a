//! `SEND_ZC` came with Linux 6.0; coring runs from 5.11. On an older kernel the opcode is
//! unknown and the ring answers `EINVAL`: `TcpStream::send_zc` must not hand that to the user
//! but send as a plain `SEND`, the same bytes (as it does on epoll).
//!
//! The old kernel is scripted (`fault-injection`): the probe of the kernel's opcodes answers
//! `SEND_ZC` missing (`faults::hide_opcode`), and a `SEND_ZC` that reached the ring anyway
//! would be failed with `EINVAL`, as such a kernel does.

mod common;

use common::peer::{assert_same_bytes, read_to_end};
use common::Watchdog;
use coring::faults::{self, OpKind};
use coring::net::TcpStream;
use coring::{Backend, Runtime};

#[test]
fn send_zc_on_a_kernel_without_send_zc_is_a_plain_send() {
    let _dog = Watchdog::new(60, "send_zc on a kernel without SEND_ZC");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let runtime = Runtime::new().unwrap();
    let payload: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
    let expected = payload.clone();
    let sent = runtime.block_on(async {
        faults::hide_opcode(OpKind::SendZc);
        faults::fail_next_op(OpKind::SendZc, libc::EINVAL);
        let stream = TcpStream::connect(addr).await.unwrap();
        let (peer, _) = listener.accept().unwrap();
        let reader = read_to_end(peer);
        let mut rest = payload;
        let mut sent = 0;
        while !rest.is_empty() {
            let (n, buf) = stream.send_zc(rest).await;
            let n = n.expect("send_zc on a kernel without SEND_ZC");
            sent += n;
            rest = buf[n..].to_vec();
        }
        // The peer reads to the end: shut the direction down on the ring (a dropped stream's
        // close would wait for this thread's next turn, while it joins the reader).
        stream.shutdown(std::net::Shutdown::Write).await.unwrap();
        let got = reader.join().unwrap();
        assert_same_bytes("send_zc", &got, &expected);
        sent
    });
    assert_eq!(sent, expected.len());
    if runtime.metrics().backend == Backend::IoUring {
        // No `SEND_ZC` entry reached the ring: the scripted refusal is still waiting for one.
        assert_eq!(faults::pending().failed_ops, 1, "a SEND_ZC was submitted");
    }
    faults::clear();
}
