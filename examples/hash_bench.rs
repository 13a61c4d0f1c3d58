//! Measures argon2id cost candidates for passcode hashing, and what the reused-memory
//! pool in `otpd::hashing` gains over allocating fresh memory for every hash.
//!
//! ```text
//! cargo run --release --example hash_bench                      # candidate table
//! cargo run --release --example hash_bench -- --m 19456 --t 2 --p 1 --n 200
//! ```
//!
//! Passing any of `--m`, `--t`, `--p` measures just that one configuration (missing
//! ones default to 19456 / 2 / 1); otherwise a table of candidates is measured.
//! `--n` is the number of hashes per measurement (default 200, or 60 per row for
//! the table so that it finishes in a few minutes on two cores).
//!
//! Columns:
//! - `pool p50/p95`: latency of one `Hasher::hash` call with a 1-thread pool, calls
//!   made one after another (includes the hand-off to the hashing thread).
//! - `fresh p50`: the stock `PasswordHasher::hash_password`, which allocates its
//!   memory per call, timed in the same loop, interleaved with the pool calls so
//!   that machine noise hits both alike.
//! - `pool/s`, `fresh/s`: throughput with 2 threads, n hashes in total.
//! - `gain`: pool/s divided by fresh/s.
//! - `pool CPU ms/hash`: CPU time the process spent (all its threads, from
//!   `/proc/self/task/*/schedstat`, so in nanoseconds and whatever else runs on the machine)
//!   per hash during the pool runs: what one hash costs, which `scripts/bench` divides by
//!   otpd's CPU per operation (the hashing share). Wall-clock rates drift with the machine's
//!   other load; CPU time per hash much less.

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use otpd::hashing::{Hasher, HashingParams};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::SecretString;

const PEPPER: &str = "bench-pepper-not-a-real-secret-0123456789";
const CODE: &str = "123456";
const THREADS: usize = 2;

type BenchResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

struct Args {
    single: Option<(u32, u32, u32)>,
    n: Option<usize>,
}

fn parse_args() -> BenchResult<Args> {
    let (mut m, mut t, mut p, mut n) = (None, None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--m" => m = Some(value.parse::<u32>()?),
            "--t" => t = Some(value.parse::<u32>()?),
            "--p" => p = Some(value.parse::<u32>()?),
            "--n" => n = Some(value.parse::<usize>()?),
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: hash_bench [--m KIB --t T --p P --n N]"
                )
                .into())
            }
        }
    }
    let single = if m.is_some() || t.is_some() || p.is_some() {
        Some((m.unwrap_or(19456), t.unwrap_or(2), p.unwrap_or(1)))
    } else {
        None
    };
    if n == Some(0) {
        return Err("--n must be at least 1".into());
    }
    Ok(Args { single, n })
}

struct Row {
    m: u32,
    t: u32,
    p: u32,
    pool_p50: Duration,
    pool_p95: Duration,
    fresh_p50: Duration,
    pool_rate: f64,
    fresh_rate: f64,
    pool_cpu: Option<Duration>,
}

fn params(m: u32, t: u32, p: u32, threads: usize, queue: usize) -> HashingParams {
    HashingParams {
        m_cost_kib: m,
        t_cost: t,
        p_cost: p,
        threads,
        queue,
        // Measures the pool's rate, so nothing is shed by expected wait.
        max_wait_ms: 0,
        shed_pause_ms: 0,
    }
}

fn pepper() -> SecretString {
    SecretString::from(PEPPER)
}

/// One hash exactly as a service without the pool would do it: fresh salt, fresh
/// argon2 memory, PHC string out.
fn fresh_hash(argon: &Argon2<'_>) -> BenchResult<String> {
    let mut salt = [0u8; 16];
    OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(argon.hash_password(CODE.as_bytes(), &salt)?.to_string())
}

fn stock(m: u32, t: u32, p: u32) -> BenchResult<Argon2<'static>> {
    Ok(Argon2::new_with_secret(
        PEPPER.as_bytes(),
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(m, t, p, None)?,
    )?)
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = (sorted.len() * pct).div_ceil(100).saturating_sub(1);
    sorted[idx.min(sorted.len() - 1)]
}

async fn latency(m: u32, t: u32, p: u32, n: usize) -> BenchResult<(Duration, Duration, Duration)> {
    let pool = Hasher::start(&params(m, t, p, 1, 4), pepper())?;
    let argon = stock(m, t, p)?;
    let code = SecretString::from(CODE);
    // Warm-up: first-touch effects and CPU frequency ramp are not what we measure.
    for _ in 0..2 {
        pool.hash(&code).await?;
        fresh_hash(&argon)?;
    }
    let mut pooled = Vec::with_capacity(n);
    let mut fresh = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        pool.hash(&code).await?;
        pooled.push(start.elapsed());
        let start = Instant::now();
        fresh_hash(&argon)?;
        fresh.push(start.elapsed());
    }
    pooled.sort();
    fresh.sort();
    Ok((
        percentile(&pooled, 50),
        percentile(&pooled, 95),
        percentile(&fresh, 50),
    ))
}

