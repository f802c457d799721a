//! A task that never stops being ready (it loops on `yield_now` forever) must not starve the rest
//! of the loop: the runtime polls a bounded number of tasks per turn, then fires due timers and
//! services the ring. A 20 ms sleep still fires within about 100 ms, and I/O still completes.
//!
//! "Within" counts the runtime thread's CPU time, not wall time: a starved timer keeps the busy
//! thread spinning (its CPU time grows with the delay), while a loaded machine that takes the
//! core away for a while adds wall time only. The wall clock still checks that nothing fires
//! early.

mod common;

use common::{thread_cpu_time, Watchdog};
use coring::task::yield_now;
use coring::time::{sleep, Instant};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Spawns `n` tasks that yield forever, counting their polls.
fn spawn_busy(n: usize) -> Rc<Cell<u64>> {
    let spins = Rc::new(Cell::new(0u64));
    for _ in 0..n {
        let spins = spins.clone();
        coring::spawn(async move {
            loop {
                spins.set(spins.get() + 1);
                yield_now().await;
            }
        });
    }
    spins
}

#[test]
fn a_sleep_fires_on_time_beside_a_task_that_yields_forever() {
    let _watchdog = Watchdog::new(
        10,
        "a_sleep_fires_on_time_beside_a_task_that_yields_forever",
    );
    let runtime = coring::Runtime::new().unwrap();
    let (took, cpu, spins) = runtime.block_on(async {
        let spins = spawn_busy(1);
        let (start, cpu) = (Instant::now(), thread_cpu_time());
        sleep(Duration::from_millis(20)).await;
        (start.elapsed(), thread_cpu_time() - cpu, spins.get())
    });
    eprintln!(
        "the 20 ms sleep fired after {took:?} ({cpu:?} of CPU); the busy task spun {spins} times"
    );
    assert!(took >= Duration::from_millis(20));
    assert!(cpu < Duration::from_millis(100), "starved: {cpu:?} of CPU");
    assert!(spins > 0, "the busy task ran meanwhile");
}

#[test]
fn a_spawned_sleeper_fires_on_time_beside_many_busy_tasks() {
    let _watchdog = Watchdog::new(10, "a_spawned_sleeper_fires_on_time_beside_many_busy_tasks");
    let runtime = coring::Runtime::new().unwrap();
    let (took, cpu) = runtime.block_on(async {
        // More busy tasks than one turn's budget.
        let _spins = spawn_busy(1_000);
        coring::spawn(async {
            let (start, cpu) = (Instant::now(), thread_cpu_time());
            sleep(Duration::from_millis(20)).await;
            (start.elapsed(), thread_cpu_time() - cpu)
        })
        .await
        .unwrap()
    });
    eprintln!("the 20 ms sleep fired after {took:?} ({cpu:?} of CPU) beside 1,000 busy tasks");
    assert!(took >= Duration::from_millis(20));
    assert!(cpu < Duration::from_millis(100), "starved: {cpu:?} of CPU");
}

#[test]
fn an_interval_keeps_ticking_beside_a_busy_task() {
    let _watchdog = Watchdog::new(10, "an_interval_keeps_ticking_beside_a_busy_task");
    let runtime = coring::Runtime::new().unwrap();
    let (took, cpu) = runtime.block_on(async {
        let _spins = spawn_busy(1);
        let mut every = coring::time::interval(Duration::from_millis(10));
        let (start, cpu) = (Instant::now(), thread_cpu_time());
        for _ in 0..6 {
            every.tick().await;
        }
        (start.elapsed(), thread_cpu_time() - cpu)
    });
    // Ticks at 0, 10, ..., 50 ms.
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(cpu < Duration::from_millis(150), "starved: {cpu:?} of CPU");
}

#[test]
fn io_completes_beside_a_task_that_yields_forever() {
    let _watchdog = Watchdog::new(10, "io_completes_beside_a_task_that_yields_forever");
    let runtime = coring::Runtime::new().unwrap();
    let cpu = runtime.block_on(async {
        let _spins = spawn_busy(1);
        let cpu = thread_cpu_time();
        for _ in 0..100 {
            coring::runtime::nop().await.unwrap();
        }
        thread_cpu_time() - cpu
    });
    assert!(cpu < Duration::from_millis(500), "starved: {cpu:?} of CPU");
}

#[test]
fn a_socket_read_that_completes_later_is_not_starved_by_a_busy_task() {
    // Unlike a no-op (completed inline as it is submitted), a receive completes asynchronously,
    // when the data arrives: the kernel then has to be asked for completions even though the
    // loop never has a reason to wait.
    let _watchdog = Watchdog::new(
        60,
        "a_socket_read_that_completes_later_is_not_starved_by_a_busy_task",
    );
    let runtime = coring::Runtime::new().unwrap();
    let (n, cpu) = runtime.block_on(async {
        let socket = coring::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let sent = Arc::new(AtomicBool::new(false));
        let sender = std::thread::spawn({
            let sent = sent.clone();
            move || {
                std::thread::sleep(Duration::from_millis(20));
                let out = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                out.send_to(b"ping", addr).unwrap();
                sent.store(true, Ordering::Release);
            }
        });
        // The busy task notes the runtime thread's CPU time when it first sees the datagram
        // sent (loopback delivers it within `send_to`).
        let cpu_at_send = Rc::new(Cell::new(None));
        coring::spawn({
            let cpu_at_send = cpu_at_send.clone();
            async move {
                loop {
                    if cpu_at_send.get().is_none() && sent.load(Ordering::Acquire) {
                        cpu_at_send.set(Some(thread_cpu_time()));
                    }
                    yield_now().await;
                }
            }
        });
        // Timers are not starved (see above), so a timeout turns starvation into a failure; a
        // long one, as the sender thread may wait for a core that long on a loaded machine.
        let (n, buf) =
            coring::time::timeout(Duration::from_secs(30), socket.recv(Vec::with_capacity(16)))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "the datagram never came out of the ring while a task kept busy: starved"
                    )
                });
        let now = thread_cpu_time();
        sender.join().unwrap();
        let n = n.unwrap();
        assert_eq!(&buf[..n], b"ping");
        // Not noted: received before the busy task even ran again.
        (n, now - cpu_at_send.get().unwrap_or(now))
    });
    assert_eq!(n, 4);
    eprintln!("the datagram was received {cpu:?} of CPU after it was sent");
    assert!(cpu < Duration::from_millis(200), "starved: {cpu:?} of CPU");
}
