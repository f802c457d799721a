//! An axum `Router` with two routes, one answering JSON, served by hyper on coring (feature
//! `hyper`).
//!
//! ```text
//! cargo run --release --features hyper --example axum_hello -- [--addr 127.0.0.1:8080] [--workers N]
//! curl http://127.0.0.1:8080/
//! curl http://127.0.0.1:8080/json?name=coring
//! ```
//!
//! `axum::serve` needs tokio's reactor, but a `Router` is a tower service: hyper's connection
//! builder serves it over `coring::compat::hyper::HyperIo`, one task per connection, as in the
//! `hyper_server` example.

#[path = "common/args.rs"]
mod args;
#[path = "common/server.rs"]
mod server;
#[path = "common/shutdown.rs"]
mod shutdown;

use axum::extract::Query;
use axum::routing::get;
use axum::{Json, Router};
use coring::compat::hyper::{HyperIo, HyperTimer};
use coring::net::TcpStream;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tower_service::Service;

const USAGE: &str = "usage: axum_hello [--addr 127.0.0.1:8080] [--workers N]";

fn main() {
    let mut args = args::Args::from_env(USAGE);
    let addr: SocketAddr = args.value("--addr", "127.0.0.1:8080".parse().unwrap());
    let runtime = server::RuntimeOptions::from_args(&mut args);
    args.finish();
    server::run(
        "axum_hello",
        addr,
        &runtime,
        "axum on hyper",
        |_, listener| {
            // Each worker builds its own router: nothing is shared between cores.
            let router = app();
            server::accept_each(listener, move |stream| connection(stream, router.clone()))
        },
    );
}

/// The application: `/` says hello, `/json` answers a JSON object naming `?name=`.
fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, world!" }))
        .route("/json", get(greet))
}

async fn greet(Query(query): Query<HashMap<String, String>>) -> Json<serde_json::Value> {
    let name = query.get("name").map_or("world", String::as_str);
    Json(serde_json::json!({ "greeting": "hello", "name": name, "runtime": "coring" }))
}

async fn connection(stream: TcpStream, router: Router) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let service = service_fn(move |request| router.clone().call(request));
    let served = http1::Builder::new()
        .timer(HyperTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(HyperIo::new(stream), service)
        .await;
    match served {
        Err(err) if err.is_incomplete_message() => Ok(()),
        other => other.map_err(io::Error::other),
    }
}
