//! `pin_cores(true)` pins worker i to the i-th CPU the starting thread may run on (wrapping
//! around when there are more workers than allowed CPUs), never to a CPU outside that mask: a
//! process started with `taskset -c 1` keeps its workers on CPU 1.

mod common;

use common::within;
use std::time::Duration;

/// The CPUs the calling thread may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(
        rc,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` < CPU_SETSIZE, so CPU_ISSET stays inside `set`.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Restricts the calling thread (and threads it starts) to `cpu`, as `taskset -c` would.
fn restrict_to(cpu: usize) {
    // SAFETY: as above.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE (it came from `allowed_cpus`).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(
        rc,
        0,
        "sched_setaffinity: {}",
        std::io::Error::last_os_error()
    );
}

#[test]
fn workers_are_pinned_inside_a_one_cpu_mask() {
    within(Duration::from_secs(30), || {
        let all = allowed_cpus();
        // The highest allowed CPU: with the old `index % cores` counting from CPU 0, worker 0
        // would leave the mask whenever more than one CPU exists.
        let only = *all.last().unwrap();
        restrict_to(only);
        let runtime = coring::Builder::new()
            .workers(3)
            .pin_cores(true)
            .build_multi()
            .unwrap();
        let masks = runtime.run_on_all(|_| async { allowed_cpus() });
        for (worker, mask) in masks.iter().enumerate() {
            assert_eq!(
                mask,
                &vec![only],
                "worker {worker} (allowed before: {all:?})"
            );
        }
    });
}

#[test]
fn workers_are_pinned_to_successive_allowed_cpus() {
    within(Duration::from_secs(30), || {
        let all = allowed_cpus();
        let runtime = coring::Builder::new()
            .workers(all.len() + 1)
            .pin_cores(true)
            .build_multi()
            .unwrap();
        let masks = runtime.run_on_all(|_| async { allowed_cpus() });
        for (worker, mask) in masks.iter().enumerate() {
            // More workers than CPUs: the count wraps around to the first allowed CPU.
            assert_eq!(mask, &vec![all[worker % all.len()]], "worker {worker}");
        }
    });
}
