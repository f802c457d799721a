//! Addresses that cannot name a host are `InvalidInput` at once, with a short message, and
//! never reach the system resolver (no DNS query leaves for them): an empty bracketed host
//! (`"[]:80"`), a bracketed IPv4 address (`"[127.0.0.1]:80"`, which `bind` and std reject
//! too), and a host name longer than DNS allows (whose error must not repeat it in full).

use coring::net::{lookup_host, TcpListener, TcpStream};
use std::future::Future;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// `lookup_host(addr)` polled once: an address rejected before any lookup is ready at once
/// (the resolver runs on another thread, so a lookup would leave the first poll pending).
fn lookup_now(addr: &str) -> io::Error {
    let shown: String = addr.chars().take(80).collect();
    let mut lookup = pin!(lookup_host(addr));
    match lookup
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(addrs)) => panic!("{shown:?} resolved to {:?}", addrs.collect::<Vec<_>>()),
        Poll::Ready(Err(err)) => err,
        Poll::Pending => panic!("{shown:?} went to the resolver"),
    }
}

#[test]
fn an_empty_bracketed_host_is_invalid_input() {
    let err = lookup_now("[]:80");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("empty host"), "{err}");
    assert!(!err.to_string().contains("resolve"), "{err}");
}

#[test]
fn a_bracketed_ipv4_address_is_invalid_input_for_connect_as_for_bind() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bracketed = format!("[127.0.0.1]:{port}");
    assert!(
        TcpListener::bind(bracketed.as_str()).is_err(),
        "bind takes it"
    );
    let err = lookup_now(&bracketed);
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let connected = coring::block_on(TcpStream::connect(bracketed.as_str()));
    let err = connected.expect_err("connect took a bracketed IPv4 address");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    let connected = coring::block_on(TcpStream::connect(("[127.0.0.1]", port)));
    let err = connected.expect_err("connect took a bracketed IPv4 address and a port");
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn a_huge_host_name_is_invalid_input_with_a_short_message() {
    let huge = "a".repeat(100_000);
    for addr in [format!("{huge}:80"), format!("{huge}:http"), huge.clone()] {
        let err = lookup_now(&addr);
        let message = err.to_string();
        let shown: String = message.chars().take(200).collect();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{shown}");
        assert!(
            message.len() < 300,
            "a {}-byte message: {shown}...",
            message.len()
        );
    }
}
