//! On the epoll backend the ops waiting for one fd share its list of wakers. A second op's
//! first poll adds its waker to the list with a `Waker::clone`, which for a custom waker is
//! user code; if that clone panics, the waker already in the list (another task's) must still
//! be there, or that task is never woken when the datagram comes: a hang.

mod common;

use coring::net::UdpSocket;
use coring::{Backend, Builder};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Context;
use std::time::Duration;

#[test]
fn the_first_waiting_read_still_gets_its_datagram() {
    let _watchdog = common::Watchdog::new(60, "a read waiting on a shared fd");
    let runtime = Builder::new().backend(Backend::Epoll).build().unwrap();
    runtime.block_on(async {
        let receiver = std::rc::Rc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.connect(receiver.local_addr().unwrap()).unwrap();

        // A task that waits with its waker in the socket's list, polled again only when woken.
        let first = coring::spawn({
            let receiver = receiver.clone();
            async move { receiver.recv(vec![0u8; 64]).await }
        });
        for _ in 0..3 {
            coring::task::yield_now().await;
        }

        // A second read on the same socket, polled with a waker whose clone panics.
        let waker = common::waker::panicking_on_clone();
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let mut second = pin!(receiver.recv(vec![0u8; 64]));
            let _ = second.as_mut().poll(&mut Context::from_waker(&waker));
        }));
        assert!(unwound.is_err(), "the second read never cloned its waker");

        sender.send(b"ping".to_vec()).await.0.unwrap();
        let received = coring::time::timeout(Duration::from_secs(5), first).await;
        let (n, buf) = received
            .expect("the first read was never woken by its datagram")
            .unwrap();
        assert_eq!(&buf[..n.unwrap()], b"ping");
    });
}
