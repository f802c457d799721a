//! Measurements: one run, rounds of runs, and their summary; waiting for a quiet machine.

use super::*;

/// What one measured run gave, per request (round trip, HTTP request, fetch).
#[derive(Clone, Copy)]
pub(crate) struct LoadRun {
    pub(crate) per_sec: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// The server processes' `utime + stime`.
    pub(crate) server_cpu_us: f64,
    /// Everything the server's CPU did (user, system, irq, softirq, from `/proc/stat`), if the
    /// server had a CPU of its own. Above `server_cpu_us` when softirq work ran outside the
    /// server's own context (in `ksoftirqd`) or interrupts were taken while it slept.
    pub(crate) core_us: f64,
    /// The load generator's (or client's) CPU time.
    pub(crate) client_cpu_us: f64,
    pub(crate) enters: Option<f64>,
    /// How long our processes waited for a CPU another process held, as a fraction of the window
    /// (their run-queue delay, `/proc/<pid>/task/*/schedstat`).
    pub(crate) others: f64,
    /// Failed requests (wget fetches).
    pub(crate) errors: f64,
}

impl Default for LoadRun {
    fn default() -> Self {
        LoadRun {
            per_sec: f64::NAN,
            p50_us: f64::NAN,
            p99_us: f64::NAN,
            server_cpu_us: f64::NAN,
            core_us: f64::NAN,
            client_cpu_us: f64::NAN,
            enters: None,
            others: f64::NAN,
            errors: 0.0,
        }
    }
}

/// Largest run-queue delay of our processes (a fraction of the window) before a run is repeated.
pub(crate) const OTHERS_MAX: f64 = 0.03;

/// Longest wait for a quiet machine before a measurement, unless `NET_BENCH_QUIET_WAIT` (seconds)
/// says otherwise: on a machine that is never quiet, 0 measures at once and leaves the judging to
/// the paired ratios and the "others" column.
pub(crate) const QUIET_WAIT: Duration = Duration::from_secs(120);

fn quiet_wait() -> Duration {
    std::env::var("NET_BENCH_QUIET_WAIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(QUIET_WAIT, Duration::from_secs_f64)
}

/// Waits (up to [`quiet_wait`]) until the machine has been nearly idle for half a second: the
/// machine is shared, and a compile running next to a benchmark halves its figures.
pub(crate) fn wait_for_quiet(label: &str) {
    let deadline = Instant::now() + quiet_wait();
    let mut said = false;
    loop {
        let before = SysTimes::now();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        let busy = SysTimes::now().busy_total() - before.busy_total();
        let share = busy as f64 / start.elapsed().as_nanos() as f64;
        if share < 0.1 {
            return;
        }
        if Instant::now() > deadline {
            println!(
                "  {label}: the machine stayed busy ({:.0}% of a CPU); measuring anyway",
                share * 100.0
            );
            return;
        }
        if !said {
            println!(
                "  {label}: waiting for other processes to finish ({:.0}% of a CPU busy)",
                share * 100.0
            );
            said = true;
        }
    }
}

/// Runs `run` until no other process held our CPUs for more than [`OTHERS_MAX`] of its window,
/// at most `1 + mode.retries` times (each after [`wait_for_quiet`]); keeps the least disturbed
/// run otherwise.
pub(crate) fn measured(mode: &Mode, label: &str, mut run: impl FnMut() -> LoadRun) -> LoadRun {
    let mut kept: Option<LoadRun> = None;
    for attempt in 0..=mode.retries {
        if mode.retries > 0 {
            wait_for_quiet(label);
        }
        let r = run();
        if r.others.is_nan() || r.others <= OTHERS_MAX {
            return r;
        }
        println!(
            "  {label}: our processes waited {:.0}% of the window for a CPU held by others; {}",
            r.others * 100.0,
            if attempt < mode.retries {
                "measuring again"
            } else {
                "keeping the least disturbed run"
            }
        );
        if kept.is_none_or(|k| r.others < k.others) {
            kept = Some(r);
        }
    }
    kept.expect("at least one run")
}

/// The runs of one configuration: `rounds[r][s]` is server `s` in round `r`. Servers take turns
/// within a round, so slow drifts of the shared machine hit them alike, and ratios are taken
/// within a round.
pub(crate) struct Rounds {
    pub(crate) rounds: Vec<Vec<LoadRun>>,
}

impl Rounds {
    /// `mode.reps` rounds of `one(kind)` for every `(label, kind)` in `servers`.
    pub(crate) fn run(
        mode: &Mode,
        case: &str,
        servers: &[(&str, &str)],
        mut one: impl FnMut(&str) -> LoadRun,
    ) -> Rounds {
        let mut rounds = Vec::new();
        for _ in 0..mode.reps {
            let round = servers
                .iter()
                .map(|(label, kind)| {
                    let name = format!("{case} {label}");
                    let run = measured(mode, &name, || one(kind));
                    println!(
                        "{name}: {:.0}/s, p99 {:.0} µs, server {:.2} µs (core {:.2}), client \
                         {:.2} µs, enters {}, others {:.1}%",
                        run.per_sec,
                        run.p99_us,
                        run.server_cpu_us,
                        run.core_us,
                        run.client_cpu_us,
                        opt(run.enters, 4),
                        run.others * 100.0,
                    );
                    run
                })
                .collect();
            rounds.push(round);
        }
        Rounds { rounds }
    }

    /// The median over rounds of `f` for server `s`.
    pub(crate) fn median(&self, s: usize, f: impl Fn(&LoadRun) -> f64) -> f64 {
        median(self.rounds.iter().map(|round| f(&round[s])).collect())
    }

    /// The geometric mean over rounds of `f(server s) / f(base)`, where `base` picks the
    /// reference server of each round.
    pub(crate) fn ratio(
        &self,
        s: usize,
        base: impl Fn(&[LoadRun]) -> usize,
        f: impl Fn(&LoadRun) -> f64,
    ) -> f64 {
        let logs: Vec<f64> = self
            .rounds
            .iter()
            .map(|round| (f(&round[s]) / f(&round[base(round)])).ln())
            .collect();
        (logs.iter().sum::<f64>() / logs.len() as f64).exp()
    }

    pub(crate) fn enters(&self, s: usize) -> Option<f64> {
        let values: Vec<f64> = self.rounds.iter().filter_map(|r| r[s].enters).collect();
        (!values.is_empty()).then(|| median(values))
    }

    /// The worst run-queue delay of server `s`'s runs, as a table cell.
    pub(crate) fn others(&self, s: usize) -> String {
        if self.rounds.iter().all(|r| r[s].others.is_nan()) {
            return "n/a".to_owned();
        }
        let worst = self.rounds.iter().map(|r| r[s].others).fold(0.0, f64::max);
        let flag = if worst > OTHERS_MAX { " ⚠" } else { "" };
        format!("{:.1}%{flag}", worst * 100.0)
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The first server of every round: tokio current-thread in cases a–c.
pub(crate) fn first(_: &[LoadRun]) -> usize {
    0
}

/// `servers`, plus the raw loop with batched waits (`kind`) when `$NET_BENCH_RAW_BATCH` is set.
pub(crate) fn with_experiment(
    servers: &[(&'static str, &'static str)],
    kind: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut all = servers.to_vec();
    if std::env::var_os("NET_BENCH_RAW_BATCH").is_some() {
        all.push(("raw io_uring loop, batched waits", kind));
    }
    all
}
