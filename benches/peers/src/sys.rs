//! Processes, CPUs and CPU time: pinning with `sched_setaffinity`, re-executing this binary as a
//! child, and the CPU-time probes (`/proc/<pid>/stat`, `/proc/stat`) taken around a window.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Where a child process may run.
#[derive(Clone, Copy)]
pub enum Pin {
    Cpu(usize),
}

impl Pin {
    /// Spawns `cmd` with this affinity: the parent takes it for the moment of the fork, so the
    /// child inherits it from its first instruction (threads included).
    pub fn spawn(self, cmd: &mut Command) -> io::Result<Child> {
        let saved = affinity();
        let Pin::Cpu(cpu) = self;
        set_affinity(&cpu_set(&[cpu]))?;
        let child = cmd.spawn();
        let _ = set_affinity(&saved);
        child
    }
}

/// This binary again, as `peers --child ARGS...`, with piped stdin and stdout.
pub fn spawn_self(args: &[String], pin: Pin) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    pin.spawn(&mut cmd).expect("re-execute the peers binary")
}

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

/// The CPUs this process may use: servers get the first, the load generator (and wrk) the
/// second.
pub struct Cores {
    pub all: Vec<usize>,
    pub server: usize,
    pub load: usize,
}

impl Cores {
    pub fn detect() -> Cores {
        let all = cpus_in(&affinity());
        let server = all.first().copied().unwrap_or(0);
        let load = all.get(1).copied().unwrap_or(server);
        Cores { all, server, load }
    }
}

pub fn affinity() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity: {}", io::Error::last_os_error());
    set
}

pub fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: CPU_SET only writes bit `cpu` of `set`, and checks it against the set's size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

fn cpus_in(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: CPU_ISSET only reads bit `cpu` of `set`, and checks it against the set's size.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) })
        .collect()
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
        let mut out = format!(
            "window_ns={} segs={} server_cpu_ns={} client_cpu_ns={} tasks_ns={}",
            self.at.duration_since(start.at).as_nanos(),
            self.segs.saturating_sub(start.segs),
            self.server.saturating_sub(start.server).as_nanos(),
            self.own.saturating_sub(start.own).as_nanos(),
            self.sys.tasks_total() - start.sys.tasks_total(),
        );
        for (cpu, (end, begin)) in self.sys.busy.iter().zip(&start.sys.busy).enumerate() {
            let _ = write!(out, " busy{cpu}_ns={}", end - begin);
        }
        out
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
        let busy = (0..)
            .map_while(|cpu| {
                let name = format!("busy{cpu}_ns");
                line.contains(&format!(" {name}=")).then(|| s(&name))
            })
            .collect();
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

/// CPU time per CPU from `/proc/stat`, in nanoseconds. `tasks` is user + nice + system, what the
/// processes' utime and stime add up to; `busy` adds irq and softirq time, which is nobody's
/// utime or stime (loopback TCP's receive path runs as softirq on the sending CPU).
pub struct SysTimes {
    tasks: Vec<u64>,
    pub busy: Vec<u64>,
}

impl SysTimes {
    pub fn now() -> SysTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let tick = tick_ns();
        let mut times = SysTimes {
            tasks: Vec::new(),
            busy: Vec::new(),
        };
        for line in stat.lines() {
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
            let tasks = (v[0] + v[1] + v[2]) * tick;
            if times.tasks.len() <= cpu {
                times.tasks.resize(cpu + 1, 0);
                times.busy.resize(cpu + 1, 0);
            }
            times.tasks[cpu] = tasks;
            times.busy[cpu] = tasks + (v[5] + v[6]) * tick;
        }
        times
    }

    pub fn tasks_total(&self) -> u64 {
        self.tasks.iter().sum()
    }
}

/// Nanoseconds per clock tick (`USER_HZ`), the unit of `/proc/stat` and `/proc/<pid>/stat`.
fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    1_000_000_000 / hz
}

/// `utime + stime` of process `pid` (all its threads), from `/proc/<pid>/stat`.
pub fn proc_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start with field 3, `state`;
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ticks * tick_ns())
}

/// CPU time used by this process so far (user and system, every thread).
pub fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Reaps `child` with `wait4`: whether it exited with status 0, and the CPU time it used.
pub fn wait_with_cpu(child: Child) -> (bool, Duration) {
    let mut status = 0;
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid and writable for the call; `child` is our child and
    // has not been reaped (std reaps only in `wait`/`try_wait`, which are not called on it).
    let rc = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    if rc < 0 {
        return (false, Duration::ZERO);
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (ok, tv(usage.ru_utime) + tv(usage.ru_stime))
}

/// A numeric `name=value` field of a child's result line.
pub fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
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

/// Sets the congestion control of a TCP socket (`TCP_CONGESTION`).
pub fn set_congestion(fd: i32, name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, valid for the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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
