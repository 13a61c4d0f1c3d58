//! Every JSON column (user and member metadata, organization metadata and settings, session
//! claims) reads back what PostgreSQL's JSONB kept from the write: a value that was accepted
//! is readable, exactly, by every later GET and PUT.
//!
//! PostgreSQL keeps a JSON number as an exact decimal and prints it in full
//! (`1.7976931348623157e308` comes back as 309 digits), so the reader must round that text to
//! the nearest double, which is the one that was written.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::StatusCode;
use serde_json::{json, Map, Number, Value};

use crate::helpers::{spawn_app, TestApp};

/// Equal as JSON: numbers by value (PostgreSQL may print `1e16` as `10000000000000000`),
/// everything else exactly.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(i), Some(j)) => i == j,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// The doubles at the edges: the largest, the smallest normal and subnormal, negative ones,
/// and values whose shortest form has 17 digits.
fn extremes() -> Value {
    json!({
        "max": f64::MAX,
        "neg_max": f64::MIN,
        "min_normal": f64::MIN_POSITIVE,
        "min_subnormal": 5e-324,
        "neg_min_subnormal": -5e-324,
        "seventeen": 0.1 + 0.2,
        "big_int": u64::MAX,
        "neg_int": i64::MIN,
        "beyond_u64": 18446744073709551616.0_f64,
        "nested": [[1e308, [2.2250738585072014e-308]]],
    })
}

