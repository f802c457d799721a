//! The seed's generator-based producer/consumer, as two tasks talking over channels.
//!
//! ```text
//! cargo run --release --example producer_consumer
//! ```
//!
//! In the seed, `c.send(n)` hands a value to the consumer generator and resumes it; `yield r`
//! hands the reply back. Here the consumer is a task; the producer sends each value with its own
//! reply channel (a oneshot) over an mpsc channel, and waits for the reply. Dropping the sender is
//! `c.close()`: the consumer's `recv` returns `None` and it ends.

#[path = "common/backend.rs"]
mod backend;
use coring::sync::{mpsc, oneshot};

type Request = (u32, oneshot::Sender<&'static str>);

async fn consumer(mut requests: mpsc::Receiver<Request>) {
    while let Some((n, reply)) = requests.recv().await {
        println!("[CONSUMER] Consuming {n}...");
        // The producer waits for this reply; if it has gone away there is nobody to tell.
        let _ = reply.send("200 OK");
    }
}

async fn produce(consumer: mpsc::Sender<Request>) {
    for n in 1..=5 {
        println!("[PRODUCER] Producing {n}...");
        let (reply_tx, reply_rx) = oneshot::channel();
        consumer
            .send((n, reply_tx))
            .await
            .expect("the consumer stopped early");
        let r = reply_rx.await.expect("the consumer dropped a request");
        println!("[PRODUCER] Consumer return: {r} ");
    }
    // Dropping `consumer` here closes the channel, like the seed's `c.close()`.
}

fn main() {
    backend::report_fallback();
    coring::block_on(async {
        let (tx, rx) = mpsc::channel(1);
        let consumer = coring::spawn(consumer(rx));
        produce(tx).await;
        consumer.await.expect("consumer task failed");
    });
}
