//! The seed's hello1/hello2: two tasks on one loop, each sleeping one second, concurrently.
//!
//! ```text
//! cargo run --release --example hello
//! ```
//!
//! Prints `Hello1 world!` and `Hello2 world!`, then about one second later (not two)
//! `Hello1 again!` and `Hello2 again!`, each with the name of the thread it ran on: the same one.

#[path = "common/backend.rs"]
mod backend;
use std::time::{Duration, Instant};

async fn hello(n: u32) {
    println!("Hello{n} world! ({})", thread_name());
    // Like `yield from asyncio.sleep(1)`: this task waits, the loop runs the other one.
    coring::time::sleep(Duration::from_secs(1)).await;
    println!("Hello{n} again! ({})", thread_name());
}

fn thread_name() -> String {
    let thread = std::thread::current();
    format!("{}, {:?}", thread.name().unwrap_or("unnamed"), thread.id())
}

fn main() {
    backend::report_fallback();
    let start = Instant::now();
    coring::block_on(async {
        let tasks = [coring::spawn(hello(1)), coring::spawn(hello(2))];
        for result in coring::task::join_all(tasks).await {
            result.expect("hello task failed");
        }
    });
    eprintln!("done in {:.2?}", start.elapsed());
}
