//! SMS-pumping simulations.
//!
//! At the default settings, in real time: a burst paced at ~100/s of never-authenticated
//! numbers spread over many blocks while returning users log in, and a fresh project's launch
//! whose users type their codes back a few seconds later (the pending-sends budget).
//!
//! With the conversion grace at 0 (so the breaker judges every send at once): an attack mixing
//! sequential numbers in a few blocks, premium and toll-free numbers, foreign numbers, and
//! numbers spread over many blocks that are never authenticated. Less than 5% of it may get
//! through, while a legitimate run of the same size (spread numbers, codes typed back) is never
//! refused. The per-replica project guard is off there, so that what is measured is the shared,
//! replica-exact rules (at 1200 requests in a few seconds the guard would otherwise refuse a
//! timing-dependent part of the attack, and could touch the legitimate run on a fast machine).

use futures_util::future::join_all;
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tokio::time::sleep_until;

use crate::helpers::{spawn_app, spawn_app_with, unique_us_number, TestApp};

fn simulation_settings() -> ProjectSettings {
    let mut s = ProjectSettings::default();
    s.limits.conversion_grace_seconds = 0;
    s
}

/// Sends to every number, 8 at a time; returns how many were sent, and the refusals by
/// error type.
async fn run(app: &TestApp, numbers: &[String]) -> (usize, BTreeMap<String, usize>) {
    let mut sent = 0;
    let mut refused = BTreeMap::new();
    for chunk in numbers.chunks(8) {
        for r in join_all(chunk.iter().map(|n| app.login_or_create(n))).await {
            if r.status == StatusCode::OK {
                sent += 1;
            } else {
                assert!(r.status.is_client_error(), "{:?}", r.body);
                *refused.entry(r.error_type().to_owned()).or_insert(0) += 1;
            }
        }
    }
    (sent, refused)
}

#[tokio::test]
async fn a_pumping_attack_gets_less_than_5_percent_through() {
    let app = spawn_app_with(
        |c| c.limits.project_per_second = 0,
        simulation_settings(),
        false,
    )
    .await;
    let mut attack = Vec::new();
    // 400 sequential numbers in 4 blocks of a US range.
    for block in ["+1201555", "+1201556", "+1973555", "+1312555"] {
        attack.extend((0..100).map(|i| format!("{block}{:04}", 3000 + i)));
    }
    // 200 premium-rate and toll-free numbers.
    attack.extend((0..100).map(|i| format!("+1900234{:04}", 1000 + i)));
    attack.extend((0..100).map(|i| format!("+1800234{:04}", 1000 + i)));
    // 200 foreign numbers: high-risk and not-enabled countries.
    let foreign = [
        "+23480312",
        "+92300123",
        "+88017123",
        "+44740012",
        "+3361234",
        "+9198765",
    ];
    attack.extend((0..200).map(|i| format!("{}{:04}", foreign[i % foreign.len()], 1000 + i)));
    // 400 numbers spread over many blocks, never authenticated.
    attack.extend((0..400).map(|_| unique_us_number()));

    let (sent, refused) = run(&app, &attack).await;
    let share = sent as f64 / attack.len() as f64;
    println!(
        "pumping simulation: {sent} of {} sends got through ({:.1}%); refused by type: {refused:?}",
        attack.len(),
        share * 100.0
    );
    assert!(share < 0.05, "{sent} of {} got through", attack.len());
    assert!(refused.contains_key("too_few_tokens_authenticated"));
    assert!(refused.contains_key("unsupported_phone_number_type"));
    assert!(refused.contains_key("invalid_phone_number_country_code"));
    assert!(refused.contains_key("too_many_requests"));
}

