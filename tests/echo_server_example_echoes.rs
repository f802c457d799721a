//! The `echo_server` example sends back every byte: random payloads (sizes from 1 byte to
//! 256 KiB, sent while the echo is read back) through concurrent connections, with owned buffers,
//! through a provided buffer ring (`--ring`), and on two workers with `SO_REUSEPORT` listeners
//! (`--workers 2`). Closing the writing side gets the end of stream back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::Duration;

/// Servers started by this test, killed by the watchdog before it aborts.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Aborts the process (after killing the servers) if still alive after `limit`.
struct Watchdog {
    _alive: Sender<()>,
}

fn watchdog(what: &'static str, limit: Duration) -> Watchdog {
    let (alive, done) = channel::<()>();
    std::thread::spawn(move || {
        if done.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
            eprintln!("watchdog: `{what}` still runs after {limit:?}: a hang; aborting");
            for &pid in CHILDREN.lock().unwrap().iter() {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            }
            std::process::abort();
        }
    });
    Watchdog { _alive: alive }
}

fn build_example(name: &str) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--quiet", "--offline"])
        .args([
            "--message-format=json-render-diagnostics",
            "--example",
            name,
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build for the example");
    assert!(output.status.success(), "building example {name} failed");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = "\"executable\":\"";
    stdout
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
        .filter(|line| line.contains(&format!("\"name\":\"{name}\"")))
        .find_map(|line| {
            let start = line.find(key)? + key.len();
            let end = start + line[start..].find('"')?;
            Some(PathBuf::from(&line[start..end]))
        })
        .unwrap_or_else(|| panic!("cargo reported no executable for example {name}"))
}

/// A running server example, killed on drop (panics included).
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program --addr 127.0.0.1:PORT args..` on a port that was free, and waits for its
/// "listening on" line; another port is tried if the server could not bind.
fn start_server(program: &PathBuf, args: &[&str]) -> Server {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(program)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the server example");
        CHILDREN.lock().unwrap().push(child.id());
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (line_tx, line_rx) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = line_tx.send(line);
            }
        });
        let server = Server { child, port };
        match line_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.contains(&format!("listening on 127.0.0.1:{port}")) => return server,
            other => eprintln!("server on port {port} did not start: {other:?}; retrying"),
        }
    }
    panic!("the server example did not start");
}

/// A small xorshift generator: random enough payloads, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// `connections` clients at once, each sending `messages` random payloads and reading each
/// echo back in full (a writer thread sends while the reader reads, so large payloads cannot
/// fill both directions' buffers and deadlock).
fn echo_random_payloads(port: u16, connections: u64, messages: usize) {
    let clients: Vec<_> = (0..connections)
        .map(|id| {
            std::thread::spawn(move || {
                let mut rng =
                    Rng(0x9E37_79B9_7F4A_7C15 ^ (id + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
                let payloads: Vec<Vec<u8>> = (0..messages)
                    .map(|_| {
                        let len = match rng.next() % 4 {
                            0 => 1 + rng.next() as usize % 16,
                            1 => 1 + rng.next() as usize % 4096,
                            _ => 1 + rng.next() as usize % (256 * 1024),
                        };
                        rng.bytes(len)
                    })
                    .collect();
                let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let mut reader = stream.try_clone().unwrap();
                let expected: Vec<u8> = payloads.concat();
                let writer = std::thread::spawn(move || {
                    let mut stream = stream;
                    for payload in &payloads {
                        stream.write_all(payload).unwrap();
                    }
                    stream.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let mut echoed = Vec::new();
                reader
                    .read_to_end(&mut echoed)
                    .expect("read the echo to its end");
                writer.join().unwrap();
                assert_eq!(echoed.len(), expected.len(), "connection {id}: echo length");
                assert!(
                    echoed == expected,
                    "connection {id}: the echo differs from what was sent"
                );
                expected.len()
            })
        })
        .collect();
    let total: usize = clients
        .into_iter()
        .map(|c| c.join().expect("a client failed"))
        .sum();
    eprintln!("{connections} connections echoed {total} bytes");
}

fn check(args: &[&str]) {
    let server = start_server(&build_example("echo_server"), args);
    echo_random_payloads(server.port, 16, 12);
}

#[test]
fn echoes_random_payloads_with_owned_buffers() {
    let _watchdog = watchdog("echo_server", Duration::from_secs(300));
    check(&[]);
}

#[test]
fn echoes_random_payloads_through_a_buffer_ring() {
    let _watchdog = watchdog("echo_server --ring", Duration::from_secs(300));
    check(&["--ring"]);
}

#[test]
fn echoes_random_payloads_on_two_workers() {
    let _watchdog = watchdog("echo_server --workers 2", Duration::from_secs(300));
    check(&["--workers", "2"]);
    check(&["--workers", "2", "--ring"]);
}
