//! Socket addresses and host names: [`ToSocketAddrs`] and [`lookup_host`].
//!
//! Resolution never blocks a core. Literal addresses (`"127.0.0.1:80"`, `"[::1]:80"`,
//! `(Ipv4Addr::LOCALHOST, 80)`, a `SocketAddr`) are parsed on the spot, with no thread and no
//! system call. Host names (`"localhost:80"`, `("example.com", 443)`) go to the system resolver
//! (`getaddrinfo`: `/etc/hosts`, then DNS, as `nsswitch.conf` says) on the
//! [`spawn_blocking`] pool; the task waits, the core goes on.
//!
//! The input is turned into owned data (the host as a `String`) before anything else happens,
//! so a borrowed address never has to outlive the call or cross a thread.

use crate::task::spawn_blocking;
use sealed::Target;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: a `SocketAddr`, an `(ip, port)` pair, a
/// `"host:port"` string, a `(host, port)` pair, or a list of addresses.
///
/// Like `std::net::ToSocketAddrs`, but resolved without blocking the core (see
/// [`lookup_host`]). The trait is sealed: it is implemented for the types below and cannot be
/// implemented outside coring.
///
/// | type | resolved |
/// |------|----------|
/// | `SocketAddr`, `SocketAddrV4`, `SocketAddrV6` | as is |
/// | `(IpAddr, u16)`, `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)` | as is |
/// | `&str`, `String`, `&String` as `"host:port"` | a literal `"ip:port"` or `"[ipv6]:port"` is parsed; a name is looked up |
/// | `(&str, u16)`, `(String, u16)` | a literal IP is parsed; a name is looked up |
/// | `&[SocketAddr]`, `Vec<SocketAddr>` | as is, in order |
/// | `&T` for any of these | as `T` |
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// The hidden half of [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait ToSocketAddrsPriv {
        /// Parses literals; turns names into owned data for the resolver. Never blocks.
        fn to_target(&self) -> io::Result<Target>;
    }

    /// What an address turned out to be.
    #[derive(Debug, PartialEq, Eq)]
    pub enum Target {
        /// Already socket addresses: nothing to look up.
        Addrs(Vec<SocketAddr>),
        /// A host name for the system resolver.
        Name {
            /// The host name, owned so it can go to another thread.
            host: String,
            /// The port every resolved address gets.
            port: u16,
        },
    }
}

/// Looks up the socket addresses `addr` names, without blocking the core.
///
/// Literal addresses resolve at once; host names (including those from `/etc/hosts`, such as
/// `localhost`) go to the system resolver on the blocking pool. It needs no runtime: the future
/// can be awaited by any executor.
///
/// ```
/// coring::block_on(async {
///     for addr in coring::net::lookup_host("localhost:80").await? {
///         assert!(addr.ip().is_loopback());
///         assert_eq!(addr.port(), 80);
///     }
///     let addrs: Vec<_> = coring::net::lookup_host("[::1]:8080").await?.collect();
///     assert_eq!(addrs, ["[::1]:8080".parse().unwrap()]);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
///
/// * `InvalidInput` for a string without a port (`"localhost"`, `"::1"`, `"[::1]"`), with a
///   port that is not a number from 0 to 65535, with an empty host (`":80"`, `"[]:80"`), with
///   brackets around anything but an IPv6 address (`"[127.0.0.1]:80"`, rejected by `std` and
///   [`TcpListener::bind`](crate::net::TcpListener::bind) too), with a host that has a `:` and
///   is no IPv6 address (`"a:b:80"`), or with a host name longer than the 253 bytes DNS
///   allows. None of these reaches the resolver;
/// * for a name the resolver cannot resolve, its error, with a message naming the host:
///   `failed to resolve 'nosuch.invalid': ...`.
///
/// Messages quote at most the first 64 characters of the address.
///
/// # Cancel safety
///
/// Cancel safe: it moves no data; dropped before it completes, the lookup finishes on its pool
/// thread and its answer is dropped.
pub async fn lookup_host<A: ToSocketAddrs>(
    addr: A,
) -> io::Result<impl Iterator<Item = SocketAddr>> {
    Ok(resolve(addr).await?.into_iter())
}

/// The addresses `addr` names, in the resolver's order (which `connect` tries in turn).
///
/// Literals are ready on the first poll; names are resolved on the blocking pool.
pub(crate) async fn resolve<A: ToSocketAddrs>(addr: A) -> io::Result<Vec<SocketAddr>> {
    let target = addr.to_target();
    drop(addr);
    match target? {
        Target::Addrs(addrs) => Ok(addrs),
        Target::Name { host, port } => spawn_blocking(move || lookup(&host, port)).await?,
    }
}

