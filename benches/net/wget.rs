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
    let addrs = farm
        .addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let pids = farm
        .children
        .iter()
        .map(|c| c.id().to_string())
        .collect::<Vec<_>>()
        .join(",");
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

pub(crate) fn find_nginx() -> Option<String> {
    ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|path| {
            Command::new(path)
                .arg("-v")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(str::to_owned)
}

/// nginx servers in a temporary directory, one per loopback address 127.0.0.1..=N; killed and
/// cleaned up on drop.
pub(crate) struct NginxFarm {
    pub(crate) dir: std::path::PathBuf,
    pub(crate) children: Vec<Child>,
    pub(crate) addrs: Vec<SocketAddr>,
}

impl NginxFarm {
    pub(crate) fn start(nginx: &str, count: usize, pin: Pin) -> io::Result<NginxFarm> {
        let dir = std::env::temp_dir().join(format!("coring-net-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut farm = NginxFarm {
            dir,
            children: Vec::new(),
            addrs: Vec::new(),
        };
        for i in 0..count {
            let ip = format!("127.0.0.{}", i + 1);
            let port = std::net::TcpListener::bind((ip.as_str(), 0))?
                .local_addr()?
                .port();
            let addr: SocketAddr = format!("{ip}:{port}").parse().expect("address");
            let d = farm.dir.display();
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx-{i}.pid;\n\
                 error_log {d}/error-{i}.log error;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  default_type text/plain;\n\
                 client_body_temp_path {d}/body-{i};\n  proxy_temp_path {d}/proxy-{i};\n\
                 fastcgi_temp_path {d}/fastcgi-{i};\n  uwsgi_temp_path {d}/uwsgi-{i};\n\
                 scgi_temp_path {d}/scgi-{i};\n\
                 server {{ listen {addr} backlog=4096; return 200 \"hello\\n\"; }}\n}}\n"
            );
            let path = farm.dir.join(format!("nginx-{i}.conf"));
            std::fs::write(&path, conf)?;
            let mut cmd = Command::new(nginx);
            cmd.arg("-p")
                .arg(&farm.dir)
                .arg("-e")
                .arg(farm.dir.join(format!("error-{i}.log")))
                .arg("-c")
                .arg(&path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            farm.children.push(pin.spawn(&mut cmd)?);
            farm.addrs.push(addr);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, addr) in farm.addrs.iter().enumerate() {
            while std::net::TcpStream::connect(addr).is_err() {
                if let Ok(Some(status)) = farm.children[i].try_wait() {
                    let log = std::fs::read_to_string(farm.dir.join(format!("error-{i}.log")))
                        .unwrap_or_default();
                    return Err(io::Error::other(format!(
                        "nginx {i} exited ({status}): {log}"
                    )));
                }
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "nginx {i} never listened on {addr}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(farm)
    }
}

impl Drop for NginxFarm {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
