//! Small OS calls that have no io_uring opcode and no safe wrapper in our dependencies.

use std::io;

/// Pins the calling thread to CPU `cpu`.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU {cpu}"),
        ));
    }
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE, checked above, so CPU_SET stays inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 means the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("coring: pinning to CPU {cpu} failed: {err}"),
        ));
    }
    Ok(())
}

/// The CPUs the calling thread may run on (its affinity mask, which `taskset` and cpusets set
/// for the whole process), in increasing order.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 means the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("coring: reading the CPU affinity mask failed: {err}"),
        ));
    }
    Ok((0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` < CPU_SETSIZE, so CPU_ISSET reads inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// A signal set holding `signals`.
fn sigset(signals: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t we own.
    unsafe { libc::sigemptyset(&mut set) };
    for &signal in signals {
        // SAFETY: as above; sigaddset checks `signal` and fails with EINVAL if it is invalid.
        if unsafe { libc::sigaddset(&mut set, signal) } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("coring: {signal} is not a signal number"),
            ));
        }
    }
    Ok(set)
}

/// Blocks `signals` on the calling thread (threads it starts later inherit the mask), so they
/// stay pending for a signalfd instead of running their default action.
pub(crate) fn block_signals(signals: &[i32]) -> io::Result<()> {
    let set = sigset(signals)?;
    // SAFETY: `set` is a valid, initialized sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Creates a signalfd for `signals` (`fd` is `None`) or sets the mask of the existing one.
/// Blocking (no `SFD_NONBLOCK`): io_uring then waits for a signal instead of failing the read
/// with `EAGAIN`.
pub(crate) fn signalfd(fd: Option<std::os::fd::RawFd>, signals: &[i32]) -> io::Result<i32> {
    let set = sigset(signals)?;
    // SAFETY: `set` is a valid sigset_t; `fd` is -1 or a signalfd the caller owns.
    let rc = unsafe { libc::signalfd(fd.unwrap_or(-1), &set, libc::SFD_CLOEXEC) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return Err(io::Error::new(
            err.kind(),
            format!("coring: creating the process's signalfd failed: {err}"),
        ));
    }
    Ok(rc)
}

/// Sets `signal`'s disposition back to the default if it is ignored (`SIG_IGN`, as a shell
/// leaves `SIGINT` for background jobs): an ignored signal is discarded when sent, so it would
/// never reach a signalfd. Call it with the signal blocked, so the default action never runs.
pub(crate) fn unignore_signal(signal: i32) -> io::Result<()> {
    // SAFETY: sigaction is plain data; all zeroes is a valid (default) value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries the current one into `current`, which we own.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if current.sa_sigaction != libc::SIG_IGN {
        return Ok(());
    }
    // SAFETY: as above.
    let mut default: libc::sigaction = unsafe { std::mem::zeroed() };
    default.sa_sigaction = libc::SIG_DFL;
    // SAFETY: `default` is a valid sigaction with the default handler; no old action asked.
    if unsafe { libc::sigaction(signal, &default, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes the deliveries of `signals` waiting for this thread or the process (blocked, so
/// pending) without waiting, and returns their numbers, one per delivery taken.
pub(crate) fn take_pending_signals(signals: &[i32]) -> io::Result<Vec<i32>> {
    let set = sigset(signals)?;
    let none = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut taken = Vec::new();
    loop {
        // SAFETY: `set` and `none` are valid and outlive the call; a null info pointer is
        // allowed.
        let signo = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &none) };
        if signo > 0 {
            taken.push(signo);
            continue;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) => return Ok(taken),
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
}

/// A non-blocking, close-on-exec eventfd with its counter at zero.
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter, waking whoever polls it.
pub(crate) fn eventfd_add_one(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local u64 that outlives the call to an fd the borrow keeps
    // open.
    let n = unsafe { libc::write(fd.as_raw_fd(), (&raw const one).cast(), 8) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
