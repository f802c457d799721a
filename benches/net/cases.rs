//! The echo and http cases: which servers run, how each run is measured, the tables.

use super::*;

// a. Echo ping-pong, one pinned core each for the server and the load generator.

pub(crate) const ECHO_SERVERS: [(&str, &str); 4] = [
    ("tokio current-thread", "echo-tokio"),
    ("coring read/write_all", "echo-coring"),
    ("coring BufRing recv_stream", "echo-coring-ring"),
    ("raw io_uring loop (no runtime)", "echo-raw"),
];

pub(crate) fn echo_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### a. Echo ping-pong (server pinned to one CPU, load generator to the other; medians \
         of {} rounds, ratios averaged over rounds)\n\n\
         | msg | conns | server | round trips/s | vs tokio | p50 µs | p99 µs | server CPU µs/RT \
         | vs tokio | server core µs/RT | load CPU µs/RT | enters/RT | others |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        mode.reps
    );
    for &size in mode.echo_sizes {
        for &conns in mode.echo_conns {
            let case = format!("echo {} x{conns}", kib(size));
            let servers = with_experiment(&ECHO_SERVERS, "echo-raw-batch");
            let rounds = Rounds::run(mode, &case, &servers, |kind| {
                echo_run(kind, size, conns, mode, cores, true)
            });
            for (s, (label, _)) in servers.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {} | {conns} | {label} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2} | {:.3}× | \
                     {:.2} | {:.2} | {} | {} |",
                    kib(size),
                    rounds.median(s, |r| r.per_sec),
                    rounds.ratio(s, first, |r| r.per_sec),
                    rounds.median(s, |r| r.p50_us),
                    rounds.median(s, |r| r.p99_us),
                    rounds.median(s, |r| r.server_cpu_us),
                    rounds.ratio(s, first, |r| r.server_cpu_us),
                    rounds.median(s, |r| r.core_us),
                    rounds.median(s, |r| r.client_cpu_us),
                    opt(rounds.enters(s), 4),
                    rounds.others(s),
                );
            }
        }
    }
    out.push('\n');
    out
}

/// Starts `server_kind`, drives it with the load generator, stops it. `pinned`: server and load
/// generator each on a CPU of their own; otherwise both may run anywhere.
pub(crate) fn echo_run(
    server_kind: &str,
    size: usize,
    conns: usize,
    mode: &Mode,
    cores: &Cores,
    pinned: bool,
) -> LoadRun {
    let (server_pin, load_pin) = if pinned {
        (Pin::Cpu(cores.server), Pin::Cpu(cores.load))
    } else {
        (Pin::Any, Pin::Any)
    };
    let mut server = ServerProc::start(server_kind, server_pin);
    let args = LoadArgs {
        port: server.port,
        conns,
        size,
        warmup: mode.warmup,
        window: mode.window,
        server_pid: server.pid(),
    }
    .to_args();
    let mut load = spawn_self(&args, load_pin);
    let mut marks = Vec::new();
    let result = read_load_output(&mut load, || marks.push(server.mark()));
    let status = load.wait().expect("wait for the load generator");
    server.stop();
    let result = result
        .unwrap_or_else(|| panic!("load generator for {server_kind} printed no RESULT ({status})"));
    let rts = field(&result, "rts");
    let window = Window::parse(&result);
    let enters = match marks.as_slice() {
        [Some(a), Some(b)] => Some((b - a) as f64 / rts),
        _ => None,
    };
    LoadRun {
        per_sec: rts / window.secs,
        p50_us: field(&result, "p50_ns") / 1e3,
        p99_us: field(&result, "p99_ns") / 1e3,
        server_cpu_us: window.server_cpu * 1e6 / rts,
        core_us: if pinned {
            window.busy(cores.server) * 1e6 / rts
        } else {
            f64::NAN
        },
        client_cpu_us: window.client_cpu * 1e6 / rts,
        enters,
        // Unpinned, the servers and the load generator wait for each other's CPUs.
        others: if pinned { window.others } else { f64::NAN },
        errors: 0.0,
    }
}

// ---------------------------------------------------------------------------------------------
// b. HTTP/1.1 keep-alive hello with wrk.

pub(crate) const HTTP_SERVERS: [(&str, &str); 3] = [
    ("tokio current-thread", "http-tokio"),
    ("coring", "http-coring"),
    ("raw io_uring loop (no runtime)", "http-raw"),
];

/// Prints why a case did not run and records it in `$CORING_SKIP_LOG` (set by `ci/test`, which
/// counts skips; libtest's capture does not hide this binary's output, but a count needs a file).
pub(crate) fn skipped(line: &str) {
    println!("{line}");
    if let Some(path) = std::env::var_os("CORING_SKIP_LOG") {
        use std::io::Write as _;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "SKIPPED bench net {line}");
        }
    }
}

pub(crate) fn http_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### b. HTTP/1.1 keep-alive hello, `wrk -t1 -c{} -d{}s` (server and wrk pinned; medians \
         of {} rounds)\n\n",
        mode.wrk_conns, mode.wrk_secs, mode.reps
    );
    if Command::new("wrk").arg("--version").output().is_err() {
        out += "skipped: `wrk` is not installed (`apt-get install -y wrk`).\n\n";
        skipped("http: skipped, wrk not found");
        return out;
    }
    let mut notes = Vec::new();
    let servers = with_experiment(&HTTP_SERVERS, "http-raw-batch");
    let rounds = Rounds::run(mode, "http", &servers, |kind| {
        let mut server = ServerProc::start(kind, Pin::Cpu(cores.server));
        let before = server.mark();
        let start = Probe::take(&[server.pid()], true);
        let wrk = wrk_run(
            server.port,
            mode.wrk_conns,
            mode.wrk_secs,
            Pin::Cpu(cores.load),
        );
        let end = Probe::take(&[server.pid()], true);
        let after = server.mark();
        server.stop();
        let Some(wrk) = wrk else {
            notes.push(format!("{kind}: wrk failed"));
            return LoadRun::default();
        };
        if !wrk.errors.is_empty() {
            notes.push(format!("{kind}: {}", wrk.errors));
        }
        // This process's CPU time stands in for the client's; wrk's own comes from wait4.
        let window = Window::parse(&end.fields_since(&start));
        let n = wrk.requests;
        LoadRun {
            per_sec: wrk.per_sec,
            p50_us: wrk.p50_us,
            p99_us: wrk.p99_us,
            server_cpu_us: window.server_cpu * 1e6 / n,
            core_us: window.busy(cores.server) * 1e6 / n,
            client_cpu_us: wrk.cpu.as_secs_f64() * 1e6 / n,
            enters: before.zip(after).map(|(a, b)| (b - a) as f64 / n),
            others: window.others,
            errors: 0.0,
        }
    });
    out += "| server | req/s | vs tokio | p50 µs | p99 µs | server CPU µs/req | vs tokio \
            | server core µs/req | wrk CPU µs/req | enters/req | others |\n\
            |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (s, (label, _)) in servers.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2} | {:.3}× | {:.2} | {:.2} | {} | \
             {} |",
            rounds.median(s, |r| r.per_sec),
            rounds.ratio(s, first, |r| r.per_sec),
            rounds.median(s, |r| r.p50_us),
            rounds.median(s, |r| r.p99_us),
            rounds.median(s, |r| r.server_cpu_us),
            rounds.ratio(s, first, |r| r.server_cpu_us),
            rounds.median(s, |r| r.core_us),
            rounds.median(s, |r| r.client_cpu_us),
            opt(rounds.enters(s), 4),
            rounds.others(s),
        );
    }
    for note in notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out.push('\n');
    out
}
