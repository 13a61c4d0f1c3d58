use crate::helpers::{spawn_app, unique_us_number, with, wrong_code, TestApp};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn org(app: &TestApp, slug: &str, extra: Value) -> Value {
    let mut body = json!({"organization_name": "Acme Corp", "organization_slug": slug});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let r = app.post("/v1/b2b/organizations", body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["organization"].clone()
}

async fn member(app: &TestApp, org_id: &str, body: Value) -> Value {
    let r = app
        .post(&format!("/v1/b2b/organizations/{org_id}/members"), body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["member"].clone()
}

#[tokio::test]
async fn organizations_carry_the_fields_the_sdk_requires_and_resolve_by_id_slug_or_external_id() {
    let app = spawn_app().await;
    let o = org(&app, "acme", json!({"organization_external_id": "crm-7"})).await;
    let id = o["organization_id"].as_str().unwrap();
    assert!(id.starts_with("organization-test-"));
    for key in [
        "sso_active_connections",
        "email_allowed_domains",
        "allowed_auth_methods",
        "custom_roles",
        "claimed_email_domains",
    ] {
        assert!(o[key].is_array(), "{key}");
    }
    assert_eq!(o["mfa_policy"], "OPTIONAL");
    assert_eq!(o["organization_logo_url"], "");
    for key in [id, "acme", "crm-7"] {
        let g = app.get(&format!("/v1/b2b/organizations/{key}")).await;
        assert_eq!(g.status, StatusCode::OK, "{key}");
        assert_eq!(g.body["organization"]["organization_id"], id);
    }
    let missing = app.get("/v1/b2b/organizations/nope").await;
    assert_eq!(
        (missing.status, missing.error_type()),
        (StatusCode::NOT_FOUND, "organization_not_found")
    );
    let dup = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "B", "organization_slug": "acme"}),
        )
        .await;
    assert_eq!(
        (dup.status, dup.error_type()),
        (StatusCode::BAD_REQUEST, "organization_slug_already_used")
    );
    let dup = app
        .post("/v1/b2b/organizations", json!({"organization_name": "B", "organization_slug": "b2", "organization_external_id": "crm-7"}))
        .await;
    assert_eq!(
        (dup.status, dup.error_type()),
        (
            StatusCode::BAD_REQUEST,
            "organization_external_id_already_used"
        )
    );
    let bad = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "B", "organization_slug": "no spaces"}),
        )
        .await;
    assert_eq!(bad.error_type(), "invalid_organization_slug");
}

#[tokio::test]
async fn members_are_created_fetched_updated_and_scoped_to_their_organization() {
    let app = spawn_app().await;
    let a = org(&app, "alpha", json!({})).await;
    let b = org(&app, "beta", json!({})).await;
    let (a_id, b_id) = (
        a["organization_id"].as_str().unwrap(),
        b["organization_id"].as_str().unwrap(),
    );
    let m = member(&app, a_id, json!({"email_address": "Ann@Alpha.io", "name": "Ann", "external_id": "emp-1", "organization_id": a_id})).await;
    let mid = m["member_id"].as_str().unwrap();
    assert!(mid.starts_with("member-test-"));
    assert_eq!(m["mfa_phone_number"], "");
    assert_eq!(m["mfa_phone_number_verified"], false);
    assert_eq!(m["email_address"], "ann@alpha.io");
    for key in [
        "sso_registrations",
        "oauth_registrations",
        "retired_email_addresses",
        "roles",
    ] {
        assert!(m[key].is_array(), "{key}");
    }

    for q in [
        format!("member_id={mid}"),
        "member_id=emp-1".to_owned(),
        "email_address=ann%40alpha.io".to_owned(),
    ] {
        let g = app
            .get(&format!(
                "/v1/b2b/organizations/alpha/member?organization_id={a_id}&{q}"
            ))
            .await;
        assert_eq!(g.status, StatusCode::OK, "{q}: {:?}", g.body);
        assert_eq!(g.body["member_id"], mid);
        assert_eq!(g.body["organization"]["organization_id"], a_id);
    }
    let other = app
        .get(&format!(
            "/v1/b2b/organizations/{b_id}/member?member_id={mid}"
        ))
        .await;
    assert_eq!(
        (other.status, other.error_type()),
        (StatusCode::NOT_FOUND, "member_not_found")
    );
    let other = app.post("/v1/b2b/otps/sms/send", json!({"organization_id": b_id, "member_id": mid, "mfa_phone_number": unique_us_number()})).await;
    assert_eq!(other.error_type(), "member_not_found");

    let phone = unique_us_number();
    let u = app
        .client
        .put(format!("{}/v1/b2b/organizations/{a_id}/members/emp-1", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"mfa_phone_number": phone, "mfa_enrolled": true, "default_mfa_method": "sms_otp", "name": "Ann B"}))
        .send()
        .await
        .unwrap();
    assert_eq!(u.status(), StatusCode::OK);
    let u: Value = u.json().await.unwrap();
    assert_eq!(u["member"]["mfa_phone_number"], phone.as_str());
    assert_eq!(u["member"]["mfa_enrolled"], true);
    assert_eq!(u["member"]["name"], "Ann B");

    let d = app
        .delete(&format!(
            "/v1/b2b/organizations/{a_id}/members/mfa_phone_numbers/{mid}"
        ))
        .await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.body["member"]["mfa_phone_number"], "");
    let dup = app
        .post(
            &format!("/v1/b2b/organizations/{a_id}/members"),
            json!({"email_address": "ann@alpha.io"}),
        )
        .await;
    assert_eq!(dup.error_type(), "duplicate_member_email");
    // The same email is fine in another organization.
    member(&app, b_id, json!({"email_address": "ann@alpha.io"})).await;
}

