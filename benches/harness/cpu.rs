//! CPUs, pinning and CPU time, shared by `benches/net` (a bench of the coring package) and
//! `benches/peers` (a crate of its own): both include this file with `#[path]`, so there is one
//! copy. It uses only `std` and `libc`, which both have.
//!
//! Pinning: a child process inherits the affinity its parent has at the fork, so [`Pin::spawn`]
//! takes the wanted affinity for the moment of the spawn. CPU time: `/proc/stat` per CPU (irq and
//! softirq included, which is nobody's utime or stime: loopback TCP's receive path runs as
//! softirq on the sending CPU), `/proc/<pid>/stat` per process, `clock_gettime` for this one.

// Each includer uses a different part of this file.
#![allow(dead_code)]

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where a child process may run.
#[derive(Clone, Copy)]
pub(crate) enum Pin {
    /// On this CPU only.
    Cpu(usize),
    /// On any CPU this process could use when it started.
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

/// This binary again, as `BINARY --child ARGS...`, with piped stdin and stdout.
pub(crate) fn spawn_self(args: &[String], pin: Pin) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    pin.spawn(&mut cmd)
        .expect("re-execute this benchmark binary")
}

/// The CPUs this process may use: servers get the first, the load generator the second.
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

    /// "CPUs [..]: servers on CPU n, load on CPU m", for a report's first line.
    pub(crate) fn describe(&self) -> String {
        format!(
            "CPUs {:?}: servers on CPU {}, load on CPU {}{}",
            self.all,
            self.server,
            self.load,
            if self.server == self.load {
                " (one CPU only: server and load share it)"
            } else {
                ""
            }
        )
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

/// CPU time per CPU from `/proc/stat`, in nanoseconds: `tasks` is user, nice and system, what
/// the processes' utime and stime add up to; `busy` adds irq and softirq. Tick-sampled: good to
/// a few percent over a window of seconds.
pub(crate) struct SysTimes {
    pub(crate) tasks: Vec<u64>,
    pub(crate) busy: Vec<u64>,
}

impl SysTimes {
    pub(crate) fn now() -> SysTimes {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let tick = tick_ns();
        let mut times = SysTimes {
            tasks: Vec::new(),
            busy: Vec::new(),
        };
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

    pub(crate) fn tasks_total(&self) -> u64 {
        self.tasks.iter().sum()
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
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
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

/// Reaps `child` with `wait4`: whether it exited with status 0, and the CPU time it used.
pub(crate) fn wait_with_cpu(child: Child) -> (bool, Duration) {
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

/// Each CPU's busy time from `start` to `end` as ` busyN_ns=…` fields of a result line (read
/// back with [`busy_fields`]).
pub(crate) fn busy_fields_since(end: &SysTimes, start: &SysTimes) -> String {
    let mut out = String::new();
    for (cpu, (end, begin)) in end.busy.iter().zip(&start.busy).enumerate() {
        out += &format!(" busy{cpu}_ns={}", end.saturating_sub(*begin));
    }
    out
}

/// The ` busyN_ns` fields of a result line, in seconds, CPU by CPU.
pub(crate) fn busy_fields(line: &str) -> Vec<f64> {
    (0..)
        .map_while(|cpu| {
            let name = format!("busy{cpu}_ns");
            line.contains(&format!(" {name}="))
                .then(|| field(line, &name) / 1e9)
        })
        .collect()
}

/// A numeric `name=value` field of a child's result line.
pub(crate) fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}
