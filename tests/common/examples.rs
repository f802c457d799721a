//! Building the example programs and running the server examples, for the tests that run them
//! as a user would.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

/// Builds example `name` with the `cargo` running this test (release, offline) and returns its
/// executable.
pub fn build_example(name: &str) -> PathBuf {
    build_example_with(name, &[])
}

/// Like [`build_example`], with cargo features turned on (for examples that need them). The
/// features this test was built with are turned on too, so cargo reuses the library it built.
pub fn build_example_with(name: &str, features: &[&str]) -> PathBuf {
    let mut features = features.to_vec();
    for (feature, on) in [
        ("tokio-io", cfg!(feature = "tokio-io")),
        ("futures-io", cfg!(feature = "futures-io")),
        ("hyper", cfg!(feature = "hyper")),
        ("fault-injection", cfg!(feature = "fault-injection")),
    ] {
        if on && !features.contains(&feature) {
            features.push(feature);
        }
    }
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--release", "--quiet", "--offline"])
        .args(["--features", &features.join(",")])
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
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// The loopback port it listens on.
    pub port: u16,
}

impl Server {
    /// The server's process id (for its gauges: `process_rss_bytes`, `process_open_fds`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits up to `limit` for the server to exit: its exit status, or `None` if it still runs
    /// (it is killed on drop).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program --addr 127.0.0.1:PORT args..` on a port that was free, and waits for its
/// "listening on" line; another port is tried if the server could not bind. The watchdog kills
/// it if it fires.
pub fn start_server(program: &Path, args: &[&str]) -> Server {
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        match start_server_on(program, port, args) {
            Ok(server) => return server,
            Err(why) => eprintln!("{why}; retrying"),
        }
    }
    panic!("the server example did not start");
}

/// Starts `program --addr 127.0.0.1:port args..` and waits (up to 20 s) for its "listening on"
/// line; `Err` says what came instead (it exited, or printed something else). The watchdog
/// kills it if it fires.
pub fn start_server_on(program: &Path, port: u16, args: &[&str]) -> Result<Server, String> {
    let mut child = Command::new(program)
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the server example");
    super::kill_on_abort(child.id());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (line_tx, line_rx) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let mut server = Server { child, port };
    match line_rx.recv_timeout(Duration::from_secs(20)) {
        Ok(line) if line.contains(&format!("listening on 127.0.0.1:{port}")) => Ok(server),
        other => {
            let status = server.child.try_wait();
            Err(format!(
                "server on port {port} did not start: {other:?}, exit status {status:?}"
            ))
        }
    }
}

/// What an HTTP server example answered to one burst of bytes on a fresh connection.
#[derive(Debug)]
pub struct HttpExchange {
    /// The status code of each response, in order.
    pub statuses: Vec<u16>,
    /// Whether the server closed the connection after them (rather than keep it open).
    pub closed: bool,
    /// All it sent, for failure messages.
    pub text: String,
}

/// Sends `request` in one write to the server on loopback `port`, then reads until the server
/// closes the connection, or until it has answered and then stays silent for 2 s (a kept-alive
/// connection). Waits up to 20 s for a first answer.
pub fn http_exchange(port: u16, request: &[u8]) -> HttpExchange {
    use std::io::{ErrorKind, Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(request).expect("send the request");
    let mut received = Vec::new();
    let closed = loop {
        let quiet = if received.is_empty() { 20 } else { 2 };
        stream
            .set_read_timeout(Some(Duration::from_secs(quiet)))
            .unwrap();
        let mut buf = [0; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("reading the answer: {e}"),
        }
    };
    HttpExchange {
        statuses: http_statuses(&received),
        closed,
        text: String::from_utf8_lossy(&received).into_owned(),
    }
}

/// The status codes of the `HTTP/1.1` responses in `received` (the examples' bodies never
/// hold a status line).
pub fn http_statuses(received: &[u8]) -> Vec<u16> {
    let text = String::from_utf8_lossy(received);
    text.match_indices("HTTP/1.1 ")
        .filter_map(|(at, start)| text.get(at + start.len()..at + start.len() + 3))
        .filter_map(|code| code.parse().ok())
        .collect()
}