#[tokio::test]
async fn sms_mfa_sends_to_the_given_number_then_verifies_and_enrolls_the_member() {
    let app = spawn_app().await;
    let o = org(&app, "gamma", json!({"organization_external_id": "g-ext"})).await;
    let m = member(
        &app,
        "gamma",
        json!({"email_address": "bo@gamma.io", "external_id": "bo"}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap();

    let none = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "gamma", "member_id": mid}),
        )
        .await;
    assert_eq!(
        (none.status, none.error_type()),
        (StatusCode::BAD_REQUEST, "member_phone_number_not_found")
    );

    let phone = unique_us_number();
    let s = app
        .post("/v1/b2b/otps/sms/send", json!({"organization_id": "g-ext", "member_id": "bo", "mfa_phone_number": phone, "locale": "en"}))
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    assert_eq!(s.body["member_id"], mid);
    assert_eq!(s.body["member"]["mfa_phone_number"], phone.as_str());
    assert_eq!(s.body["member"]["mfa_phone_number_verified"], false);
    assert_eq!(
        s.body["organization"]["organization_id"],
        o["organization_id"]
    );
    let code = app.last_code(&phone).await;
    let secs: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from passcodes",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        (119.0..=121.0).contains(&secs),
        "B2B codes live 2 minutes: {secs}"
    );

    // SMS is a second factor: the member signs in elsewhere first (attest).
    let proof = app.mfa_proof("gamma", "bo@gamma.io").await;
    assert!(proof["session_token"].is_string(), "{proof}");
    let wrong = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "gamma", "member_id": mid, "code": wrong_code(&code)}),
                &proof,
            ),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.error_type()),
        (StatusCode::NOT_FOUND, "otp_code_not_found")
    );
    let ok = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": o["organization_id"], "member_id": "bo", "code": code,
                   "set_mfa_enrollment": "enroll", "set_default_mfa": true}),
                &proof,
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    // The presented member session got the factor (tests/api/sessions.rs covers sessions).
    assert_eq!(ok.body["session_token"], proof["session_token"]);
    assert!(ok.body["member_session"]["member_session_id"].is_string());
    assert_eq!(ok.body["member"]["mfa_phone_number_verified"], true);
    assert_eq!(ok.body["member"]["mfa_enrolled"], true);
    assert_eq!(ok.body["member"]["default_mfa_method"], "sms_otp");
    let again = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "gamma", "member_id": mid, "code": code}),
                &proof,
            ),
        )
        .await;
    assert_eq!(
        (again.status, again.error_type()),
        (StatusCode::UNAUTHORIZED, "unable_to_auth_otp_code")
    );

    // Now the member has an active MFA factor: a send without their session is refused.
    let bare = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "gamma", "member_id": mid}),
        )
        .await;
    assert_eq!(
        (bare.status, bare.error_type()),
        (StatusCode::BAD_REQUEST, "no_session_arguments")
    );
    // A verified number can't be redirected by a send; without a number it goes to the verified one.
    let redirect = app
        .post("/v1/b2b/otps/sms/send", with(json!({"organization_id": "gamma", "member_id": mid, "mfa_phone_number": unique_us_number()}), &proof))
        .await;
    assert_eq!(
        (redirect.status, redirect.error_type()),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    assert!(
        redirect.body["error_message"]
            .as_str()
            .unwrap()
            .starts_with("mfa_phone_number"),
        "{:?}",
        redirect.body
    );
    let resend = app
        .post(
            "/v1/b2b/otps/sms/send",
            with(
                json!({"organization_id": "gamma", "member_id": mid}),
                &proof,
            ),
        )
        .await;
    assert_eq!(resend.status, StatusCode::OK);
    let code2 = app.last_code(&phone).await;
    let un = app
        .post("/v1/b2b/otps/sms/authenticate", with(json!({"organization_id": "gamma", "member_id": mid, "code": code2, "set_mfa_enrollment": "unenroll"}), &proof))
        .await;
    assert_eq!(un.body["member"]["mfa_enrolled"], false);
}

