//! File I/O benchmark (issue 22): coring::fs against tokio::fs and against std::fs in a loop.
//!
//! ```text
//! cargo bench --bench fs                       # 1 GiB file, 5 rounds (about a minute)
//! CORING_FS_BENCH_MB=256 cargo bench --bench fs  # a smaller file
//! cargo test --release --bench fs              # smoke run: 8 MiB file, one short round
//! ```
//!
//! The file is written once, then read once so it sits in the page cache. Cases:
//!
//! * `random 4 KiB`: reads of 4 KiB at random 4 KiB-aligned offsets (xorshift, fixed seed, the
//!   same offsets for every contender). coring: 64 tasks on one core, each `read_at` with its
//!   own buffer, so 64 reads are in flight. tokio: 64 tasks on the default multi-thread runtime,
//!   each with its own `tokio::fs::File` (`seek` + `read_exact`, the `tokio::fs` way; each is a
//!   hop through the blocking pool), and, as a second tokio row, 64 tasks each calling
//!   `spawn_blocking(pread)` (one hop per read, the best tokio can do). std: one thread, `pread`
//!   in a loop (one in flight).
//! * `sequential 1 MiB`: the whole file in 1 MiB reads, one at a time: coring `read_at`, tokio
//!   `File::read_exact`, std `read_exact`.
//!
//! Rounds run the contenders one after another in a rotating order, so drift on the shared
//! machine hits all; the table gives each one's median over the rounds and the median of the
//! per-round ratios.

