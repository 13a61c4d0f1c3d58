//! What people receive: localized bodies, autofill lines, one SMS segment, WhatsApp text and
//! operator template overrides, read back from the sandbox outbox.

use std::path::Path;

use otpd::domain::project::ProjectSettings;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cli::{otpd, run_serve_expecting_failure, temp_dir};
use crate::helpers::{
    first_six_digits, spawn_app, spawn_app_with, unique_us_number, TestApp, PEPPER,
};

const HASH: &str = "FA+9qCX9VSu";
const DOMAIN: &str = "login.example.com";

/// Sends over `channel` with `extra` request fields and returns the delivered body.
async fn send(app: &TestApp, channel: &str, phone: &str, extra: Value) -> String {
    let mut request = json!({ "phone_number": phone });
    if let (Some(r), Some(e)) = (request.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    let r = app
        .post(&format!("/v1/otps/{channel}/login_or_create"), request)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let msg = app.last_message(phone).await;
    assert_eq!(msg["channel"], channel);
    msg["body"].as_str().unwrap().to_owned()
}

async fn sms(app: &TestApp, extra: Value) -> String {
    send(app, "sms", &unique_us_number(), extra).await
}

fn last_line(body: &str) -> &str {
    body.lines().last().unwrap()
}

fn project_with(domain: Option<&str>, hash: Option<&str>) -> ProjectSettings {
    let mut s = ProjectSettings::default();
    if let Some(d) = domain {
        s.set_autofill_domain(d).unwrap();
    }
    if let Some(h) = hash {
        s.set_android_app_hash(h).unwrap();
    }
    s
}

#[tokio::test]
async fn each_locale_gets_a_native_one_segment_body_naming_brand_code_and_validity() {
    let app = spawn_app().await;
    // (request locale, words only that language uses, validity for 1 and for 10 minutes)
    let cases = [
        (
            "en",
            "is your Acme code",
            "Valid for 1 minute.",
            "Valid for 10 minutes.",
        ),
        (
            "es-MX",
            "es tu clave de Acme",
            "Vence en 1 minuto.",
            "Vence en 10 minutos.",
        ),
        (
            "fr-CA",
            "est votre code Acme",
            "Valable 1 minute.",
            "Valable 10 minutes.",
        ),
        (
            "pt-BR",
            "é sua senha Acme",
            "Expira em 1 minuto.",
            "Expira em 10 minutos.",
        ),
        (
            "tlh-Kx",
            "is your Acme code",
            "Valid for 1 minute.",
            "Valid for 10 minutes.",
        ),
    ];
    for (locale, words, one, ten) in cases {
        for (minutes, validity) in [(1, one), (10, ten)] {
            let body = sms(
                &app,
                json!({ "locale": locale, "expiration_minutes": minutes }),
            )
            .await;
            let code = first_six_digits(&body).expect("a code");
            assert!(body.starts_with(&code), "{locale}: {body:?}");
            assert!(body.contains(words), "{locale}: {body:?}");
            assert!(body.ends_with(validity), "{locale}: {body:?}");
            assert_eq!(body.lines().count(), 1, "no autofill line: {body:?}");
        }
    }
    assert_eq!(app.count("select count(*) from messages").await, 10);
    assert_eq!(
        app.count("select count(*) from messages where segments = 1 and encoding = 'gsm7'")
            .await,
        10
    );
}

#[tokio::test]
async fn with_enable_autofill_and_a_domain_the_last_line_is_exactly_at_domain_hash_code() {
    let app = spawn_app_with(|_| {}, project_with(Some(DOMAIN), None), false).await;
    for locale in ["en", "es", "fr", "pt-br"] {
        let body = sms(&app, json!({ "locale": locale, "enable_autofill": true })).await;
        let code = first_six_digits(&body).unwrap();
        assert_eq!(last_line(&body), format!("@{DOMAIN} #{code}"), "{body:?}");
        assert_eq!(body.lines().count(), 2, "{body:?}");
    }
    for off in [
        json!({}),
        json!({ "enable_autofill": false }),
        json!({ "enable_autofill": null }),
    ] {
        let body = sms(&app, off).await;
        assert!(!body.contains('@') && !body.contains('\n'), "{body:?}");
    }
    assert_eq!(
        app.count("select count(*) from messages where segments <> 1")
            .await,
        0
    );
}

#[tokio::test]
async fn with_an_app_hash_the_hash_follows_the_code_within_140_bytes() {
    let app = spawn_app_with(|_| {}, project_with(Some(DOMAIN), Some(HASH)), false).await;
    for locale in ["en", "es", "fr", "pt-br"] {
        let body = sms(
            &app,
            json!({ "locale": locale, "enable_autofill": true, "expiration_minutes": 10 }),
        )
        .await;
        let code = first_six_digits(&body).unwrap();
        assert_eq!(last_line(&body), format!("@{DOMAIN} #{code} {HASH}"));
        assert!(body.len() <= 140, "{} bytes: {body:?}", body.len());
    }

    let hash_only = spawn_app_with(|_| {}, project_with(None, Some(HASH)), false).await;
    let body = sms(&hash_only, json!({ "enable_autofill": true })).await;
    assert_eq!(last_line(&body), HASH);
    assert!(body.starts_with(&first_six_digits(&body).unwrap()));
    assert!(body.len() <= 140);
}

#[tokio::test]
async fn whatsapp_gets_the_same_localized_text_without_autofill() {
    let app = spawn_app_with(|_| {}, project_with(Some(DOMAIN), Some(HASH)), false).await;
    for locale in ["en", "es", "fr", "pt-br"] {
        let request = json!({ "locale": locale, "enable_autofill": true });
        let phone = unique_us_number();
        let whatsapp = send(&app, "whatsapp", &phone, request.clone()).await;
        let sms = send(&app, "sms", &unique_us_number(), request).await;
        let same_code = |b: &str| b.replace(&first_six_digits(b).unwrap(), "CODE");
        assert_eq!(
            same_code(&whatsapp),
            same_code(sms.lines().next().unwrap()),
            "{locale}"
        );
        assert!(!whatsapp.contains('@') && !whatsapp.contains(HASH));
    }
}

fn write_template(dir: &Path, locale: &str, source: &str) {
    std::fs::create_dir_all(dir.join(locale)).unwrap();
    std::fs::write(dir.join(locale).join("otp.ftl"), source).unwrap();
}

#[tokio::test]
async fn an_operator_override_replaces_only_its_own_locale() {
    let dir = temp_dir();
    write_template(
        &dir,
        "en",
        "otp-body = { $code } signs you in to { $brand }. { NUMBER($minutes) ->\n    \
         [one] One minute\n   *[other] { $minutes } minutes\n} left.\n",
    );
    let templates = dir.clone();
    let app = spawn_app_with(
        move |c| c.messages.templates_dir = Some(templates),
        project_with(Some(DOMAIN), None),
        false,
    )
    .await;
    let body = sms(
        &app,
        json!({ "expiration_minutes": 1, "enable_autofill": true }),
    )
    .await;
    let code = first_six_digits(&body).unwrap();
    assert_eq!(
        body,
        format!("{code} signs you in to Acme. One minute left.\n@{DOMAIN} #{code}")
    );
    let spanish = sms(&app, json!({ "locale": "es" })).await;
    assert!(spanish.contains("es tu clave de Acme"), "{spanish:?}");
}

#[test]
fn a_broken_override_template_stops_start_up_naming_the_key_and_the_file() {
    let cases = [
        ("otp-body = { $code is broken\n", "not valid Fluent"),
        (
            "otp-body = Not 000000: { $code } is your { $brand } code.\n",
            "first run of digits",
        ),
        (
            "otp-body = { $code } is your { $brandd } code.\n",
            "does not render",
        ),
        ("other = { $code }\n", "otp-body"),
    ];
    for (source, reason) in cases {
        let dir = temp_dir();
        write_template(&dir, "fr", source);
        let (code, stderr) = run_serve_expecting_failure(
            otpd()
                .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
                .env("OTPD_HASHING__PEPPER", PEPPER)
                .env("OTPD_MESSAGES__TEMPLATES_DIR", &dir),
        );
        assert_eq!(code, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("messages.templates_dir"), "{stderr}");
        assert!(stderr.contains("fr/otp.ftl"), "{stderr}");
        assert!(stderr.contains(reason), "{reason}: {stderr}");
    }
}