#[tokio::test]
async fn changing_an_unverified_mfa_number_withdraws_codes_sent_to_the_old_one() {
    let app = spawn_app().await;
    org(&app, "delta", json!({"mfa_policy": "REQUIRED_FOR_ALL"})).await;
    let first = unique_us_number();
    let m = member(
        &app,
        "delta",
        json!({"email_address": "cy@delta.io", "mfa_phone_number": first}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap();
    assert_eq!(
        app.post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "delta", "member_id": mid})
        )
        .await
        .status,
        StatusCode::OK
    );
    let old_code = app.last_code(&first).await;
    let second = unique_us_number();
    let u = app
        .client
        .put(format!(
            "{}/v1/b2b/organizations/delta/members/{mid}",
            app.address
        ))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"mfa_phone_number": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(u.status(), StatusCode::OK);
    let proof = app.mfa_proof("delta", "cy@delta.io").await;
    assert!(
        proof["intermediate_session_token"].is_string(),
        "REQUIRED_FOR_ALL: attest answers an intermediate session"
    );
    let r = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "delta", "member_id": mid, "code": old_code}),
                &proof,
            ),
        )
        .await;
    assert_eq!(
        r.error_type(),
        "otp_code_not_found",
        "the old number's code proves nothing about the new one"
    );
    app.post(
        "/v1/b2b/otps/sms/send",
        json!({"organization_id": "delta", "member_id": mid}),
    )
    .await;
    let code = app.last_code(&second).await;
    let ok = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "delta", "member_id": mid, "code": code}),
                &proof,
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        ok.body["member"]["mfa_enrolled"], true,
        "REQUIRED_FOR_ALL enrolls on success"
    );
}

