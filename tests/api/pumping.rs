//! SMS-pumping simulation with the default thresholds: an attack mixing sequential numbers
//! in a few blocks, premium and toll-free numbers, foreign numbers, and numbers spread over
//! many blocks that are never authenticated. Less than 5% of it may get through, while a
//! legitimate run of the same size (spread numbers, codes typed back) is never refused.
//!
//! The only non-default settings: `conversion_grace_seconds = 0`, as the simulation runs in
//! seconds, not the minutes the default grace waits for people to type their codes; and the
//! per-replica project guard is off, so that what is measured is the shared, replica-exact
//! rules (at 1200 requests in a few seconds the guard would otherwise refuse a timing-
//! dependent part of the attack, and could touch the legitimate run on a fast machine).

use futures_util::future::join_all;
use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;
use std::collections::BTreeMap;

use crate::helpers::{spawn_app_with, unique_us_number, TestApp};

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
