//! The wget case (an nginx farm and the clients) and the multi-worker echo case.

use super::*;

// c. The seed's wget at scale: connect, GET, head, close, against four nginx servers.

pub(crate) const WGET_CLIENTS: [(&str, &str); 2] =
    [("tokio current-thread", "tokio"), ("coring", "coring")];

pub(crate) fn wget_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### c. wget at scale: {} fetches in flight against 4 nginx (nginx pinned to one CPU, \
         client to the other; medians of {} rounds)\n\n",
        mode.wget_inflight, mode.reps
    );
    let Some(nginx) = find_nginx() else {
        out += "skipped: nginx is not installed (`apt-get install -y nginx`).\n\n";
        skipped("wget: skipped, nginx not found");
        return out;
    };
    let farm = match NginxFarm::start(&nginx, 4, Pin::Cpu(cores.server)) {
        Ok(farm) => farm,
        Err(err) => {
            let _ = writeln!(out, "skipped: nginx did not start: {err}\n");
            skipped(&format!("wget: skipped, nginx did not start: {err}"));
            return out;
        }
    };
    let (addrs, pids) = (farm.addr_list(), farm.pids());
    let rounds = Rounds::run(mode, "wget", &WGET_CLIENTS, |runtime| {
        let args = [
            "wget".to_owned(),
            runtime.to_owned(),
            addrs.clone(),
            mode.wget_inflight.to_string(),
            mode.warmup.as_millis().to_string(),
            mode.window.as_millis().to_string(),
            pids.clone(),
        ];
        let output = spawn_self(&args, Pin::Cpu(cores.load))
            .wait_with_output()
            .expect("wget client");
        let text = String::from_utf8_lossy(&output.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("RESULT "))
            .unwrap_or_else(|| panic!("wget {runtime} printed no RESULT: {text}"));
        let fetches = field(line, "fetches");
        let window = Window::parse(line);
        LoadRun {
            per_sec: fetches / window.secs,
            server_cpu_us: window.server_cpu * 1e6 / fetches,
            core_us: window.busy(cores.server) * 1e6 / fetches,
            client_cpu_us: window.client_cpu * 1e6 / fetches,
            enters: line
                .contains("enters=")
                .then(|| field(line, "enters") / fetches),
            others: window.others,
            errors: field(line, "errors"),
            ..LoadRun::default()
        }
    });
    drop(farm);
    out += "| client | fetches/s | vs tokio | client CPU µs/fetch | vs tokio | nginx CPU µs/fetch \
            | errors | enters/fetch | others |\n\
            |---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (s, (label, _)) in WGET_CLIENTS.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {label} | {:.0} | {:.3}× | {:.2} | {:.3}× | {:.2} | {:.0} | {} | {} |",
            rounds.median(s, |r| r.per_sec),
            rounds.ratio(s, first, |r| r.per_sec),
            rounds.median(s, |r| r.client_cpu_us),
            rounds.ratio(s, first, |r| r.client_cpu_us),
            rounds.median(s, |r| r.server_cpu_us),
            rounds.median(s, |r| r.errors),
            opt(rounds.enters(s), 3),
            rounds.others(s),
        );
    }
    out.push('\n');
    out
}

// ---------------------------------------------------------------------------------------------
// d. Echo on two workers.

pub(crate) const MULTI_SERVERS: [(&str, &str); 3] = [
    ("tokio multi-thread, 2 workers", "echo2-tokio-mt"),
    ("2 tokio current-thread, SO_REUSEPORT", "echo2-tokio-ct"),
    ("coring build_multi(2), SO_REUSEPORT", "echo2-coring"),
];

pub(crate) fn multi_case(mode: &Mode, cores: &Cores) -> String {
    let mut out = format!(
        "### d. Echo on two workers, 1 KiB (load generator NOT pinned: it shares the two CPUs \
         with the servers; medians of {} rounds; ratios against the faster tokio set-up of each \
         round)\n\n\
         | msg | conns | server | round trips/s | vs best tokio | p50 µs | p99 µs | server CPU \
         µs/RT | vs that tokio | load CPU µs/RT | others |\n\
         |---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        mode.reps
    );
    let size = 1024;
    // The faster of the two tokio set-ups in each round.
    let best_tokio = |round: &[LoadRun]| usize::from(round[1].per_sec > round[0].per_sec);
    for &conns in mode.multi_conns {
        let case = format!("multi {} x{conns}", kib(size));
        let rounds = Rounds::run(mode, &case, &MULTI_SERVERS, |kind| {
            echo_run(kind, size, conns, mode, cores, false)
        });
        for (s, (label, _)) in MULTI_SERVERS.iter().enumerate() {
            let _ = writeln!(
                out,
                "| {} | {conns} | {label} | {:.0} | {:.3}× | {:.0} | {:.0} | {:.2} | {:.3}× | \
                 {:.2} | {} |",
                kib(size),
                rounds.median(s, |r| r.per_sec),
                rounds.ratio(s, best_tokio, |r| r.per_sec),
                rounds.median(s, |r| r.p50_us),
                rounds.median(s, |r| r.p99_us),
                rounds.median(s, |r| r.server_cpu_us),
                rounds.ratio(s, best_tokio, |r| r.server_cpu_us),
                rounds.median(s, |r| r.client_cpu_us),
                rounds.others(s),
            );
        }
    }
    out.push('\n');
    out
}
