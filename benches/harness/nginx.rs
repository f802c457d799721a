//! The nginx farm of the wget cases of `benches/net` and `benches/peers` (both include this file
//! with `#[path]`): nginx servers on loopback addresses, each one process, pinned, and killed
//! when the farm is dropped or the benchmark is interrupted.

use crate::cpu::Pin;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The nginx binary, if one runs (`nginx -v`).
pub(crate) fn find_nginx() -> Option<String> {
    ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|path| {
            Command::new(path)
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
}

/// nginx servers in a temporary directory, one per loopback address 127.0.0.1..=N (each
/// `master_process off`, one worker: one process), pinned with the given affinity; killed and
/// cleaned up on drop (and killed on SIGINT/SIGTERM/SIGHUP too: see [`register`]).
pub(crate) struct NginxFarm {
    dir: PathBuf,
    pub(crate) children: Vec<Child>,
    pub(crate) addrs: Vec<SocketAddr>,
}

impl NginxFarm {
    pub(crate) fn start(nginx: &str, count: usize, pin: Pin) -> io::Result<NginxFarm> {
        let dir = std::env::temp_dir().join(format!("coring-bench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut farm = NginxFarm {
            dir,
            children: Vec::new(),
            addrs: Vec::new(),
        };
        for i in 0..count {
            let ip = format!("127.0.0.{}", i + 1);
            let port = std::net::TcpListener::bind((ip.as_str(), 0))?
                .local_addr()?
                .port();
            let addr: SocketAddr = format!("{ip}:{port}").parse().expect("address");
            let d = farm.dir.display();
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx-{i}.pid;\n\
                 error_log {d}/error-{i}.log error;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  default_type text/plain;\n\
                 client_body_temp_path {d}/body-{i};\n  proxy_temp_path {d}/proxy-{i};\n\
                 fastcgi_temp_path {d}/fastcgi-{i};\n  uwsgi_temp_path {d}/uwsgi-{i};\n\
                 scgi_temp_path {d}/scgi-{i};\n\
                 server {{ listen {addr} backlog=4096; return 200 \"hello\\n\"; }}\n}}\n"
            );
            let path = farm.dir.join(format!("nginx-{i}.conf"));
            std::fs::write(&path, conf)?;
            let mut cmd = Command::new(nginx);
            cmd.arg("-p")
                .arg(&farm.dir)
                .arg("-e")
                .arg(farm.dir.join(format!("error-{i}.log")))
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // If the suite dies without cleaning up (SIGKILL), the kernel kills nginx too.
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                use std::os::unix::process::CommandExt as _;
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = pin.spawn(&mut cmd)?;
            register(child.id());
            farm.children.push(child);
            farm.addrs.push(addr);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, addr) in farm.addrs.iter().enumerate() {
            while std::net::TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = farm.children[i].try_wait() {
                    let log = std::fs::read_to_string(farm.dir.join(format!("error-{i}.log")))
                        .unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "nginx {i} exited ({status}): {log}"
                    )));
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "nginx {i} never listened on {addr}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(farm)
    }

    pub(crate) fn pids(&self) -> String {
        self.children
            .iter()
            .map(|c| c.id().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(crate) fn addr_list(&self) -> String {
        self.addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Drop for NginxFarm {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
            unregister(child.id());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// Children that must not outlive the benchmark (the farm): their pids are kept in a small fixed
// table, and SIGINT/SIGTERM/SIGHUP kill them before the process exits.

static PIDS: [AtomicU32; 32] = [const { AtomicU32::new(0) }; 32];

extern "C" fn on_signal(signal: libc::c_int) {
    for slot in &PIDS {
        let pid = slot.load(SeqCst);
        if pid != 0 {
            // SAFETY: kill is async-signal-safe and has no memory preconditions.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + signal) };
}

/// Remembers `pid` for the signal handler (installed on first use).
pub(crate) fn register(pid: u32) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only calls async-signal-safe functions and reads atomics.
            unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
        }
    });
    // With more than 32 live children the rest go unregistered (the farm has 4).
    let _ = PIDS
        .iter()
        .find(|s| s.compare_exchange(0, pid, SeqCst, SeqCst).is_ok());
}

pub(crate) fn unregister(pid: u32) {
    for slot in &PIDS {
        let _ = slot.compare_exchange(pid, 0, SeqCst, SeqCst);
    }
}
