//! A user's waker is user code, and the driver must not run it while it is borrowed. Here a
//! waker's `Drop` drops another in-flight read: when the driver swaps that waker out (the op is
//! polled again with another waker), the read is abandoned, which needs the driver. Before the
//! fix the driver was still borrowed, the abandon panicked, and the unwinding freed the read's
//! buffer while the kernel still held it: the kernel's later write landed in freed memory. The
//! buffer here is a quarantine buffer, so a late write is counted instead of corrupting the heap;
//! the scenario still runs in a child process.

mod common;

use common::process::{is_child, run_child};
use common::quarantine::{check_quarantine, QuarantineBuf};
use common::Watchdog;
use coring::net::{TcpListener, TcpStream};
use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

const CHILD: &str = "CORING_WAKER_DROPS_OP_CHILD";

thread_local! {
    /// The in-flight read the waker below drops.
    static PARKED_READ: RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>> =
        const { RefCell::new(None) };
}

/// A waker whose `Drop` drops the parked read.
struct DropsTheParkedRead;

impl Wake for DropsTheParkedRead {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropsTheParkedRead {
    fn drop(&mut self) {
        let read = PARKED_READ.with(|r| r.borrow_mut().take());
        drop(read);
    }
}

#[test]
fn a_waker_dropping_an_in_flight_read_frees_nothing_the_kernel_holds() {
    if common::skip::io_uring_only(
        "a_waker_dropping_an_in_flight_read_frees_nothing_the_kernel_holds",
    ) {
        return;
    }
    if !is_child(CHILD) {
        let run = run_child(
            "a_waker_dropping_an_in_flight_read_frees_nothing_the_kernel_holds",
            &[(CHILD, "1")],
            Duration::from_secs(30),
        );
        assert!(
            run.status.success()
                && run.stdout.contains("swap panicked: false")
                && run.stdout.contains("late writes: 0"),
            "the child failed ({:?}, timed out: {}):\n{}",
            run.status,
            run.timed_out,
            run.report()
        );
        return;
    }
    let _watchdog = Watchdog::new(
        20,
        "a_waker_dropping_an_in_flight_read_frees_nothing_the_kernel_holds",
    );
    let before = check_quarantine();
    coring::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting = coring::spawn(TcpStream::connect(addr));
        let (server, _) = listener.accept().await.unwrap();
        let client = connecting.await.unwrap().unwrap();
        let mut noop = Context::from_waker(Waker::noop());

        // A read on the server side into a quarantine buffer, submitted, then parked.
        let mut parked: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
            let (_, _buf) = server.read(QuarantineBuf::new(64)).await;
            drop(server);
        });
        assert!(parked.as_mut().poll(&mut noop).is_pending());
        PARKED_READ.with(|r| *r.borrow_mut() = Some(parked));
        // A loop turn, so the kernel has the read (and holds the socket) from here on.
        coring::task::yield_now().await;

        // A read on the client side, polled first with the dropping waker, then with another:
        // the driver swaps the first waker out, and that drops the parked read.
        let mut read = Box::pin(client.read(vec![0u8; 64]));
        let dropping = Waker::from(Arc::new(DropsTheParkedRead));
        assert!(read
            .as_mut()
            .poll(&mut Context::from_waker(&dropping))
            .is_pending());
        drop(dropping);
        coring::task::yield_now().await;
        let swapped = catch_unwind(AssertUnwindSafe(|| read.as_mut().poll(&mut noop)));
        println!("swap panicked: {}", swapped.is_err());
        assert!(
            PARKED_READ.with(|r| r.borrow().is_none()),
            "the read was dropped"
        );

        // The peer sends: an abandoned (cancelled) read takes nothing; a read whose buffer was
        // freed but left in flight gets written into.
        let (written, _) = client.write_all(vec![0x5a_u8; 64]).await;
        written.unwrap();
        coring::time::sleep(Duration::from_millis(200)).await;
        drop(read);
    });
    println!("late writes: {}", check_quarantine() - before);
}
