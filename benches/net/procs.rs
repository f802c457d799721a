//! Processes, CPUs and CPU time: pinning, probes of `/proc`, measurement windows.

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

/// Where a child process may run.
#[derive(Clone, Copy)]
pub(crate) enum Pin {
    Cpu(usize),
    Any,
}

impl Pin {
    /// Spawns `cmd` with this affinity: the parent takes it for the moment of the fork, so the
    /// child inherits it from its first instruction (threads included).
    pub(crate) fn spawn(self, cmd: &mut Command) -> io::Result<Child> {
        let saved = affinity();
        let _ = match self {
            Pin::Cpu(cpu) => set_affinity(&cpu_set(&[cpu])),
            Pin::Any => set_affinity(&cpu_set(&cpus_in(&ORIGINAL.with(|o| *o)))),
        };
        let child = cmd.spawn();
        let _ = set_affinity(&saved);
        child
    }
}

thread_local! {
    /// The affinity this process started with (what `Pin::Any` restores).
    static ORIGINAL: libc::cpu_set_t = affinity();
}

pub(crate) fn spawn_self(args: &[String], pin: Pin) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    pin.spawn(&mut cmd).expect("re-execute the bench binary")
}

/// The CPUs this process may use, and which of them servers and load generators get.
pub(crate) struct Cores {
    pub(crate) all: Vec<usize>,
    pub(crate) server: usize,
    pub(crate) load: usize,
}

impl Cores {
    pub(crate) fn detect() -> Cores {
        let all = cpus_in(&ORIGINAL.with(|o| *o));
        let server = all.first().copied().unwrap_or(0);
        let load = all.get(1).copied().unwrap_or(server);
        Cores { all, server, load }
    }
}

pub(crate) fn affinity() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity: {}", io::Error::last_os_error());
    set
}

pub(crate) fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET only writes bit `cpu` of `set`, and checks it against the set's size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

pub(crate) fn cpus_in(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET only reads bit `cpu` of `set`, and checks it against the set's size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) })
        .collect()
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
        let mut out = format!(
            "window_ns={} server_cpu_ns={} client_cpu_ns={} delay_ns={}",
            self.at.duration_since(start.at).as_nanos(),
            self.servers.saturating_sub(start.servers).as_nanos(),
            self.own.saturating_sub(start.own).as_nanos(),
            (self.delay.saturating_sub(start.delay))
                .saturating_sub(self.softirq.saturating_sub(start.softirq))
                .as_nanos(),
        );
        for (cpu, (end, begin)) in self.sys.busy.iter().zip(&start.sys.busy).enumerate() {
            let _ = write!(out, " busy{cpu}_ns={}", end.saturating_sub(*begin));
        }
        out
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
        let busy = (0..)
            .map_while(|cpu| {
                let name = format!("busy{cpu}_ns");
                line.contains(&format!(" {name}=")).then(|| s(&name))
            })
            .collect();
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

/// CPU time per CPU from `/proc/stat`, in nanoseconds: user, nice, system, irq and softirq, so
/// also the softirq work that is nobody's utime or stime (loopback TCP's receive path runs as
/// softirq on the sending CPU, often inside the sender's system call, sometimes in `ksoftirqd`).
/// Tick-sampled: good to a few percent over a window of seconds.
pub(crate) struct SysTimes {
    pub(crate) busy: Vec<u64>,
}

impl SysTimes {
    pub(crate) fn now() -> SysTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let tick = tick_ns();
        let mut busy = Vec::new();
        for line in stat.lines() {
            // "cpuN ..." lines; the "cpu ..." line (all CPUs together) is left out.
            let Some(rest) = line
                .strip_prefix("cpu")
                .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
            else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let Some(Ok(cpu)) = fields.next().map(str::parse::<usize>) else {
                continue;
            };
            // user nice system idle iowait irq softirq steal ...
            let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
            if v.len() < 7 {
                continue;
            }
            if busy.len() <= cpu {
                busy.resize(cpu + 1, 0);
            }
            busy[cpu] = (v[0] + v[1] + v[2] + v[5] + v[6]) * tick;
        }
        SysTimes { busy }
    }

    pub(crate) fn busy_total(&self) -> u64 {
        self.busy.iter().sum()
    }
}

/// Nanoseconds per clock tick (`USER_HZ`), the unit of `/proc/stat` and `/proc/<pid>/stat`.
pub(crate) fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    1_000_000_000 / hz
}

/// `utime + stime` of process `pid` (all its threads), from `/proc/<pid>/stat`.
pub(crate) fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start with field 3, `state`;
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    let ticks: u64 = fields.iter().sum();
    Duration::from_nanos(ticks * tick_ns())
}

/// CPU time used by this process so far (user and system, every thread).
pub(crate) fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
