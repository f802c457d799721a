//! `#[coring::test]` and `#[coring::main]` as a user writes them: an async test body runs on a
//! coring runtime, `?` works with a declared return type, a panic still fails the test, and
//! `workers = N` runs the body once on every worker.

use std::sync::Mutex;
use std::time::Duration;

#[coring::test]
async fn an_async_test_runs_on_a_runtime_that_spawns_and_sleeps() {
    let task = coring::spawn(async {
        coring::time::sleep(Duration::from_millis(5)).await;
        21
    });
    assert_eq!(task.await.unwrap() * 2, 42);
}

#[coring::test]
async fn a_test_returning_a_result_can_use_the_question_mark() -> std::io::Result<()> {
    let listener = coring::net::TcpListener::bind("127.0.0.1:0")?;
    let client = coring::net::TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    client.write_all(b"ok".to_vec()).await.0?;
    let (n, buf) = server.read(Vec::with_capacity(8)).await;
    assert_eq!(&buf[..n?], b"ok");
    Ok(())
}

#[coring::test]
#[should_panic(expected = "inside the runtime")]
async fn a_panicking_async_test_fails() {
    coring::task::yield_now().await;
    panic!("inside the runtime");
}

static SEEN: Mutex<Vec<Option<usize>>> = Mutex::new(Vec::new());

#[coring::main(workers = 2)]
async fn record_the_worker() -> Result<(), String> {
    coring::task::yield_now().await;
    SEEN.lock().unwrap().push(coring::runtime::current_worker());
    Ok(())
}

#[coring::main(workers = 3)]
async fn fail_on_worker_two() -> Result<usize, String> {
    match coring::runtime::current_worker() {
        Some(2) => Err("worker 2 failed".to_owned()),
        Some(index) => Ok(index),
        None => Err("not on a worker".to_owned()),
    }
}

#[test]
fn main_with_workers_runs_the_body_once_on_every_worker() {
    record_the_worker().unwrap();
    let mut seen = SEEN.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, [Some(0), Some(1)]);
}

#[test]
fn main_with_workers_returns_the_first_workers_error() {
    assert_eq!(fail_on_worker_two(), Err("worker 2 failed".to_owned()));
}