async fn user_with(app: &TestApp, metadata: &Value) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/users", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({ "trusted_metadata": metadata, "untrusted_metadata": metadata }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_user_whose_metadata_holds_the_largest_double_reads_back_unchanged() {
    let app = spawn_app().await;
    let metadata = extremes();
    let created = app
        .post(
            "/v1/users",
            json!({ "trusted_metadata": metadata, "untrusted_metadata": metadata }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["user_id"].as_str().unwrap();

    let got = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert!(
        same_json(&got.body["trusted_metadata"], &metadata),
        "{}",
        got.body["trusted_metadata"]
    );
    assert!(same_json(&got.body["untrusted_metadata"], &metadata));

    let put = app
        .client
        .put(format!("{}/v1/users/{id}", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"name": {"first_name": "Ada"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let put: Value = put.json().await.unwrap();
    assert!(same_json(&put["user"]["trusted_metadata"], &metadata));
}

#[tokio::test]
async fn organizations_and_members_with_extreme_numbers_read_back_unchanged() {
    let app = spawn_app().await;
    let metadata = extremes();
    let o = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Acme", "organization_slug": "acme",
                   "trusted_metadata": metadata,
                   "allowed_oauth_tenants": {"tenant": [f64::MAX, 5e-324]}}),
        )
        .await;
    assert_eq!(o.status, StatusCode::OK, "{:?}", o.body);
    let org_id = o.body["organization"]["organization_id"].as_str().unwrap();
    let got = app.get(&format!("/v1/b2b/organizations/{org_id}")).await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    let org = &got.body["organization"];
    assert!(same_json(&org["trusted_metadata"], &metadata), "{org}");
    assert!(same_json(
        &org["allowed_oauth_tenants"],
        &json!({"tenant": [f64::MAX, 5e-324]})
    ));

    let m = app
        .post(
            &format!("/v1/b2b/organizations/{org_id}/members"),
            json!({"email_address": "ada@example.com", "trusted_metadata": metadata,
                   "untrusted_metadata": metadata}),
        )
        .await;
    assert_eq!(m.status, StatusCode::OK, "{:?}", m.body);
    let member_id = m.body["member"]["member_id"].as_str().unwrap();
    let got = app
        .get(&format!(
            "/v1/b2b/organizations/{org_id}/member?member_id={member_id}"
        ))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    assert!(same_json(
        &got.body["member"]["untrusted_metadata"],
        &metadata
    ));
}

#[tokio::test]
async fn session_claims_with_extreme_numbers_read_back_unchanged() {
    let app = spawn_app().await;
    let r = app.login_or_create("+10000000000").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let claims = json!({"limits": extremes()});
    let a = app
        .post(
            "/v1/otps/authenticate",
            json!({"method_id": r.body["phone_id"], "code": "000000",
                   "session_duration_minutes": 60, "session_custom_claims": claims}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let token = a.body["session_token"].as_str().unwrap();
    let s = app
        .post("/v1/sessions/authenticate", json!({"session_token": token}))
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    assert!(
        same_json(&s.body["session"]["custom_claims"], &claims),
        "{}",
        s.body["session"]["custom_claims"]
    );
}

/// Doubles from every corner: the edges, any bit pattern that is finite, tiny and huge
/// exponents.
fn any_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(-0.0),
        any::<u64>()
            .prop_map(f64::from_bits)
            .prop_filter("finite", |f| f.is_finite()),
        (1u64..(1 << 52), 290i32..=308).prop_map(|(m, e)| (m as f64) * 10f64.powi(e - 16)),
        // Subnormals.
        (1u64..(1 << 52)).prop_map(f64::from_bits),
    ]
}

/// A character of any Unicode plane (0 to 16), control characters aside (refused on their
/// own, see control_chars.rs).
fn any_char() -> impl Strategy<Value = char> {
    (0u32..=16, 0u32..0x1_0000)
        .prop_filter_map("a scalar value", |(plane, low)| {
            char::from_u32(plane << 16 | low)
        })
        .prop_filter("not a refused control", |c| {
            !c.is_control() || matches!(c, '\t' | '\n' | '\r')
        })
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_double().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        proptest::collection::vec(any_char(), 0..12)
            .prop_map(|cs| Value::String(cs.into_iter().collect())),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::collection::vec(any_char(), 0..6)
                    .prop_map(|cs| cs.into_iter().collect::<String>()),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// `depth` arrays around a value; as `trusted_metadata.v` the request body nests `depth + 2`
/// deep.
fn nested(depth: usize, inner: Value) -> Value {
    (0..depth).fold(inner, |v, _| Value::Array(vec![v]))
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// One write and its read-back: refused with a 400 naming the field when it nests too deep,
/// else read back by GET exactly as written.
async fn round_trip(app: &TestApp, metadata: &Value) -> Result<(), TestCaseError> {
    let res = user_with(app, &json!({ "v": metadata })).await;
    let too_deep = depth(metadata) + 2 > 64;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    if too_deep {
        prop_assert_eq!(status, StatusCode::BAD_REQUEST, "{}", body);
        let message = body["error_message"].as_str().unwrap_or("");
        prop_assert!(message.contains("`trusted_metadata`"), "{}", body);
        return Ok(());
    }
    prop_assert_eq!(status, StatusCode::CREATED, "{}", body);
    let id = body["user_id"].as_str().unwrap();
    let got = app.get(&format!("/v1/users/{id}")).await;
    prop_assert_eq!(got.status, StatusCode::OK, "{:?}", got.body);
    prop_assert!(
        same_json(&got.body["trusted_metadata"]["v"], metadata),
        "wrote {} read {}",
        metadata,
        got.body["trusted_metadata"]["v"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_json_a_column_accepts_reads_back_exactly() {
    let app = spawn_app().await;
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 192,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = prop_oneof![
        4 => any_json(),
        // Nesting at the limit a request body may have (64 levels, the body object and the
        // metadata object included: 62 more here), and one past it.
        1 => leaf().prop_map(|v| nested(62, v)),
        1 => leaf().prop_map(|v| nested(63, v)),
    ];
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |v| handle.block_on(round_trip(&app, &v)))
    });
    result.unwrap();
}

#[tokio::test]
async fn lone_surrogates_and_out_of_range_numbers_are_refused_naming_the_body() {
    let app = spawn_app().await;
    for raw in [
        r#"{"trusted_metadata": {"s": "\ud800"}}"#,
        r#"{"trusted_metadata": {"s": "\udc00x"}}"#,
        r#"{"trusted_metadata": {"n": 1e309}}"#,
        r#"{"trusted_metadata": {"n": -1e400}}"#,
    ] {
        let r = app.post_raw("/v1/users", "application/json", raw).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{raw}: {:?}", r.body);
        assert_eq!(r.error_type(), "bad_request", "{raw}");
    }
    // A surrogate pair as escapes is one character of plane 1, and reads back as it.
    let r = app
        .post_raw(
            "/v1/users",
            "application/json",
            r#"{"trusted_metadata": {"s": "\ud83d\ude00"}}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let got = app
        .get(&format!(
            "/v1/users/{}",
            r.body["user_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got.body["trusted_metadata"]["s"], "😀");
}