#[tokio::test]
async fn of_sixteen_concurrent_correct_member_attempts_exactly_one_succeeds() {
    // Attempt counting and single use alone: the guess budget would refuse the 16th.
    let app = crate::helpers::spawn_app_unlimited().await;
    org(&app, "eps", json!({})).await;
    let phone = unique_us_number();
    let m = member(
        &app,
        "eps",
        json!({"email_address": "d@eps.io", "mfa_phone_number": phone}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap().to_owned();
    app.post(
        "/v1/b2b/otps/sms/send",
        json!({"organization_id": "eps", "member_id": mid}),
    )
    .await;
    let code = app.last_code(&phone).await;
    let proof = app.mfa_proof("eps", "d@eps.io").await;
    let body = with(
        json!({"organization_id": "eps", "member_id": mid, "code": code}),
        &proof,
    );
    let replies =
        join_all((0..16).map(|_| app.post("/v1/b2b/otps/sms/authenticate", body.clone()))).await;
    let ok = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    println!("concurrent B2B correct attempts: {ok} succeeded of 16");
    assert_eq!(ok, 1);
    assert!(replies
        .iter()
        .all(|r| r.status == StatusCode::OK || r.error_type() == "unable_to_auth_otp_code"));
}

#[tokio::test]
async fn bad_b2b_references_get_the_right_4xx() {
    let app = spawn_app().await;
    org(&app, "zeta", json!({})).await;
    let cases = [
        (
            json!({"organization_id": "nope", "member_id": "x"}),
            StatusCode::NOT_FOUND,
            "organization_not_found",
        ),
        (
            json!({"organization_id": "zeta", "member_id": "member-test-00000000-0000-4000-8000-000000000000"}),
            StatusCode::NOT_FOUND,
            "member_not_found",
        ),
        (
            json!({"organization_id": "zeta"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            json!({"organization_id": "zeta", "member_id": "x", "mfa_phone_number": "+1234"}),
            StatusCode::BAD_REQUEST,
            "invalid_phone_number",
        ),
    ];
    for (body, status, kind) in cases {
        let r = app.post("/v1/b2b/otps/sms/send", body.clone()).await;
        assert_eq!((r.status, r.error_type()), (status, kind), "{body}");
    }
    let r = app.get("/v1/b2b/organizations/zeta/member").await;
    assert_eq!(r.error_type(), "bad_request");
    let r = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            json!({"organization_id": "zeta", "member_id": "x", "code": "12"}),
        )
        .await;
    assert_eq!(r.error_type(), "invalid_code");
}

async fn member_get(app: &TestApp, org: &str, mid: &str) -> Value {
    let r = app
        .get(&format!(
            "/v1/b2b/organizations/{org}/member?member_id={mid}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["member"].clone()
}

#[tokio::test]
async fn a_code_sent_to_one_number_cannot_verify_a_number_a_refused_send_switched_to() {
    let app = spawn_app().await;
    org(&app, "theta", json!({})).await;
    let a = unique_us_number();
    let m = member(
        &app,
        "theta",
        json!({"email_address": "t@theta.io", "mfa_phone_number": a}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap();
    let sent = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "theta", "member_id": mid}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.body);
    let code_for_a = app.last_code(&a).await;
    // The fake provider would refuse this number (unsubscribed); Stytch's rule refuses the
    // send first, because the member already has a different number: nothing is switched.
    let refused = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "theta", "member_id": mid, "mfa_phone_number": "+15005550004"}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.error_type(), "bad_request");
    let proof = app.mfa_proof("theta", "t@theta.io").await;
    let r = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "theta", "member_id": mid, "code": code_for_a}),
                &proof,
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // The code verifies the number it was sent to, and only that one.
    let after = member_get(&app, "theta", mid).await;
    assert_eq!(after["mfa_phone_number"], a.as_str(), "{after}");
    assert_eq!(after["mfa_phone_number_verified"], true, "{after}");
}

#[tokio::test]
async fn a_member_update_racing_a_send_never_lets_the_old_numbers_code_verify_the_new_one() {
    // A send without a number reads the member's number, then stores the code; an update that
    // lands in between leaves a code addressed to the old number as the newest one.
    let app = crate::helpers::spawn_app_unlimited().await;
    org(&app, "iota", json!({})).await;
    for round in 0..12 {
        let a = unique_us_number();
        let b = unique_us_number();
        let m = member(
            &app,
            "iota",
            json!({"email_address": format!("r{round}@iota.io"), "mfa_phone_number": a}),
        )
        .await;
        let mid = m["member_id"].as_str().unwrap().to_owned();
        let put = app
            .client
            .put(format!(
                "{}/v1/b2b/organizations/iota/members/{mid}",
                app.address
            ))
            .basic_auth(&app.project_id, Some(&app.secret))
            .json(&json!({"mfa_phone_number": b}));
        // Stagger the update across the send's hash so some rounds land inside the window.
        let delay = std::time::Duration::from_millis(2 * round);
        let (sent, updated) = tokio::join!(
            app.post(
                "/v1/b2b/otps/sms/send",
                json!({"organization_id": "iota", "member_id": mid}),
            ),
            async move {
                tokio::time::sleep(delay).await;
                put.send().await.unwrap()
            }
        );
        assert_eq!(updated.status(), StatusCode::OK);
        if sent.status != StatusCode::OK {
            continue;
        }
        let r = app.last_message(&a).await;
        let Some(body) = r["body"].as_str() else {
            continue;
        };
        let code = crate::helpers::first_six_digits(body).unwrap();
        let proof = app.mfa_proof("iota", &format!("r{round}@iota.io")).await;
        app.post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "iota", "member_id": mid, "code": code}),
                &proof,
            ),
        )
        .await;
        let after = member_get(&app, "iota", &mid).await;
        assert_eq!(after["mfa_phone_number"], b.as_str());
        assert_eq!(
            after["mfa_phone_number_verified"], false,
            "round {round}: the code sent to the old number verified the new one"
        );
    }
}

