//! `http_server --root DIR`: answers `GET` and `HEAD` with the files under `DIR`, read through
//! `coring::fs` (open, `statx`, positional reads on the ring: nothing blocks the core).
//!
//! A path maps to `DIR/path` after dropping the query; a segment `..` (or any segment starting
//! with a dot) is refused with `404`, so nothing outside `DIR` (and no dotfile) is served. A
//! directory serves its `index.html`. Files go out in 256 KiB chunks, one buffer per
//! connection, so a large file costs no more memory than a small one. Keep-alive as in
//! HTTP/1.1 (`Connection: close` and HTTP/1.0 close); heads are at most 8 KiB.

use coring::buf::IoBuf;
use coring::fs::File;
use coring::net::TcpStream;
use coring::time::timeout;
use std::io;
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
/// Bytes of a file read and sent at a time.
const CHUNK: usize = 256 * 1024;

/// What a request head asked for.
struct Request {
    head_only: bool,
    path: String,
    close: bool,
}

/// Serves files from `root` on `stream` until the client closes, asks to close, or idles
/// longer than `idle`.
pub async fn connection(stream: TcpStream, root: PathBuf, idle: Duration) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut input: Vec<u8> = Vec::with_capacity(MAX_HEAD);
    let mut chunk = Vec::with_capacity(CHUNK);
    loop {
        let (request, used) = match parse(&input) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                if input.len() >= MAX_HEAD {
                    return reply(&stream, 400, "Bad Request", true).await;
                }
                let len = input.len();
                let read = std::pin::pin!(timeout(idle, stream.read(input.slice(len..))));
                let Some(Ok((read, back))) = super::shutdown::unless_stopped(len == 0, read).await
                else {
                    return Ok(()); // idle, or the server is stopping
                };
                input = back.into_inner();
                if read? == 0 {
                    return Ok(());
                }
                continue;
            }
            Err((status, reason)) => return reply(&stream, status, reason, true).await,
        };
        input.drain(..used);
        let file = match open(&root, &request.path).await {
            Ok(found) => found,
            Err((status, reason)) => {
                reply(&stream, status, reason, request.close).await?;
                if request.close {
                    return Ok(());
                }
                continue;
            }
        };
        let (file, len) = file;
        let connection = if request.close { "close" } else { "keep-alive" };
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: {}\r\n\
             Connection: {connection}\r\n\r\n",
            content_type(&request.path)
        );
        write(&stream, head.into_bytes(), idle).await?;
        if !request.head_only {
            let mut pos = 0;
            while pos < len {
                chunk.clear();
                let (read, back) = file.read_at(chunk, pos).await;
                chunk = back;
                match read? {
                    // The file shrank under us: the promised length cannot be kept, so close.
                    0 => return Ok(()),
                    n => pos += n as u64,
                }
                chunk = write(&stream, chunk, idle).await?;
            }
        }
        file.close().await?;
        if request.close {
            return stream.shutdown(Shutdown::Write).await;
        }
    }
}

/// Writes all of `buf`; a client that takes nothing for `idle` is given up on.
async fn write(stream: &TcpStream, buf: Vec<u8>, idle: Duration) -> io::Result<Vec<u8>> {
    match timeout(idle, stream.write_all(buf)).await {
        Ok((result, buf)) => result.map(|()| buf),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        )),
    }
}

/// A head at the front of `input`: `Ok(None)` if incomplete, `Err` with the status to send.
fn parse(input: &[u8]) -> Result<Option<(Request, usize)>, (u16, &'static str)> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    let used = match request.parse(input) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err((400, "Bad Request")),
    };
    let header = |name: &str| {
        let found = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name));
        found.map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    if header("content-length").is_some_and(|n| n.trim() != "0")
        || header("transfer-encoding").is_some()
    {
        return Err((400, "Bad Request")); // GET and HEAD carry no body here
    }
    let head_only = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Err((405, "Method Not Allowed")),
    };
    let connection = header("connection").unwrap_or_default();
    let close = match request.version {
        Some(1) => connection.contains("close"),
        _ => !connection.contains("keep-alive"),
    };
    let path = request.path.unwrap_or("/");
    let path = path.split('?').next().unwrap_or_default().to_owned();
    Ok(Some((
        Request {
            head_only,
            path,
            close,
        },
        used,
    )))
}

/// Opens the file `path` names under `root` (a directory's `index.html`), with its length.
async fn open(root: &Path, path: &str) -> Result<(File, u64), (u16, &'static str)> {
    let mut full = root.to_path_buf();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') {
            return Err((404, "Not Found"));
        }
        full.push(segment);
    }
    let status = |err: io::Error| match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => (404, "Not Found"),
        io::ErrorKind::PermissionDenied => (403, "Forbidden"),
        _ => (500, "Internal Server Error"),
    };
    let mut file = File::open(&full).await.map_err(status)?;
    let mut meta = file.metadata().await.map_err(status)?;
    if meta.is_dir() {
        file = File::open(full.join("index.html")).await.map_err(status)?;
        meta = file.metadata().await.map_err(status)?;
    }
    if !meta.is_file() {
        return Err((404, "Not Found"));
    }
    Ok((file, meta.len()))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// A bodiless-error response; closes the connection if `close`.
async fn reply(stream: &TcpStream, status: u16, reason: &str, close: bool) -> io::Result<()> {
    let connection = if close { "close" } else { "keep-alive" };
    let text = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{reason}",
        reason.len()
    );
    stream.write_all(text.into_bytes()).await.0?;
    if close {
        stream.shutdown(Shutdown::Write).await?;
    }
    Ok(())
}
