//! `net::lookup_host` resolves names from `/etc/hosts` (here `localhost`) on the blocking pool
//! without blocking the core, parses literal addresses directly, and reports an unresolvable
//! name with an error naming the host. (This machine has no DNS beyond `/etc/hosts`; every
//! lookup is bounded by a timeout anyway.)

use coring::net::lookup_host;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// Generous: a resolver that tries a real DNS server may take a few seconds to give up.
const RESOLVE_LIMIT: Duration = Duration::from_secs(20);

async fn bounded<A: coring::net::ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    match coring::time::timeout(RESOLVE_LIMIT, lookup_host(addr)).await {
        Ok(result) => result.map(Iterator::collect),
        Err(_) => panic!("the lookup still runs after {RESOLVE_LIMIT:?}"),
    }
}

fn assert_loopback(addrs: &[SocketAddr], port: u16) {
    assert!(!addrs.is_empty(), "localhost resolved to no address");
    for addr in addrs {
        assert!(addr.ip().is_loopback(), "{addr} is not a loopback address");
        assert_eq!(addr.port(), port);
    }
}

#[test]
fn localhost_resolves_to_loopback_addresses() {
    coring::block_on(async {
        assert_loopback(&bounded("localhost:80").await.unwrap(), 80);
        assert_loopback(&bounded(("localhost", 8080)).await.unwrap(), 8080);
        assert_loopback(&bounded(String::from("localhost:443")).await.unwrap(), 443);
        assert_loopback(&bounded((String::from("localhost"), 1)).await.unwrap(), 1);
        let owned = String::from("localhost:2");
        assert_loopback(&bounded(&owned).await.unwrap(), 2);
    });
}

#[test]
fn literal_addresses_resolve_to_themselves() {
    coring::block_on(async {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(bounded("127.0.0.1:80").await.unwrap(), [v4]);
        assert_eq!(bounded("[::1]:80").await.unwrap(), [v6]);
        assert_eq!(bounded(v6).await.unwrap(), [v6]);
        assert_eq!(bounded(&[v4, v6][..]).await.unwrap(), [v4, v6]);
    });
}

#[test]
fn an_unresolvable_name_gives_an_error_naming_the_host() {
    coring::block_on(async {
        let err = bounded("nosuch.invalid:80")
            .await
            .expect_err("nosuch.invalid does not resolve");
        let message = err.to_string();
        assert!(
            message.contains("failed to resolve 'nosuch.invalid'"),
            "the error does not name the host: {message}"
        );
    });
}

#[test]
fn a_missing_port_is_invalid_input() {
    coring::block_on(async {
        let err = bounded("localhost").await.expect_err("no port");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    });
}

#[test]
fn many_lookups_at_once_do_not_block_the_core() {
    coring::block_on(async {
        let start = std::time::Instant::now();
        let lookups: Vec<_> = (0..50u16)
            .map(|n| coring::spawn(bounded(("localhost", n))))
            .collect();
        // The core keeps running timers while the lookups are out.
        coring::time::sleep(Duration::from_millis(1)).await;
        for (n, result) in coring::task::join_all(lookups)
            .await
            .into_iter()
            .enumerate()
        {
            assert_loopback(&result.unwrap().unwrap(), n as u16);
        }
        assert!(start.elapsed() < RESOLVE_LIMIT);
    });
}

#[test]
fn lookup_host_works_without_a_runtime_on_another_executor() {
    // The pool is process-wide; any executor can await the lookup. Here, a tokio one.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addrs: Vec<_> = runtime
        .block_on(async { lookup_host("localhost:9").await })
        .unwrap()
        .collect();
    assert_loopback(&addrs, 9);
}
