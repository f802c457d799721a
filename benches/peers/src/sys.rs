//! Processes and the probes taken around a measured window. Pinning, re-executing this binary
//! as a child and the CPU-time readings are `benches/harness/cpu.rs`, shared with `benches/net`
//! and re-exported here.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) use crate::cpu::{
    busy_fields, busy_fields_since, cpu_set, field, proc_cpu, process_cpu_time, set_affinity,
    spawn_self, wait_with_cpu, Cores, Pin, SysTimes,
};

/// A server child: its port, and a pipe to ask it for counters.
pub struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub port: u16,
}

impl ServerProc {
    /// Starts server `kind` for `proto`; `None` (after saying why) if it did not come up.
    pub fn start(kind: &str, proto: &str, pin: Pin) -> Option<ServerProc> {
        let mut child = spawn_self(
            &["server".to_owned(), kind.to_owned(), proto.to_owned()],
            pin,
        );
        let stdin = child.stdin.take().expect("server stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("server stdout"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let Some(port) = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("port="))
            .and_then(|p| p.parse().ok())
        else {
            eprintln!("server {kind} {proto} did not start: {line:?}");
            let _ = child.kill();
            let _ = child.wait();
            return None;
        };
        Some(ServerProc {
            child,
            stdin,
            stdout,
            port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's `io_uring_enter` count so far, if it keeps one (coring, the raw loop).
    pub fn mark(&mut self) -> Option<u64> {
        writeln!(self.stdin, "mark").ok()?;
        self.stdin.flush().ok()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix("enters="))
            .and_then(|n| n.parse().ok())
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What is sampled at both ends of a measured window: the time, the server's and the sampling
/// process's CPU time, and the machine's CPU time per CPU.
pub struct Probe {
    at: Instant,
    /// TCP segments sent by the whole machine (`OutSegs` in `/proc/net/snmp`): over loopback,
    /// both ends' data and pure ACKs.
    segs: u64,
    server: Duration,
    own: Duration,
    sys: SysTimes,
}

impl Probe {
    pub fn take(server_pid: u32) -> Probe {
        Probe {
            at: Instant::now(),
            segs: tcp_out_segs(),
            server: proc_cpu(server_pid),
            own: process_cpu_time(),
            sys: SysTimes::now(),
        }
    }

    /// [`Probe::take`] with the CPU time of several processes (the nginx farm) as the server's.
    pub fn take_many(pids: &[u32]) -> Probe {
        Probe {
            at: Instant::now(),
            segs: tcp_out_segs(),
            server: pids.iter().map(|&pid| proc_cpu(pid)).sum(),
            own: process_cpu_time(),
            sys: SysTimes::now(),
        }
    }

    /// The window from `start` to this probe as `name=value` fields (read back with
    /// [`Window::parse`]).
    pub fn fields_since(&self, start: &Probe) -> String {
        let out = format!(
            "window_ns={} segs={} server_cpu_ns={} client_cpu_ns={} tasks_ns={}",
            self.at.duration_since(start.at).as_nanos(),
            self.segs.saturating_sub(start.segs),
            self.server.saturating_sub(start.server).as_nanos(),
            self.own.saturating_sub(start.own).as_nanos(),
            self.sys.tasks_total() - start.sys.tasks_total(),
        );
        out + &busy_fields_since(&self.sys, &start.sys)
    }
}

/// A measured window as the parent reads it, in seconds.
pub struct Window {
    pub secs: f64,
    /// TCP segments sent on the machine during the window.
    pub segs: f64,
    pub server_cpu: f64,
    pub client_cpu: f64,
    /// CPU time of every process but the server and the client, as a fraction of one CPU.
    pub others: f64,
    busy: Vec<f64>,
}

impl Window {
    pub fn parse(line: &str) -> Window {
        let s = |name: &str| field(line, name) / 1e9;
        let (secs, server_cpu, client_cpu) =
            (s("window_ns"), s("server_cpu_ns"), s("client_cpu_ns"));
        let others = ((s("tasks_ns") - server_cpu - client_cpu) / secs).max(0.0);
        let busy = busy_fields(line);
        Window {
            secs,
            segs: field(line, "segs"),
            server_cpu,
            client_cpu,
            others,
            busy,
        }
    }

    /// Everything CPU `cpu` did during the window (user, system, irq, softirq).
    pub fn busy(&self, cpu: usize) -> f64 {
        self.busy.get(cpu).copied().unwrap_or(f64::NAN)
    }
}

/// Waits (at most `limit`) until the machine has been nearly idle (under 10% of a CPU) for half a
/// second: the machine may be shared, and a compile next to a benchmark halves its figures.
/// Returns the busy share seen last.
pub fn wait_for_quiet(label: &str, limit: Duration) -> f64 {
    let deadline = Instant::now() + limit;
    let mut said = false;
    loop {
        let before = SysTimes::now();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(150));
        let after = SysTimes::now();
        let busy: u64 = after.busy.iter().sum::<u64>() - before.busy.iter().sum::<u64>();
        let share = busy as f64 / start.elapsed().as_nanos() as f64;
        if share < 0.1 || Instant::now() > deadline {
            if share >= 0.1 && said {
                println!(
                    "  {label}: the machine stayed busy ({:.0}% of a CPU); measuring anyway",
                    share * 100.0
                );
            }
            return share;
        }
        if !said {
            println!(
                "  {label}: waiting for other processes ({:.0}% of a CPU busy)",
                share * 100.0
            );
            said = true;
        }
    }
}

/// How fast CPU `cpu` works through memory right now: dependent loads over a 16 MiB random
/// cycle (L2 misses, mostly L3 or memory), in nanoseconds per load, for `spin` on a thread
/// pinned to it. On this VM the host makes the whole machine up to 1.5× slower for stretches of
/// many seconds (no other process in the guest runs meanwhile; a pure ALU loop does not see it,
/// memory-bound code does), so each run records this next to its figures.
pub fn cpu_speed(cpu: usize, spin: Duration) -> f64 {
    std::thread::spawn(move || {
        let _ = set_affinity(&cpu_set(&[cpu]));
        static CYCLE: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
        let next = CYCLE.get_or_init(|| {
            // Sattolo's shuffle: one cycle through all slots, in random order.
            let n = 4 << 20;
            let mut v: Vec<u32> = (0..n as u32).collect();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in (1..n).rev() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.swap(i, (x % i as u64) as usize);
            }
            v
        });
        let start = Instant::now();
        let mut at = 0u32;
        let mut n: u64 = 0;
        while start.elapsed() < spin {
            for _ in 0..1000 {
                at = next[at as usize];
            }
            n += 1000;
        }
        std::hint::black_box(at);
        start.elapsed().as_nanos() as f64 / n as f64
    })
    .join()
    .unwrap_or(f64::NAN)
}

/// `perf stat` counting the system calls of a process (all of them, and `io_uring_enter`)
/// through the `raw_syscalls:sys_enter` and `syscalls:sys_enter_io_uring_enter` tracepoints:
/// no ptrace, so the process runs at nearly full speed, but each call still costs a little, so
/// runs with a counter attached are kept out of the throughput figures.
pub struct SyscallCounter {
    child: Child,
}

/// What a [`SyscallCounter`] counted.
pub struct Syscalls {
    pub all: u64,
    pub io_uring_enter: u64,
}

impl SyscallCounter {
    /// Attaches to `pid`; `None` if perf is not there or cannot trace.
    pub fn attach(pid: u32) -> Option<SyscallCounter> {
        let child = Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                "raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter",
                "-p",
                &pid.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        // Let perf attach before the load starts.
        std::thread::sleep(Duration::from_millis(300));
        Some(SyscallCounter { child })
    }

    /// Stops counting (SIGINT, on which perf prints its counts) and reads the counts.
    pub fn finish(self) -> Option<Syscalls> {
        // SAFETY: kill has no memory preconditions; the pid is our child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let output = self.child.wait_with_output().ok()?;
        let text = String::from_utf8_lossy(&output.stderr);
        let count = |event: &str| {
            text.lines()
                .find(|l| l.split(',').nth(2) == Some(event))
                .and_then(|l| l.split(',').next()?.parse::<u64>().ok())
        };
        Some(Syscalls {
            all: count("raw_syscalls:sys_enter")?,
            io_uring_enter: count("syscalls:sys_enter_io_uring_enter")?,
        })
    }
}

/// `Tcp: OutSegs` from `/proc/net/snmp`.
fn tcp_out_segs() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(name, _)| *name == "OutSegs")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// What a bounded child run gave: its standard output, whether it exited with 0, its wall time,
/// and the CPU time every other process used meanwhile (its own from `wait4`).
pub struct Bounded {
    pub stdout: String,
    pub ok: bool,
    pub wall: Duration,
    pub others: Duration,
}

/// Runs this binary as `--child ARGS...` pinned with `pin`, reads its output to the end and
/// reaps it; kills it (SIGKILL) if it is still running after `limit`.
pub fn run_bounded(args: &[String], pin: Pin, limit: Duration) -> Bounded {
    use std::io::Read as _;
    let before = SysTimes::now();
    let start = Instant::now();
    let mut child = spawn_self(args, pin);
    drop(child.stdin.take());
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // The killer gives up as soon as the output has ended; it is joined before the child is
    // reaped, so it can never signal a pid that was reused.
    let killer = std::thread::spawn(move || {
        if rx.recv_timeout(limit).is_err() {
            eprintln!("child {pid} ran longer than {limit:?}: killed");
            // SAFETY: kill has no memory preconditions; `pid` is our child, not yet reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    });
    let mut stdout = String::new();
    let _ = child
        .stdout
        .take()
        .expect("child stdout")
        .read_to_string(&mut stdout);
    let _ = tx.send(());
    let _ = killer.join();
    let (ok, cpu) = wait_with_cpu(child);
    let wall = start.elapsed();
    let after = SysTimes::now();
    let all = Duration::from_nanos(after.tasks_total().saturating_sub(before.tasks_total()));
    Bounded {
        stdout,
        ok,
        wall,
        others: all.saturating_sub(cpu),
    }
}