/// The longest host name DNS can carry (RFC 1035: 255 bytes on the wire, 253 as text).
const MAX_HOST_NAME: usize = 253;

/// The most characters of an address an error message repeats: a message stays short whatever
/// the input (a 100,000-character host name must not become a 100 KB message).
const SHOWN_CHARS: usize = 64;

/// The blocking lookup, on a pool thread.
fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map(Iterator::collect)
        .map_err(|err| resolve_error(host, err))
}

/// The resolver's error, saying which host it was about.
fn resolve_error(host: &str, err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!("failed to resolve '{}': {err}", shown(host)),
    )
}

/// `text` as error messages quote it: cut after [`SHOWN_CHARS`] characters.
fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

fn invalid_input(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// `"host:port"`: a literal socket address, or a name and a port.
fn parse_host_port(s: &str) -> io::Result<Target> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(Target::Addrs(vec![addr]));
    }
    let missing_port = || {
        invalid_input(format!(
            "invalid socket address '{}': missing port (expected \"host:port\", or \
             \"[ipv6]:port\")",
            shown(s)
        ))
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(missing_port());
    };
    // An IPv6 address alone, bracketed or not: its last `:` is not a port's.
    let bracketed = s.starts_with('[') && s.ends_with(']');
    let unbracketed = s.parse::<Ipv6Addr>().is_ok() && host.parse::<IpAddr>().is_err();
    if bracketed || unbracketed {
        return Err(missing_port());
    }
    let port = port.parse::<u16>().map_err(|_| {
        invalid_input(format!(
            "invalid socket address '{}': the port is not a number from 0 to 65535",
            shown(s)
        ))
    })?;
    host_and_port(host, port)
}

/// A host (literal IP, bracketed IPv6 literal, or name) and a port.
///
/// Whatever cannot be a host name is refused here, before the resolver sees it: brackets
/// hold an IPv6 address and nothing else (as in a URL, and for `std`), and no DNS name is
/// empty or longer than [`MAX_HOST_NAME`].
fn host_and_port(host: &str, port: u16) -> io::Result<Target> {
    let invalid = |why: &str| {
        invalid_input(format!(
            "invalid socket address '{}:{port}': {why}",
            shown(host)
        ))
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Target::Addrs(vec![SocketAddr::new(ip, port)]));
    }
    if let Some(inner) = host.strip_prefix('[') {
        if inner == "]" {
            return Err(invalid("empty host name"));
        }
        // Parsed with the port, so that a scope (`[fe80::1%2]`) is taken as in "[ip]:port".
        return match format!("{host}:{port}").parse::<SocketAddrV6>() {
            Ok(addr) => Ok(Target::Addrs(vec![SocketAddr::V6(addr)])),
            Err(_) => Err(invalid("brackets hold only an IPv6 address")),
        };
    }
    if host.is_empty() {
        return Err(invalid("empty host name"));
    }
    // No host name has a `:`; an IPv6 address with a scope by interface name (`fe80::1%eth0`),
    // which `IpAddr` does not parse, is left to the resolver, which reads it without DNS.
    let scoped_ipv6 = || {
        host.split_once('%')
            .is_some_and(|(ip, _)| ip.parse::<Ipv6Addr>().is_ok())
    };
    if host.contains(':') && !scoped_ipv6() {
        return Err(invalid(
            "a host name has no ':' (an IPv6 address with a port is written \"[ipv6]:port\")",
        ));
    }
    if host.strip_suffix('.').unwrap_or(host).len() > MAX_HOST_NAME {
        return Err(invalid(&format!(
            "the host name is longer than the {MAX_HOST_NAME} bytes DNS allows"
        )));
    }
    Ok(Target::Name {
        host: host.to_owned(),
        port,
    })
}

/// Implements the sealed pair for types whose `to_target` is the given closure-like body.
macro_rules! to_socket_addrs {
    ($($ty:ty => |$this:ident| $body:expr;)*) => {$(
        impl ToSocketAddrs for $ty {}

        impl sealed::ToSocketAddrsPriv for $ty {
            fn to_target(&self) -> io::Result<Target> {
                let $this = self;
                $body
            }
        }
    )*};
}