/// CPU time of this process's threads alive now (Linux; `None` elsewhere). The pool's threads
/// live as long as the pool, so a difference over a pool run is that run's CPU.
fn process_cpu() -> Option<Duration> {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(ns))
}

async fn pool_run(pool: &Hasher, n: usize) -> BenchResult<Duration> {
    let mut jobs = tokio::task::JoinSet::new();
    let start = Instant::now();
    for _ in 0..n {
        let pool = pool.clone();
        jobs.spawn(async move { pool.hash(&SecretString::from(CODE)).await });
    }
    while let Some(done) = jobs.join_next().await {
        done??;
    }
    Ok(start.elapsed())
}

fn fresh_run(argon: &Arc<Argon2<'static>>, n: usize) -> BenchResult<Duration> {
    let start = Instant::now();
    let workers: Vec<_> = (0..THREADS)
        .map(|i| {
            let argon = Arc::clone(argon);
            // Split n as evenly as the pool would.
            let share = n / THREADS + usize::from(i < n % THREADS);
            std::thread::spawn(move || -> BenchResult<()> {
                for _ in 0..share {
                    fresh_hash(&argon)?;
                }
                Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "fresh-allocation worker panicked")??;
    }
    Ok(start.elapsed())
}

/// Pool and fresh hashes per second, and the pool's CPU time per hash.
async fn throughput(m: u32, t: u32, p: u32, n: usize) -> BenchResult<(f64, f64, Option<Duration>)> {
    let pool = Hasher::start(&params(m, t, p, THREADS, n.max(THREADS * 2)), pepper())?;
    let argon = Arc::new(stock(m, t, p)?);
    pool_run(&pool, THREADS * 2).await?;
    fresh_run(&argon, THREADS * 2)?;
    // ABBA order so that drift in machine load during the run is shared evenly.
    let first = n / 2;
    let second = n - first;
    let cpu0 = process_cpu();
    let mut pool_time = pool_run(&pool, first).await?;
    let cpu1 = process_cpu();
    let mut fresh_time = fresh_run(&argon, first)?;
    fresh_time += fresh_run(&argon, second)?;
    let cpu2 = process_cpu();
    pool_time += pool_run(&pool, second).await?;
    let cpu3 = process_cpu();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    // (The fresh runs' threads have exited by then, so they are not in either difference.)
    let pool_cpu = match (cpu0, cpu1, cpu2, cpu3) {
        (Some(a), Some(b), Some(c), Some(d)) => {
            Some((b.saturating_sub(a) + d.saturating_sub(c)) / u32::try_from(n).unwrap_or(1))
        }
        _ => None,
    };
    Ok((rate(pool_time), rate(fresh_time), pool_cpu))
}

async fn measure(m: u32, t: u32, p: u32, n: usize) -> BenchResult<Row> {
    let (pool_p50, pool_p95, fresh_p50) = latency(m, t, p, n).await?;
    let (pool_rate, fresh_rate, pool_cpu) = throughput(m, t, p, n).await?;
    Ok(Row {
        m,
        t,
        p,
        pool_p50,
        pool_p95,
        fresh_p50,
        pool_rate,
        fresh_rate,
        pool_cpu,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn print_header(n: usize) {
    let cpus = std::thread::available_parallelism().map_or(0, |c| c.get());
    println!("# argon2id passcode hashing, n={n} hashes per measurement, {cpus} CPUs visible");
    println!(
        "| m KiB | t | p | pool p50 ms | pool p95 ms | fresh p50 ms | pool/s ({THREADS} thr) | fresh/s ({THREADS} thr) | gain | pool CPU ms/hash |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
}

fn print_row(r: &Row) {
    println!(
        "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2}x | {} |",
        r.m,
        r.t,
        r.p,
        ms(r.pool_p50),
        ms(r.pool_p95),
        ms(r.fresh_p50),
        r.pool_rate,
        r.fresh_rate,
        r.pool_rate / r.fresh_rate,
        r.pool_cpu
            .map_or_else(|| "?".to_owned(), |d| format!("{:.3}", ms(d))),
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> BenchResult<()> {
    let args = parse_args()?;
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; use --release for meaningful figures");
    }
    let (configs, n) = match args.single {
        Some(one) => (vec![one], args.n.unwrap_or(200)),
        None => {
            let mut table = Vec::new();
            for m in [8192, 19456, 47104] {
                for t in [1, 2, 3] {
                    table.push((m, t, 1));
                }
            }
            (table, args.n.unwrap_or(60))
        }
    };
    print_header(n);
    for (m, t, p) in configs {
        let row = measure(m, t, p, n).await?;
        print_row(&row);
    }
    Ok(())
}
