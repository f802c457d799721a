//! Gauges of this process (and of children), resource limits, and re-running this test binary
//! as a child process, for scenarios that must not touch the test process itself (lowered
//! `RLIMIT_NOFILE`, a filled fd table).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// File descriptors this process has open (entries of `/proc/self/fd`; the directory handle
/// used to list them counts too, so compare counts, not absolute values).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// [`open_fds`] once it equals `expected`, or after `limit` whatever it is then.
///
/// A runtime's wake fd is shared with every waker of its tasks, and a waker a blocking-pool
/// thread took to report a finished call is dropped by that thread just after the call is seen
/// done: the fd can outlive the runtime's drop by a few moments (measured: up to 5 ms under
/// load). A leaked fd never comes back, so waiting for the count still catches every leak.
pub fn open_fds_settled(expected: usize, limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let now = open_fds();
        if now == expected || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Resident set size of this process (`VmRSS` in `/proc/self/status`), in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB after VmRSS");
    kib * 1024
}

/// CPU time (user + system) this process has used so far, all threads.
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time (user + system) the calling thread has used so far. Unlike wall time it does not
/// grow while the thread waits for a core, so a bound on it holds on a loaded machine too.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass; the clock id is a constant.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(status, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// How long the calling thread has waited for a core so far, ready to run but not running (the
/// second field of `/proc/thread-self/schedstat`): what a loaded machine adds to the wall time
/// of anything the thread does. Zero where the kernel keeps no such statistics.
pub fn thread_run_delay() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|stat| stat.split_whitespace().nth(1)?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// CPU time (utime + stime from `/proc/<pid>/stat`) process `pid` has used so far; `None` if it
/// is gone. Resolution: one clock tick (usually 10 ms).
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are utime and stime: 11 and 12 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

/// Lowers this process's soft `RLIMIT_NOFILE` to `limit` (never above the hard limit).
pub fn lower_fd_limit(limit: u64) {
    let mut rlimit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rlimit), 0);
        rlimit.rlim_cur = (limit as libc::rlim_t).min(rlimit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit), 0);
    }
}

/// Whether this process is the child of [`spawn_child`] / [`run_child`] for `env` (the
/// variable they set).
pub fn is_child(env: &str) -> bool {
    std::env::var_os(env).is_some()
}

/// This test binary, re-run as a child process that runs only test `test` with `env` set (the
/// test checks [`is_child`] to play the child's part). Its stdout comes line by line through
/// the receiver; its stderr goes to ours. Registered with the watchdog, which kills it if it
/// fires.
pub fn spawn_child(test: &str, env: &str) -> (Child, Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    super::kill_on_abort(child.id());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// [`spawn_child`] with more environment variables for the child (say, the ports it should
/// use): `vars` are set besides `env`.
pub fn spawn_child_with_env(
    test: &str,
    env: &str,
    vars: &[(&str, &str)],
) -> (Child, Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    super::kill_on_abort(child.id());
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Resident set size of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes; `None` if
/// it is gone.
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// File descriptors process `pid` has open (entries of `/proc/<pid>/fd`); `None` if it is gone.
pub fn process_open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// What a child process printed, and how it ended.
#[derive(Debug)]
pub struct ChildRun {
    /// Its exit status (after being killed, if it timed out).
    pub status: ExitStatus,
    /// Whether it was killed for running past its deadline.
    pub timed_out: bool,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl ChildRun {
    /// Both outputs, labelled, for failure messages.
    pub fn report(&self) -> String {
        format!(
            "--- child stdout ---\n{}\n--- child stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs this test binary's test `test` as a child with the environment variables `env` set
/// (the test checks [`is_child`] to play the child's part) to its end, collecting its output;
/// kills it if it runs longer than `deadline`.
pub fn run_child(test: &str, env: &[(&str, &str)], deadline: Duration) -> ChildRun {
    run_child_under(&[], test, env, deadline)
}

/// [`run_child`] through a wrapper command that execs the test binary, e.g.
/// `["unshare", "-rn"]` for a child in an empty network namespace. Panics if the wrapper
/// cannot be started at all (not found); a wrapper that fails shows in the exit status.
pub fn run_child_under(
    wrapper: &[&str],
    test: &str,
    env: &[(&str, &str)],
    deadline: Duration,
) -> ChildRun {
    let exe = std::env::current_exe().unwrap();
    let mut command = match wrapper {
        [] => Command::new(&exe),
        [program, args @ ..] => {
            let mut command = Command::new(program);
            command.args(args).arg(&exe);
            command
        }
    };
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .envs(env.iter().copied());
    run_command(command, deadline)
}

/// [`run_child`] with `signals` blocked in the child from its first instruction, so every
/// thread it starts (the test harness's included) inherits the mask: what a program that
/// waits for signals on a signalfd needs (see `coring::signal`).
pub fn run_child_with_signals_blocked(
    test: &str,
    env: &[(&str, &str)],
    deadline: Duration,
    signals: &'static [i32],
) -> ChildRun {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .envs(env.iter().copied());
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (sigemptyset, sigaddset, pthread_sigmask) on stack data.
    unsafe {
        command.pre_exec(move || {
            let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
            libc::sigemptyset(&mut set);
            for &signal in signals {
                libc::sigaddset(&mut set, signal);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
    run_command(command, deadline)
}

/// Runs `command` (any program, say an example) to its end with no input, collecting its
/// output; kills it if it runs longer than `deadline`.
pub fn run_command(mut command: Command, deadline: Duration) -> ChildRun {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    super::kill_on_abort(child.id());
    // Read both pipes as the child writes, so a chatty child cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            timed_out = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    ChildRun {
        status,
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs this test binary's test `test` as a child with `env` set (see [`run_child`]) and fails
/// unless it exited cleanly after printing `marker`, the words that prove it got to its end.
pub fn expect_child_prints(test: &str, env: &[(&str, &str)], marker: &str) {
    let run = run_child(test, env, Duration::from_secs(60));
    assert!(
        run.status.success() && run.stdout.contains(marker),
        "the child did not get to {marker:?} ({}){}",
        run.status,
        run.report()
    );
}

/// Waits for the process `pid` this one forked and fails, saying `what` went wrong, unless it
/// exited with status 0.
pub fn expect_forked_child_succeeds(pid: libc::pid_t, what: &str) {
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a live c_int.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what}: status {status:#x}"
    );
}