to_socket_addrs! {
    SocketAddr => |a| Ok(Target::Addrs(vec![*a]));
    SocketAddrV4 => |a| Ok(Target::Addrs(vec![SocketAddr::V4(*a)]));
    SocketAddrV6 => |a| Ok(Target::Addrs(vec![SocketAddr::V6(*a)]));
    (IpAddr, u16) => |a| Ok(Target::Addrs(vec![SocketAddr::from(*a)]));
    (Ipv4Addr, u16) => |a| Ok(Target::Addrs(vec![SocketAddr::from(*a)]));
    (Ipv6Addr, u16) => |a| Ok(Target::Addrs(vec![SocketAddr::from(*a)]));
    (&str, u16) => |a| host_and_port(a.0, a.1);
    (String, u16) => |a| host_and_port(&a.0, a.1);
    str => |s| parse_host_port(s);
    String => |s| parse_host_port(s);
    [SocketAddr] => |addrs| Ok(Target::Addrs(addrs.to_vec()));
    Vec<SocketAddr> => |addrs| Ok(Target::Addrs(addrs.clone()));
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

impl<T: ToSocketAddrs + ?Sized> sealed::ToSocketAddrsPriv for &T {
    fn to_target(&self) -> io::Result<Target> {
        (**self).to_target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn target(addr: impl ToSocketAddrs) -> io::Result<Target> {
        addr.to_target()
    }

    fn addrs(list: &[&str]) -> Target {
        Target::Addrs(list.iter().map(|a| a.parse().unwrap()).collect())
    }

    fn name(host: &str, port: u16) -> Target {
        Target::Name {
            host: host.into(),
            port,
        }
    }

    /// The error of `result`, which must be `InvalidInput` (`input` names the case if not).
    fn invalid_input<T: std::fmt::Debug>(input: &str, result: io::Result<T>) -> io::Error {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{input}: {err}");
        err
    }

    /// Polls `resolve` once with a waker that does nothing: literals must be ready at once,
    /// with no thread (a thread's completion would need a second poll).
    fn resolve_now(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
        let mut future = pin!(resolve(addr));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
        {
            Poll::Ready(result) => result,
            Poll::Pending => panic!("a literal address went to the resolver"),
        }
    }

    // The borrows exercise the impls for references.
    #[allow(clippy::needless_borrows_for_generic_args)]
    #[test]
    fn literal_strings_are_parsed_without_a_thread() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(resolve_now("127.0.0.1:80").unwrap(), [v4]);
        assert_eq!(resolve_now("[::1]:80").unwrap(), [v6]);
        assert_eq!(resolve_now(String::from("[::1]:80")).unwrap(), [v6]);
        assert_eq!(resolve_now(&String::from("127.0.0.1:80")).unwrap(), [v4]);
        assert_eq!(resolve_now(("127.0.0.1", 80)).unwrap(), [v4]);
        assert_eq!(resolve_now(("::1", 80)).unwrap(), [v6]);
        assert_eq!(resolve_now(("[::1]", 80)).unwrap(), [v6]);
        assert_eq!(resolve_now((String::from("::1"), 80)).unwrap(), [v6]);
        // As std does: the last colon separates the port of an unbracketed IPv6 literal.
        assert_eq!(resolve_now("::1:80").unwrap(), [v6]);
        assert_eq!(
            resolve_now("[fe80::1%2]:80").unwrap(),
            ["[fe80::1%2]:80".parse::<SocketAddr>().unwrap()]
        );
    }

    #[allow(clippy::needless_borrows_for_generic_args)]
    #[test]
    fn typed_addresses_pass_through() {
        let v4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        let v6 = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 2, 0, 0);
        assert_eq!(resolve_now(v4).unwrap(), [SocketAddr::V4(v4)]);
        assert_eq!(resolve_now(v6).unwrap(), [SocketAddr::V6(v6)]);
        assert_eq!(
            resolve_now(SocketAddr::V4(v4)).unwrap(),
            [SocketAddr::V4(v4)]
        );
        assert_eq!(
            resolve_now((Ipv4Addr::LOCALHOST, 1)).unwrap(),
            [SocketAddr::V4(v4)]
        );
        assert_eq!(
            resolve_now((Ipv6Addr::LOCALHOST, 2)).unwrap(),
            [SocketAddr::V6(v6)]
        );
        assert_eq!(
            resolve_now((IpAddr::V4(Ipv4Addr::LOCALHOST), 1)).unwrap(),
            [SocketAddr::V4(v4)]
        );
        let list = vec![SocketAddr::V4(v4), SocketAddr::V6(v6)];
        assert_eq!(resolve_now(&list[..]).unwrap(), list);
        assert_eq!(resolve_now(&list).unwrap(), list);
        assert_eq!(resolve_now(list.clone()).unwrap(), list);
        assert_eq!(resolve_now(Vec::new()).unwrap(), []);
        assert_eq!(
            resolve_now(&&SocketAddr::V4(v4)).unwrap(),
            [SocketAddr::V4(v4)]
        );
    }

    #[test]
    fn names_become_owned_targets() {
        assert_eq!(target("localhost:80").unwrap(), name("localhost", 80));
        assert_eq!(
            target(("example.com", 443)).unwrap(),
            name("example.com", 443)
        );
        assert_eq!(
            target((String::from("example.com"), 443)).unwrap(),
            name("example.com", 443)
        );
        assert_eq!(target(String::from("a.b:0")).unwrap(), name("a.b", 0));
        assert_eq!(target("10.0.0.1:7").unwrap(), addrs(&["10.0.0.1:7"]));
    }

    #[test]
    fn a_missing_or_bad_port_or_host_is_invalid_input() {
        for bad in [
            "localhost",
            "127.0.0.1",
            "localhost:",
            "localhost:http",
            "h:65536",
            ":80",
        ] {
            let err = invalid_input(bad, resolve_now(bad));
            assert!(err.to_string().contains("invalid socket address"), "{err}");
        }
        invalid_input("empty host", resolve_now(("", 80)));
    }

    /// Built from a made-up resolver error: a test must not send a DNS query.
    #[test]
    fn the_lookup_error_names_the_host_and_cuts_a_long_one() {
        let failure = || io::Error::new(io::ErrorKind::NotFound, "no such host");
        let err = resolve_error("nosuch.invalid", failure());
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "failed to resolve 'nosuch.invalid': no such host"
        );
        let long = "é".repeat(10_000);
        let err = resolve_error(&long, failure()).to_string();
        let cut = format!("{}...", "é".repeat(SHOWN_CHARS));
        assert_eq!(err, format!("failed to resolve '{cut}': no such host"));
    }

    /// A host name has no `:`, so a host with one is an IPv6 address or a mistake; neither may
    /// reach the resolver as a "name" (`"fe80::1"` was split into host `fe80:` and port 1 and
    /// sent to DNS). An IPv6 address without brackets and port says the port is missing, as
    /// does one in brackets (`"[::1]"` said "the port is not a number").
    #[test]
    fn an_ipv6_address_without_a_port_is_not_a_host_name() {
        for bad in ["::1", "fe80::1", "[::1]", "[fe80::1%2]", "2001:db8::"] {
            let err = invalid_input(bad, target(bad));
            assert!(err.to_string().contains("missing port"), "{bad}: {err}");
        }
        for bad in ["a:b:80", "a::80"] {
            invalid_input(bad, target(bad));
        }
        assert!(target(("a:b", 80)).is_err());
        // As for std: an unbracketed "ipv6:port" whose front is an address is taken so.
        assert_eq!(target("::1:80").unwrap(), addrs(&["[::1]:80"]));
        // A scope by interface name is the resolver's (numeric, no DNS) to read.
        assert_eq!(target(("fe80::1%lo", 80)).unwrap(), name("fe80::1%lo", 80));
    }

    #[test]
    fn brackets_hold_an_ipv6_address_and_nothing_else() {
        for bad in [
            "[]:80",
            "[127.0.0.1]:80",
            "[localhost]:80",
            "[::1:80",
            "[::1]]:80",
        ] {
            invalid_input(bad, target(bad));
        }
        assert!(target(("[127.0.0.1]", 80)).is_err());
        assert!(target(("[]", 80))
            .unwrap_err()
            .to_string()
            .contains("empty host"));
        assert_eq!(target(("[::1]", 80)).unwrap(), addrs(&["[::1]:80"]));
        assert_eq!(
            target(("[fe80::1%2]", 80)).unwrap(),
            addrs(&["[fe80::1%2]:80"])
        );
    }

    #[test]
    fn host_names_up_to_the_dns_limit_are_names() {
        let longest = "a.".repeat(126) + "a"; // 253 bytes
        assert_eq!(target((longest.as_str(), 1)).unwrap(), name(&longest, 1));
        let dotted = format!("{longest}.");
        assert_eq!(target((dotted.as_str(), 1)).unwrap(), name(&dotted, 1));
        let err = invalid_input("a long name", target(format!("{longest}a:1")));
        assert!(err.to_string().len() < 200, "{err}");
    }

    /// The future is `Send` when the address is, so `Send` tasks can resolve names.
    #[test]
    fn lookup_host_is_send_for_send_inputs() {
        fn is_send<T: Send>(_: &T) {}
        is_send(&lookup_host("localhost:80"));
        is_send(&lookup_host((String::from("localhost"), 80)));
    }
}