#[tokio::test]
async fn a_legitimate_run_of_the_same_size_is_never_refused() {
    let app = spawn_app_with(
        |c| c.limits.project_per_second = 0,
        simulation_settings(),
        false,
    )
    .await;
    let people: Vec<String> = (0..300)
        .map(|i| {
            if i % 5 == 0 {
                format!("+1613{:03}{:04}", 234 + i % 700, i)
            } else {
                unique_us_number()
            }
        })
        .collect();
    let mut refused = 0;
    for chunk in people.chunks(8) {
        let replies = join_all(chunk.iter().map(|n| app.login_or_create(n))).await;
        for (phone, r) in chunk.iter().zip(replies) {
            if r.status != StatusCode::OK {
                refused += 1;
                println!("legit send refused: {:?}", r.body);
                continue;
            }
            // Most people type their code back.
            let code = app.last_code(phone).await;
            let ok = app
                .authenticate(r.body["phone_id"].as_str().unwrap(), &code)
                .await;
            assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
        }
    }
    println!("legitimate run: {} sends, {refused} refused", people.len());
    assert_eq!(refused, 0);
}

/// Real US area codes; with exchanges 230-549 that is 9,600 blocks.
const AREA_CODES: [u16; 30] = [
    201, 202, 203, 205, 206, 207, 208, 210, 212, 213, 214, 215, 216, 217, 218, 219, 224, 225, 228,
    229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256,
];

/// `n` valid US numbers, no two in the same block (so prefix velocity never sees them);
/// `salt` keeps different sets apart.
pub(crate) fn spread_us_numbers(n: usize, salt: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let area = AREA_CODES[i % AREA_CODES.len()];
            let exchange = 230 + (i / AREA_CODES.len() + salt * 97) % 320;
            let line = (i * 7919 + salt * 1237) % 10_000;
            format!("+1{area}{exchange:03}{line:04}")
        })
        .collect()
}

/// The default app with a client that drops idle connections well before the server's
/// keep-alive does, so a paced run never reuses one the server is closing.
async fn paced_app() -> TestApp {
    let mut app = spawn_app().await;
    app.client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_millis(1000))
        .build()
        .expect("client");
    app
}

pub(crate) async fn sign_in(app: &TestApp, phone: &str) -> Result<(), String> {
    let r = app.login_or_create(phone).await;
    if r.status != StatusCode::OK {
        return Err(format!("send: {} {}", r.status, r.body));
    }
    let code = app.last_code(phone).await;
    let ok = app
        .authenticate(r.body["phone_id"].as_str().unwrap_or_default(), &code)
        .await;
    if ok.status != StatusCode::OK {
        return Err(format!("authenticate: {} {}", ok.status, ok.body));
    }
    Ok(())
}

#[tokio::test]
async fn a_launch_of_new_users_typing_their_codes_back_is_never_refused() {
    let app = paced_app().await;
    // 200 people sign up at 10/s; each types the code 2-5 s after it arrives.
    let people = spread_us_numbers(200, 3);
    let start = tokio::time::Instant::now();
    let t0 = Instant::now();
    let results = join_all(people.iter().enumerate().map(|(i, phone)| {
        let app = &app;
        async move {
            sleep_until(start + Duration::from_millis(100 * i as u64)).await;
            let r = app.login_or_create(phone).await;
            if r.status != StatusCode::OK {
                return Err(format!("send {i}: {} {}", r.status, r.body));
            }
            let typing = 2000 + (i as u64 * 1543) % 3001;
            tokio::time::sleep(Duration::from_millis(typing)).await;
            let code = app.last_code(phone).await;
            let ok = app
                .authenticate(r.body["phone_id"].as_str().unwrap_or_default(), &code)
                .await;
            if ok.status != StatusCode::OK {
                return Err(format!("authenticate {i}: {} {}", ok.status, ok.body));
            }
            Ok(())
        }
    }))
    .await;
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    println!(
        "launch at default settings: {} sign-ups at 10/s in {:.1}s, {} authenticated, {} refused",
        people.len(),
        t0.elapsed().as_secs_f64(),
        people.len() - refused.len(),
        refused.len()
    );
    assert!(refused.is_empty(), "{refused:?}");
}