use std::io::{Read, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

const BLOCK: usize = 4096;
const IN_FLIGHT: usize = 64;
const SEQ_CHUNK: usize = 1 << 20;
const SEED: u64 = 0x2545_f491_4f6c_dd1d;

struct Sizes {
    file_mb: u64,
    random_ops: usize,
    rounds: usize,
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The random offsets, split among the 64 tasks (task `t` takes every 64th).
fn offsets(sizes: &Sizes) -> Vec<u64> {
    let blocks = sizes.file_mb * (1 << 20) / BLOCK as u64;
    let mut state = SEED;
    (0..sizes.random_ops)
        .map(|_| (xorshift(&mut state) % blocks) * BLOCK as u64)
        .collect()
}

fn prepare(path: &Path, mb: u64) {
    let fresh = std::fs::metadata(path).is_ok_and(|m| m.len() == mb << 20);
    if !fresh {
        let mut file = std::fs::File::create(path).unwrap();
        let mut chunk = vec![0u8; 1 << 20];
        let mut state = SEED;
        for _ in 0..mb {
            for word in chunk.chunks_exact_mut(8) {
                word.copy_from_slice(&xorshift(&mut state).to_ne_bytes());
            }
            file.write_all(&chunk).unwrap();
        }
        file.sync_all().unwrap();
    }
    // Into the page cache.
    let mut file = std::fs::File::open(path).unwrap();
    let mut chunk = vec![0u8; 1 << 20];
    while file.read(&mut chunk).unwrap() > 0 {}
}

fn coring_random(path: &Path, offsets: &[u64]) -> Duration {
    let offsets: Rc<[u64]> = offsets.into();
    let runtime = coring::Runtime::new().unwrap();
    runtime.block_on(async {
        let file = Rc::new(coring::fs::File::open(path).await.unwrap());
        let start = Instant::now();
        let tasks = (0..IN_FLIGHT).map(|t| {
            let (file, offsets) = (file.clone(), offsets.clone());
            coring::spawn(async move {
                let mut buf = Vec::with_capacity(BLOCK);
                for &pos in offsets.iter().skip(t).step_by(IN_FLIGHT) {
                    buf.clear();
                    let (n, back) = file.read_at(buf, pos).await;
                    assert_eq!(n.unwrap(), BLOCK);
                    buf = back;
                }
            })
        });
        coring::task::join_all(tasks.collect::<Vec<_>>()).await;
        start.elapsed()
    })
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn tokio_random(path: &Path, offsets: &[u64]) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let offsets: std::sync::Arc<[u64]> = offsets.into();
    tokio_runtime().block_on(async {
        let mut files = Vec::new();
        for _ in 0..IN_FLIGHT {
            files.push(tokio::fs::File::open(path).await.unwrap());
        }
        let start = Instant::now();
        let tasks: Vec<_> = files
            .into_iter()
            .enumerate()
            .map(|(t, mut file)| {
                let offsets = offsets.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for &pos in offsets.iter().skip(t).step_by(IN_FLIGHT) {
                        file.seek(SeekFrom::Start(pos)).await.unwrap();
                        file.read_exact(&mut buf).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

fn tokio_pread_random(path: &Path, offsets: &[u64]) -> Duration {
    let offsets: std::sync::Arc<[u64]> = offsets.into();
    let file = std::sync::Arc::new(std::fs::File::open(path).unwrap());
    tokio_runtime().block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..IN_FLIGHT)
            .map(|t| {
                let (file, offsets) = (file.clone(), offsets.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; BLOCK];
                    for &pos in offsets.iter().skip(t).step_by(IN_FLIGHT) {
                        let file = file.clone();
                        buf = tokio::task::spawn_blocking(move || {
                            file.read_exact_at(&mut buf, pos).unwrap();
                            buf
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

fn std_random(path: &Path, offsets: &[u64]) -> Duration {
    let file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; BLOCK];
    let start = Instant::now();
    for &pos in offsets {
        file.read_exact_at(&mut buf, pos).unwrap();
    }
    start.elapsed()
}

fn coring_seq(path: &Path, len: u64) -> Duration {
    coring::block_on(async {
        let file = coring::fs::File::open(path).await.unwrap();
        let start = Instant::now();
        let (mut pos, mut buf) = (0, Vec::with_capacity(SEQ_CHUNK));
        while pos < len {
            buf.clear();
            let (n, back) = file.read_at(buf, pos).await;
            pos += n.unwrap() as u64;
            buf = back;
        }
        start.elapsed()
    })
}

fn tokio_seq(path: &Path, len: u64) -> Duration {
    use tokio::io::AsyncReadExt;
    tokio_runtime().block_on(async {
        let mut file = tokio::fs::File::open(path).await.unwrap();
        let mut buf = vec![0u8; SEQ_CHUNK];
        let start = Instant::now();
        for _ in 0..len / SEQ_CHUNK as u64 {
            file.read_exact(&mut buf).await.unwrap();
        }
        start.elapsed()
    })
}

fn std_seq(path: &Path, len: u64) -> Duration {
    let mut file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; SEQ_CHUNK];
    let start = Instant::now();
    for _ in 0..len / SEQ_CHUNK as u64 {
        file.read_exact(&mut buf).unwrap();
    }
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

type Case<'a> = (&'static str, Box<dyn Fn() -> Duration + 'a>);

/// Runs `cases` for `rounds` rounds in a rotating order; prints each one's median rate
/// (`units` of work per run) and its median per-round ratio to the first case.
fn compare(title: &str, unit: &str, units: f64, rounds: usize, cases: &[Case<'_>]) {
    let mut rates = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for i in 0..cases.len() {
            let i = (i + round) % cases.len();
            rates[i].push(units / (cases[i].1)().as_secs_f64());
        }
    }
    println!("\n{title} ({rounds} rounds, medians)\n");
    println!("| contender | {unit}/s | coring ÷ this (median of per-round ratios) |");
    println!("|---|---:|---:|");
    for (i, (name, _)) in cases.iter().enumerate() {
        let mut ratios: Vec<f64> = (0..rounds).map(|r| rates[0][r] / rates[i][r]).collect();
        let rate = median(&mut rates[i].clone());
        println!("| {name} | {rate:.0} | {:.2}× |", median(&mut ratios));
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes = if bench {
        let mb = std::env::var("CORING_FS_BENCH_MB")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1024);
        Sizes {
            file_mb: mb,
            random_ops: 200_000,
            rounds: 5,
        }
    } else {
        Sizes {
            file_mb: 8,
            random_ops: 2_000,
            rounds: 1,
        }
    };
    let path: PathBuf = std::env::temp_dir().join(format!("coring-fs-bench-{}mb", sizes.file_mb));
    prepare(&path, sizes.file_mb);
    let offsets = offsets(&sizes);
    let len = sizes.file_mb << 20;
    println!(
        "file {} MiB in the page cache; {} random 4 KiB reads, {IN_FLIGHT} in flight",
        sizes.file_mb, sizes.random_ops
    );
    compare(
        "random 4 KiB reads",
        "reads",
        sizes.random_ops as f64,
        sizes.rounds,
        &[
            (
                "coring::fs (64 in flight, 1 core)",
                Box::new(|| coring_random(&path, &offsets)),
            ),
            (
                "tokio::fs (64 tasks, seek + read_exact)",
                Box::new(|| tokio_random(&path, &offsets)),
            ),
            (
                "tokio spawn_blocking(pread) (64 tasks)",
                Box::new(|| tokio_pread_random(&path, &offsets)),
            ),
            (
                "std::fs pread loop (1 in flight)",
                Box::new(|| std_random(&path, &offsets)),
            ),
        ],
    );
    compare(
        "sequential 1 MiB reads",
        "MiB",
        sizes.file_mb as f64,
        sizes.rounds,
        &[
            ("coring::fs read_at", Box::new(|| coring_seq(&path, len))),
            ("tokio::fs read_exact", Box::new(|| tokio_seq(&path, len))),
            ("std::fs read_exact", Box::new(|| std_seq(&path, len))),
        ],
    );
    if !bench {
        let _ = std::fs::remove_file(&path);
    }
}