#[tokio::test]
async fn without_an_ist_or_session_b2b_authenticate_is_refused_and_no_session_is_created() {
    let app = spawn_app().await;
    org(&app, "kappa", json!({})).await;
    let phone = unique_us_number();
    let m = member(
        &app,
        "kappa",
        json!({"email_address": "k@kappa.io", "mfa_phone_number": phone}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap();
    // Enrollment: a member with no verified factor yet may be sent a code without a session.
    let s = app
        .post(
            "/v1/b2b/otps/sms/send",
            json!({"organization_id": "kappa", "member_id": mid}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let code = app.last_code(&phone).await;
    let body = json!({"organization_id": "kappa", "member_id": mid, "code": code});
    for extra in [
        json!({}),
        json!({"intermediate_session_token": "", "session_token": ""}),
    ] {
        let r = app
            .post("/v1/b2b/otps/sms/authenticate", with(body.clone(), &extra))
            .await;
        assert_eq!(
            (r.status, r.error_type()),
            (StatusCode::BAD_REQUEST, "no_session_arguments"),
            "{:?}",
            r.body
        );
    }
    assert_eq!(app.count("select count(*) from sessions").await, 0);
    let after = member_get(&app, "kappa", mid).await;
    assert_eq!(after["mfa_phone_number_verified"], false);
    // Nothing was spent: with the member's session the same code works.
    let proof = app.mfa_proof("kappa", "k@kappa.io").await;
    let both = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                with(body.clone(), &proof),
                &json!({"intermediate_session_token": "x"}),
            ),
        )
        .await;
    assert_eq!(both.error_type(), "too_many_session_arguments");
    let ok = app
        .post("/v1/b2b/otps/sms/authenticate", with(body, &proof))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[tokio::test]
async fn an_intermediate_session_of_another_member_or_organization_is_refused() {
    let app = spawn_app().await;
    org(&app, "lam", json!({"mfa_policy": "REQUIRED_FOR_ALL"})).await;
    org(&app, "mu", json!({"mfa_policy": "REQUIRED_FOR_ALL"})).await;
    let phone = unique_us_number();
    let a1 = member(
        &app,
        "lam",
        json!({"email_address": "a1@lam.io", "mfa_phone_number": phone}),
    )
    .await;
    member(&app, "lam", json!({"email_address": "a2@lam.io"})).await;
    member(&app, "mu", json!({"email_address": "b1@mu.io"})).await;
    let mid = a1["member_id"].as_str().unwrap();
    let mine = app.mfa_proof("lam", "a1@lam.io").await;
    let colleague = app.mfa_proof("lam", "a2@lam.io").await;
    let foreign = app.mfa_proof("mu", "b1@mu.io").await;
    assert!(mine["intermediate_session_token"].is_string());
    app.post(
        "/v1/b2b/otps/sms/send",
        with(json!({"organization_id": "lam", "member_id": mid}), &mine),
    )
    .await;
    let code = app.last_code(&phone).await;
    let body = json!({"organization_id": "lam", "member_id": mid, "code": code});
    for (proof, status, kind) in [
        (
            &colleague,
            StatusCode::NOT_FOUND,
            "intermediate_session_not_found",
        ),
        (
            &foreign,
            StatusCode::BAD_REQUEST,
            "invalid_intermediate_session_token_for_organization",
        ),
        (
            &json!({"intermediate_session_token": "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"}),
            StatusCode::NOT_FOUND,
            "intermediate_session_not_found",
        ),
    ] {
        let r = app
            .post("/v1/b2b/otps/sms/authenticate", with(body.clone(), proof))
            .await;
        assert_eq!((r.status, r.error_type()), (status, kind), "{proof}");
        let s = app
            .post(
                "/v1/b2b/otps/sms/send",
                with(json!({"organization_id": "lam", "member_id": mid}), proof),
            )
            .await;
        assert_eq!((s.status, s.error_type()), (status, kind), "send {proof}");
    }
    assert_eq!(app.count("select count(*) from sessions").await, 0);
    let ok = app
        .post("/v1/b2b/otps/sms/authenticate", with(body, &mine))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["member_session"]["member_id"], mid);
}

#[tokio::test]
async fn an_intermediate_session_works_once_and_of_concurrent_uses_exactly_one_succeeds() {
    let app = crate::helpers::spawn_app_unlimited().await;
    org(&app, "nu", json!({"mfa_policy": "REQUIRED_FOR_ALL"})).await;
    let phone = unique_us_number();
    let m = member(
        &app,
        "nu",
        json!({"email_address": "n@nu.io", "mfa_phone_number": phone}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap().to_owned();
    let ist = app.mfa_proof("nu", "n@nu.io").await;
    app.post(
        "/v1/b2b/otps/sms/send",
        with(json!({"organization_id": "nu", "member_id": mid}), &ist),
    )
    .await;
    let code = app.last_code(&phone).await;
    let body = with(
        json!({"organization_id": "nu", "member_id": mid, "code": code}),
        &ist,
    );
    let replies =
        join_all((0..8).map(|_| app.post("/v1/b2b/otps/sms/authenticate", body.clone()))).await;
    let ok: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    println!("concurrent uses of one IST: {} succeeded of 8", ok.len());
    assert_eq!(ok.len(), 1);
    assert!(replies.iter().all(|r| r.status == StatusCode::OK
        || ["unable_to_auth_otp_code", "intermediate_session_not_found"]
            .contains(&r.error_type())));
    assert_eq!(app.count("select count(*) from sessions").await, 1);
    // A fresh code (sent with the new member session) can't reuse the spent IST.
    let session = json!({"session_token": ok[0].body["session_token"]});
    app.post(
        "/v1/b2b/otps/sms/send",
        with(json!({"organization_id": "nu", "member_id": mid}), &session),
    )
    .await;
    let code2 = app.last_code(&phone).await;
    let again = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "nu", "member_id": mid, "code": code2}),
                &ist,
            ),
        )
        .await;
    assert_eq!(again.error_type(), "intermediate_session_not_found");
    assert_eq!(app.count("select count(*) from sessions").await, 1);
}

