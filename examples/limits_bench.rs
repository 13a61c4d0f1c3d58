//! What the replica-exact limits add to a send: one `otpd_admit_send` call (every per-number,
//! prefix, conversion and budget check, and their charges) against the cheapest possible
//! round trip to the same PostgreSQL (`select 1`), timed interleaved so noise hits both alike.
//!
//! ```text
//! scripts/bench-limits            # starts a private PostgreSQL, then runs this
//! DATABASE_URL=postgres://... cargo run --example limits_bench -- --n 3000
//! ```
//!
//! The database at DATABASE_URL is migrated; the bench makes its own project and deletes it.
//! Rows:
//! - `select 1`: a bare round trip on a pooled connection (the floor for any SQL).
//! - `admit, admitted`: sends to distinct numbers spread over many blocks (every check
//!   passes, every counter is charged).
//! - `admit, refused`: sends to one number whose burst is spent (the early refusal path).
//! - `guess charge`: the wrong-guess budget's GCRA step on authenticate.
//! - `admit, 8 concurrent`: the same admitted path with 8 callers at once in one project,
//!   where the project-wide lock serializes the charge.

use std::error::Error;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use otpd::domain::ids::ProjectId;
use otpd::domain::limits::LimitSettings;
use otpd::store::limits::{self, SendAdmission};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

fn admission<'a>(project: &'a ProjectId, number: &'a str, block: &'a str) -> SendAdmission<'a> {
    let l = LimitSettings::default();
    let n = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    SendAdmission {
        project,
        number,
        block,
        country: "US",
        burst: n(l.number_burst),
        interval_ms: i64::from(l.number_interval_seconds) * 1000,
        daily_cap: n(l.number_daily_cap),
        block_max: n(l.prefix_max_sends),
        block_window_s: n(l.prefix_window_seconds),
        conv_min_sends: n(l.conversion_min_sends),
        conv_min_pct: n(l.conversion_min_percent),
        conv_window_s: n(l.conversion_window_seconds),
        conv_grace_s: n(l.conversion_grace_seconds),
        // Budgets high enough not to end the run.
        project_budget: i32::MAX,
        country_budget: i32::MAX,
        // Checked on every send, never reached.
        pending_floor: i32::MAX,
        pending_per_auth: n(l.pending_per_auth),
        pending_typing_s: n(l.pending_typing_seconds),
        pending_rate: i32::MAX,
        pending_burst: i32::MAX,
        pending_pause_s: n(l.pending_pause_seconds),
        new_owner: None,
    }
}

struct Stats(Vec<Duration>);

impl Stats {
    fn row(&mut self, name: &str) -> Duration {
        self.0.sort();
        let at = |q: f64| self.0[((self.0.len() - 1) as f64 * q) as usize];
        let mean = self.0.iter().sum::<Duration>() / self.0.len() as u32;
        println!(
            "{name:<22} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            ms(at(0.5)),
            ms(at(0.95)),
            ms(at(0.99)),
            ms(mean)
        );
        at(0.5)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn number(i: usize) -> (String, String) {
    // Exchanges 230..549 of area 201 × 10000 lines: distinct numbers, ~320 blocks.
    let e164 = format!("+1201{:03}{:04}", 230 + i % 320, (i / 320) % 10_000);
    let block = e164[..e164.len() - 4].to_owned();
    (e164, block)
}

async fn bench(pool: &PgPool, project: &ProjectId, n: usize) -> Result<(), Box<dyn Error>> {
    let mut floor = Stats(Vec::with_capacity(n));
    let mut admitted = Stats(Vec::with_capacity(n));
    let mut refused = Stats(Vec::with_capacity(n));
    let mut guess = Stats(Vec::with_capacity(n));
    let spent = "+12012000000";
    for _ in 0..6 {
        limits::admit_send(pool, &admission(project, spent, "+1201200")).await?;
    }
    for i in 0..n {
        let t = Instant::now();
        sqlx::query("select 1").execute(pool).await?;
        floor.0.push(t.elapsed());

        let (e164, block) = number(i);
        let t = Instant::now();
        let r = limits::admit_send(pool, &admission(project, &e164, &block)).await?;
        admitted.0.push(t.elapsed());
        if r.refused.is_some() {
            return Err(format!("send {i} unexpectedly refused: {:?}", r.refused).into());
        }

        let t = Instant::now();
        let r = limits::admit_send(pool, &admission(project, spent, "+1201200")).await?;
        refused.0.push(t.elapsed());
        if r.refused.is_none() {
            return Err("the spent number was admitted".into());
        }

        let t = Instant::now();
        limits::charge_gcra(pool, project, &format!("g:bench-{i}"), 15, 240_000).await?;
        guess.0.push(t.elapsed());
    }
    let mut concurrent = Stats(Vec::with_capacity(n));
    for round in 0..n / 8 {
        let calls = (0..8).map(|k| {
            let (e164, block) = number(n + round * 8 + k);
            async move {
                let t = Instant::now();
                limits::admit_send(pool, &admission(project, &e164, &block))
                    .await
                    .map(|_| t.elapsed())
            }
        });
        for d in join_all(calls).await {
            concurrent.0.push(d?);
        }
    }
    println!("{n} calls each, milliseconds");
    println!(
        "{:<22} {:>9} {:>9} {:>9} {:>9}",
        "", "p50", "p95", "p99", "mean"
    );
    let base = floor.row("select 1");
    let admit = admitted.row("admit, admitted");
    refused.row("admit, refused");
    guess.row("guess charge");
    concurrent.row("admit, 8 concurrent");
    println!(
        "added per send (p50 admit minus p50 select 1): {:.3} ms; admit/select-1 ratio {:.2}",
        ms(admit.saturating_sub(base)),
        admit.as_secs_f64() / base.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut n = 2000usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--n", Some(v)) => n = v.parse()?,
            _ => return Err("usage: limits_bench [--n CALLS]".into()),
        }
    }
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&url)
        .await?;
    otpd::store::migrate(&pool).await?;
    let project = ProjectId::generate(otpd::domain::ids::Environment::Test);
    sqlx::query("insert into projects (id, name, live) values ($1, 'bench', false)")
        .bind(project.as_str())
        .execute(&pool)
        .await?;
    let result = bench(&pool, &project, n).await;
    sqlx::query("delete from projects where id = $1")
        .bind(project.as_str())
        .execute(&pool)
        .await?;
    result
}
