use std::collections::HashSet;

use crate::helpers::{spawn_app_unlimited as spawn_app, unique_us_number};
use futures_util::future::join_all;
use reqwest::StatusCode;

#[tokio::test]
async fn of_sixteen_concurrent_correct_attempts_exactly_one_succeeds() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    let replies = join_all((0..16).map(|_| app.authenticate(&phone_id, &code))).await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = replies
        .iter()
        .filter(|r| {
            r.status == StatusCode::UNAUTHORIZED && r.error_type() == "unable_to_auth_otp_code"
        })
        .count();
    println!("concurrent correct attempts: {ok} succeeded, {refused} refused");
    assert_eq!(ok, 1);
    assert_eq!(refused, 15);
    assert!(app.count("select attempts::int8 from passcodes").await <= 5);
}

#[tokio::test]
async fn concurrent_wrong_guesses_never_exceed_the_attempt_limit() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let r = app.login_or_create(&phone).await;
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let code = app.last_code(&phone).await;
    // 40 distinct wrong guesses at once: only 5 may reach the hash check.
    let guesses: Vec<String> = (0..40u32)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000))
        .collect();
    let replies = join_all(guesses.iter().map(|g| app.authenticate(&phone_id, g))).await;
    let checked = replies
        .iter()
        .filter(|r| r.error_type() == "otp_code_not_found")
        .count();
    let refused = replies
        .iter()
        .filter(|r| r.error_type() == "unable_to_auth_otp_code")
        .count();
    println!("concurrent wrong guesses: {checked} checked, {refused} refused unchecked");
    assert_eq!(checked, 5);
    assert_eq!(refused, 35);
    assert_eq!(app.count("select attempts::int8 from passcodes").await, 5);
}

#[tokio::test]
async fn twenty_concurrent_login_or_create_calls_make_one_user_and_none_fails() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let replies = join_all((0..20).map(|_| app.login_or_create(&phone))).await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let users: HashSet<&str> = replies
        .iter()
        .map(|r| r.body["user_id"].as_str().unwrap())
        .collect();
    let created = replies
        .iter()
        .filter(|r| r.body["user_created"] == true)
        .count();
    println!(
        "concurrent login_or_create: {} distinct users, {created} reported created",
        users.len()
    );
    assert_eq!(users.len(), 1);
    assert_eq!(created, 1);
    assert_eq!(app.count("select count(*) from users").await, 1);
    assert_eq!(app.count("select count(*) from phone_numbers").await, 1);
}