#[tokio::test]
async fn a_session_of_another_member_is_refused() {
    let app = spawn_app().await;
    org(&app, "xi", json!({})).await;
    let phone = unique_us_number();
    let m = member(
        &app,
        "xi",
        json!({"email_address": "x1@xi.io", "mfa_phone_number": phone}),
    )
    .await;
    member(&app, "xi", json!({"email_address": "x2@xi.io"})).await;
    let mid = m["member_id"].as_str().unwrap();
    let theirs = app.mfa_proof("xi", "x2@xi.io").await;
    assert!(theirs["session_token"].is_string());
    app.post(
        "/v1/b2b/otps/sms/send",
        json!({"organization_id": "xi", "member_id": mid}),
    )
    .await;
    let code = app.last_code(&phone).await;
    let body = json!({"organization_id": "xi", "member_id": mid, "code": code});
    let r = app
        .post("/v1/b2b/otps/sms/authenticate", with(body.clone(), &theirs))
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (StatusCode::NOT_FOUND, "session_not_found")
    );
    let after = member_get(&app, "xi", mid).await;
    assert_eq!(after["mfa_phone_number_verified"], false);
    let mine = app.mfa_proof("xi", "x1@xi.io").await;
    let ok = app
        .post("/v1/b2b/otps/sms/authenticate", with(body, &mine))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["session_token"], mine["session_token"]);
}

