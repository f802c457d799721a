//! Server processes, probes of `/proc` and measurement windows (pinning and CPU time are
//! `benches/harness/cpu.rs`, shared with `benches/peers`).

use super::*;

/// A server child: its port, and a pipe to ask it for counters.
pub(crate) struct ServerProc {
    pub(crate) child: Child,
    pub(crate) stdin: ChildStdin,
    pub(crate) stdout: BufReader<ChildStdout>,
    pub(crate) port: u16,
}

impl ServerProc {
    pub(crate) fn start(kind: &str, pin: Pin) -> ServerProc {
        let mut child = spawn_self(&["server".to_owned(), kind.to_owned()], pin);
        let stdin = child.stdin.take().expect("server stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("server stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("server READY line");
        let port = line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("port="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("server {kind} did not start: {line:?}"));
        ServerProc {
            child,
            stdin,
            stdout,
            port,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's `io_uring_enter` count so far, if it has one.
    pub(crate) fn mark(&mut self) -> Option<u64> {
        writeln!(self.stdin, "mark").expect("write to server");
        self.stdin.flush().expect("flush to server");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("server STATS line");
        assert!(line.starts_with("STATS"), "server answered {line:?}");
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix("enters="))
            .and_then(|n| n.parse().ok())
    }

    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a measuring process samples at both ends of its window: the time, the servers' and its
/// own CPU time and run-queue delay, and the machine's CPU time per CPU.
pub(crate) struct Probe {
    pub(crate) at: Instant,
    pub(crate) servers: Duration,
    pub(crate) own: Duration,
    /// Time the servers' and this process's threads waited for a CPU.
    pub(crate) delay: Duration,
    /// Time the `ksoftirqd` threads ran.
    pub(crate) softirq: Duration,
    pub(crate) sys: SysTimes,
}

impl Probe {
    /// `server_delay`: count the servers' run-queue delay too (not when several servers share a
    /// CPU on purpose, as the nginx processes do).
    pub(crate) fn take(server_pids: &[u32], server_delay: bool) -> Probe {
        let delay = server_pids
            .iter()
            .filter(|_| server_delay)
            .map(|pid| run_delay(&pid.to_string()))
            .sum::<Duration>()
            + run_delay("self");
        // The network stack's own softirq threads run because of the benchmark; time they held
        // a CPU is not another process's doing.
        let softirq = ksoftirqd_pids()
            .iter()
            .map(|pid| run_time(pid))
            .sum::<Duration>();
        Probe {
            at: Instant::now(),
            servers: server_pids.iter().map(|&pid| proc_cpu(pid)).sum(),
            own: process_cpu_time(),
            delay,
            softirq,
            sys: SysTimes::now(),
        }
    }

    /// The window from `start` to this probe as `name=value` fields for a `RESULT` line (read
    /// back with [`Window::parse`]).
    pub(crate) fn fields_since(&self, start: &Probe) -> String {
        let out = format!(
            "window_ns={} server_cpu_ns={} client_cpu_ns={} delay_ns={}",
            self.at.duration_since(start.at).as_nanos(),
            self.servers.saturating_sub(start.servers).as_nanos(),
            self.own.saturating_sub(start.own).as_nanos(),
            (self.delay.saturating_sub(start.delay))
                .saturating_sub(self.softirq.saturating_sub(start.softirq))
                .as_nanos(),
        );
        out + &busy_fields_since(&self.sys, &start.sys)
    }
}

/// A measured window as the parent reads it, in seconds.
pub(crate) struct Window {
    pub(crate) secs: f64,
    pub(crate) server_cpu: f64,
    pub(crate) client_cpu: f64,
    /// Run-queue delay of the servers and the client, as a fraction of the window.
    pub(crate) others: f64,
    pub(crate) busy: Vec<f64>,
}

impl Window {
    pub(crate) fn parse(line: &str) -> Window {
        let s = |name: &str| field(line, name) / 1e9;
        let secs = s("window_ns");
        let busy = busy_fields(line);
        Window {
            secs,
            server_cpu: s("server_cpu_ns"),
            client_cpu: s("client_cpu_ns"),
            others: s("delay_ns") / secs,
            busy,
        }
    }

    /// Everything CPU `cpu` did during the window (user, system, irq, softirq).
    pub(crate) fn busy(&self, cpu: usize) -> f64 {
        self.busy.get(cpu).copied().unwrap_or(f64::NAN)
    }
}

/// The `ksoftirqd/N` kernel threads.
pub(crate) fn ksoftirqd_pids() -> &'static [String] {
    static PIDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PIDS.get_or_init(|| {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.starts_with("ksoftirqd/"))
            })
            .collect()
    })
}

/// Time thread `pid` spent on a CPU (the first field of `/proc/<pid>/schedstat`).
pub(crate) fn run_time(pid: &str) -> Duration {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// Time the threads of process `pid` ("self" for this one) spent runnable, waiting for a CPU
/// (the second field of `/proc/<pid>/task/<tid>/schedstat`). Threads that already exited are
/// not counted.
pub(crate) fn run_delay(pid: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}
