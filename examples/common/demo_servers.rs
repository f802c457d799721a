//! The three little web sites `wget` serves itself when run with no arguments, so a first run
//! shows real output with no network: HTTP/1.0 servers on loopback ports, in the same runtime as
//! the client (spawned tasks), each answering with its own `Server` and a few more headers.

use super::http_date;
use coring::io::BufReader;
use coring::net::{TcpListener, TcpStream};
use std::io;

struct Site {
    status: &'static str,
    server: &'static str,
    headers: &'static str,
}

/// Shaped after the seed's three answers: a page, a redirect, a cached page.
const SITES: [Site; 3] = [
    Site {
        status: "200 OK",
        server: "coring-demo-news",
        headers: "Content-Type: text/html; charset=utf-8\r\nCache-Control: no-cache,no-store,private\r\nVary: Accept-Encoding\r\n",
    },
    Site {
        status: "302 Moved Temporarily",
        server: "coring-demo-portal",
        headers: "Content-Type: text/html\r\nLocation: https://www.example.com/\r\n",
    },
    Site {
        status: "200 OK",
        server: "coring-demo-search",
        headers: "Content-Type: text/html;charset=UTF-8\r\nCache-Control: max-age=60\r\nX-Cache: HIT from demo\r\n",
    },
];

/// Starts the three sites on `127.0.0.1` ports the kernel picks; returns their `host:port`s.
pub fn start() -> io::Result<Vec<String>> {
    SITES
        .iter()
        .map(|site| {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let host = listener.local_addr()?.to_string();
            drop(coring::spawn(serve(listener, site)));
            Ok(host)
        })
        .collect()
}

async fn serve(listener: TcpListener, site: &'static Site) {
    let mut incoming = listener.incoming();
    while let Some(stream) = incoming.next().await {
        if let Ok(stream) = stream {
            drop(coring::spawn(answer(stream, site)));
        }
    }
}

/// Reads the request head to its blank line (closing with unread input would reset the
/// connection), answers, and closes: HTTP/1.0 without keep-alive.
async fn answer(stream: TcpStream, site: &'static Site) -> io::Result<()> {
    let mut request = BufReader::new(stream);
    for _ in 0..100 {
        match request.next_line(8192).await? {
            Some(b"\r\n" | b"\n") | None => break,
            Some(_) => {}
        }
    }
    let body = format!("<html><body>{}</body></html>\n", site.server);
    let response = http_date::with_now(|date| {
        format!(
            "HTTP/1.0 {}\r\nServer: {}\r\nDate: {date}\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            site.status,
            site.server,
            site.headers,
            body.len()
        )
    });
    request.get_ref().write_all(response).await.0
}