#[tokio::test]
async fn an_organizations_mfa_method_restriction_is_checked_at_authenticate_too() {
    let app = spawn_app().await;
    org(&app, "omi", json!({})).await;
    let phone = unique_us_number();
    let m = member(
        &app,
        "omi",
        json!({"email_address": "o@omi.io", "mfa_phone_number": phone}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap();
    app.post(
        "/v1/b2b/otps/sms/send",
        json!({"organization_id": "omi", "member_id": mid}),
    )
    .await;
    let code = app.last_code(&phone).await;
    let proof = app.mfa_proof("omi", "o@omi.io").await;
    let put = app
        .client
        .put(format!("{}/v1/b2b/organizations/omi", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"mfa_methods": "RESTRICTED", "allowed_mfa_methods": ["totp"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    let r = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            with(
                json!({"organization_id": "omi", "member_id": mid, "code": code}),
                &proof,
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.error_type()),
        (
            StatusCode::FORBIDDEN,
            "operation_restricted_by_organization_mfa_methods"
        )
    );
    assert_eq!(
        member_get(&app, "omi", mid).await["mfa_phone_number_verified"],
        false
    );
}

#[tokio::test]
async fn attest_for_an_enrolled_member_answers_an_intermediate_session_and_sends_the_sms() {
    let app = spawn_app().await;
    org(&app, "pi", json!({})).await;
    let phone = unique_us_number();
    let m = member(
        &app,
        "pi",
        json!({"email_address": "p@pi.io", "mfa_phone_number": phone, "mfa_enrolled": true}),
    )
    .await;
    let mid = m["member_id"].as_str().unwrap();
    let r = app.attest_member("pi", "p@pi.io").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["member_authenticated"], false);
    assert!(r.body["member_session"].is_null());
    assert_eq!(r.body["session_jwt"], "");
    let mfa = &r.body["mfa_required"];
    assert_eq!(mfa["secondary_auth_initiated"], "sms_otp", "{mfa}");
    let masked = mfa["member_options"]["mfa_phone_number"].as_str().unwrap();
    assert!(
        masked.starts_with("XXXXXXX") && phone.ends_with(&masked[7..]),
        "{masked}"
    );
    // The code went out automatically; the IST completes the login.
    let code = app.last_code(&phone).await;
    let ok = app
        .post(
            "/v1/b2b/otps/sms/authenticate",
            json!({"organization_id": "pi", "member_id": mid, "code": code,
                   "intermediate_session_token": r.body["intermediate_session_token"]}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["member_session"]["member_id"], mid);
    // An organization that requires MFA gets an IST even for a member not enrolled, and no
    // automatic SMS (the member isn't enrolled).
    org(&app, "rho", json!({"mfa_policy": "REQUIRED_FOR_ALL"})).await;
    let other = unique_us_number();
    member(
        &app,
        "rho",
        json!({"email_address": "r@rho.io", "mfa_phone_number": other}),
    )
    .await;
    let r = app.attest_member("rho", "r@rho.io").await;
    assert_eq!(r.body["member_authenticated"], false);
    assert!(r.body["mfa_required"]["secondary_auth_initiated"].is_null());
    let none = app
        .get(&format!(
            "/v1/sandbox/messages?to={}&limit=1",
            other.replace('+', "%2B")
        ))
        .await;
    assert_eq!(none.body["messages"].as_array().unwrap().len(), 0);
}

/// Issue 23: lookups take an id, a slug or an external id, so one organization's slug must
/// never be another's external id (or id), whichever is written first, by create or update.
#[tokio::test]
async fn no_value_is_one_organizations_handle_and_anothers() {
    let app = spawn_app().await;
    let victim = org(&app, "victim", json!({"organization_external_id": "crm-7"})).await;
    let victim_id = victim["organization_id"].as_str().unwrap();

    let shadow = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Evil", "organization_slug": "crm-7"}),
        )
        .await;
    assert_eq!(
        (shadow.status, shadow.error_type()),
        (StatusCode::BAD_REQUEST, "organization_slug_already_used"),
        "{:?}",
        shadow.body
    );
    let by_external = app
        .post(
            "/v1/b2b/organizations",
            json!({"organization_name": "Evil", "organization_slug": "evil",
                   "organization_external_id": "victim"}),
        )
        .await;
    assert_eq!(
        (by_external.status, by_external.error_type()),
        (
            StatusCode::BAD_REQUEST,
            "organization_external_id_already_used"
        ),
        "{:?}",
        by_external.body
    );

    // Through an update too.
    let evil = org(&app, "evil", json!({})).await;
    let evil_id = evil["organization_id"].as_str().unwrap();
    let put = app
        .client
        .put(format!("{}/v1/b2b/organizations/{evil_id}", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"organization_slug": "crm-7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    let body: Value = put.json().await.unwrap();
    assert_eq!(body["error_type"], "organization_slug_already_used");
    let got = app.get("/v1/b2b/organizations/crm-7").await;
    assert_eq!(got.body["organization"]["organization_id"], victim_id);

    // An organization's own slug and external id may be the same value.
    org(&app, "same", json!({"organization_external_id": "same"})).await;

    // Two concurrent writes of one value as a slug and as an external id: one wins.
    let writes = (0..8).map(|i| {
        let body = if i % 2 == 0 {
            json!({"organization_name": "R", "organization_slug": "race"})
        } else {
            json!({"organization_name": "R", "organization_slug": format!("r{i}"),
                   "organization_external_id": "race"})
        };
        let app = &app;
        async move { app.post("/v1/b2b/organizations", body).await }
    });
    let results = join_all(writes).await;
    let won = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(
        won,
        1,
        "{:?}",
        results.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
}
