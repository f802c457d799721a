//! `net::lookup_host` resolves names from `/etc/hosts` (here `localhost`) on the blocking pool
//! without blocking the core, parses literal addresses directly, and reports an unresolvable
//! name with an error naming the host. Every lookup is bounded by a timeout.
//!
//! The unresolvable name would go to the system's DNS resolver, off the machine: that test runs
//! in a child in an empty network namespace (`unshare -rn`, or `unshare -n` as root), where the
//! resolver finds no route and gives up at once, and it checks that it is there before looking
//! anything up. Where no namespace can be made it is skipped, never run against the network.

mod common;

use common::process::{is_child, run_child_under};
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

const OFFLINE_CHILD: &str = "CORING_LOOKUP_OFFLINE_CHILD";
const OFFLINE_TEST: &str = "an_unresolvable_name_gives_an_error_naming_the_host";
/// Printed by the child once it has checked that it is offline: the wrapper worked.
const ISOLATED: &str = "child: in an empty network namespace";
const CHILD_OK: &str = "child: lookup failed as it should";

/// The network interfaces of this process's network namespace (`/proc/self/net/dev`, which
/// follows the namespace, unlike `/sys/class/net`).
fn interfaces() -> Vec<String> {
    let dev = std::fs::read_to_string("/proc/self/net/dev").expect("/proc/self/net/dev");
    dev.lines()
        .skip(2)
        .filter_map(|line| line.split(':').next())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn an_unresolvable_name_gives_an_error_naming_the_host() {
    if is_child(OFFLINE_CHILD) {
        let interfaces = interfaces();
        assert_eq!(
            interfaces,
            ["lo"],
            "not in an empty network namespace: a lookup here could reach a DNS server"
        );
        println!("{ISOLATED}");
        unresolvable_name_child();
        println!("{CHILD_OK}");
        return;
    }
    let have_unshare = std::process::Command::new("unshare")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_unshare {
        common::skipped(OFFLINE_TEST, "`unshare` (util-linux) is not installed");
        return;
    }
    let mut tried = Vec::new();
    // -r: a user namespace too, so no privilege is needed; -n alone works for root where user
    // namespaces are off.
    for wrapper in [&["unshare", "-rn"][..], &["unshare", "-n"][..]] {
        let run = run_child_under(
            wrapper,
            OFFLINE_TEST,
            &[(OFFLINE_CHILD, "1")],
            RESOLVE_LIMIT * 2,
        );
        if !run.stdout.contains(ISOLATED) && !run.stdout.contains("running 1 test") {
            // The wrapper failed before the test binary ran (no namespaces here).
            tried.push(format!("{}: {}", wrapper.join(" "), run.stderr.trim()));
            continue;
        }
        assert!(
            run.status.success() && run.stdout.contains(CHILD_OK),
            "the child failed (timed out: {}):\n{}",
            run.timed_out,
            run.report()
        );
        return;
    }
    common::skipped(
        OFFLINE_TEST,
        &format!(
            "no empty network namespace could be made ({})",
            tried.join("; ")
        ),
    );
}

fn unresolvable_name_child() {
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
