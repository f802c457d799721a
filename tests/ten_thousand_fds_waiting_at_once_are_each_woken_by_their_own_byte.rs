//! Adversary: 5,000 Unix pairs, a task waiting to read on one end of each (10,000 fds, each
//! with one waiter kept inline on epoll); a byte written to every other end must wake every
//! reader, none lost. Then the same readers wait again and are woken again, in reverse order.
//! Every backend.

mod common;

use common::{backends, Watchdog};
use coring::net::UnixStream;
use coring::time::timeout;
use std::rc::Rc;
use std::time::Duration;

const PAIRS: usize = 5_000;

#[test]
fn ten_thousand_fds_waiting_at_once_are_each_woken_by_their_own_byte() {
    let _dog = Watchdog::new(300, "10k fds waiting");
    for backend in backends() {
        let runtime = coring::Builder::new().backend(backend).build().unwrap();
        let woken = runtime.block_on(async {
            let mut writers = Vec::with_capacity(PAIRS);
            let mut tasks = Vec::with_capacity(PAIRS);
            for _ in 0..PAIRS {
                let (a, b) = UnixStream::pair().unwrap();
                let a = Rc::new(a);
                writers.push(b);
                tasks.push(coring::spawn(async move {
                    let mut got = 0;
                    for _ in 0..2 {
                        let (n, _) = a.read(vec![0u8; 4]).await;
                        if n.unwrap() == 1 {
                            got += 1;
                        }
                    }
                    got
                }));
            }
            for _ in 0..3 {
                coring::task::yield_now().await;
            }
            for writer in &writers {
                writer.write(vec![1u8]).await.0.unwrap();
            }
            for _ in 0..3 {
                coring::task::yield_now().await;
            }
            for writer in writers.iter().rev() {
                writer.write(vec![2u8]).await.0.unwrap();
            }
            let mut woken = 0;
            for task in tasks {
                woken += timeout(Duration::from_secs(30), task)
                    .await
                    .expect("a reader was never woken")
                    .unwrap();
            }
            woken
        });
        assert_eq!(woken, 2 * PAIRS, "{backend:?}: reads lost");
    }
}
