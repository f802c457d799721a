//! `http_server --root DIR` serves the files under DIR (read through `coring::fs`): small and
//! multi-chunk files, `HEAD`, a directory's `index.html`, keep-alive; and nothing outside DIR,
//! no dotfile, `404` for what is missing.

mod common;

use common::examples::{build_example, start_server};
use common::{TempDir, Watchdog, Xorshift};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Reads one response: the head as text and the body (by `Content-Length`).
fn response(stream: &mut TcpStream, head_only: bool) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).expect("a response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0; if head_only { 0 } else { len }];
    stream.read_exact(&mut body).expect("the whole body");
    (head, body)
}

fn get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    response(&mut stream, false)
}

#[test]
fn http_server_serves_static_files_from_its_root_through_coring_fs() {
    let _dog = Watchdog::new(300, "static files");
    let root = TempDir::new("www");
    std::fs::write(root.join("hello.txt"), "hello, file\n").unwrap();
    let big = Xorshift::new(7).bytes(3 << 20); // several 256 KiB chunks
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/index.html"), "<h1>index</h1>").unwrap();
    std::fs::write(root.join(".secret"), "hidden").unwrap();
    // A file beside the root that a `..` must not reach.
    let outside = root.path().parent().unwrap().join(format!(
        "{}-outside.txt",
        root.path().file_name().unwrap().to_str().unwrap()
    ));
    std::fs::write(&outside, "outside").unwrap();

    let program = build_example("http_server");
    let server = start_server(&program, &["--root", root.path().to_str().unwrap()]);
    let port = server.port;

    let (head, body) = get(port, "/hello.txt");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("text/plain"), "{head}");
    assert_eq!(body, b"hello, file\n");

    let (head, body) = get(port, "/big.bin?version=2");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(body == big, "the 3 MiB file came back different");

    let (head, body) = get(port, "/sub/");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(body, b"<h1>index</h1>");

    let outside_name = outside.file_name().unwrap().to_str().unwrap();
    for path in [
        "/missing.txt".to_string(),
        "/.secret".to_string(),
        format!("/../{outside_name}"),
        format!("/sub/../../{outside_name}"),
    ] {
        let (head, _) = get(port, &path);
        assert!(head.starts_with("HTTP/1.1 404"), "{path}: {head}");
    }

    // Keep-alive: HEAD then GET on one connection.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (head, body) = response(&mut stream, true);
    assert!(head.contains("Content-Length: 12"), "{head}");
    assert!(body.is_empty());
    let (head, body) = response(&mut stream, false);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert_eq!(body, b"hello, file\n");
    let _ = std::fs::remove_file(outside);
}
