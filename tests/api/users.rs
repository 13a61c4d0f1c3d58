use crate::helpers::{spawn_app, unique_us_number};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn creating_a_user_returns_201_with_every_field_the_sdks_require() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    let r = app
        .post(
            "/v1/users",
            json!({"phone_number": phone, "name": {"first_name": "Ada"}, "external_id": "crm-42",
                   "trusted_metadata": {"tier": "gold"}, "attributes": {"ip_address": "10.0.0.1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let b = &r.body;
    assert_eq!(b["status_code"], 201);
    assert!(b["request_id"]
        .as_str()
        .unwrap()
        .starts_with("request-id-test-"));
    assert_eq!(
        r.headers["x-request-id"].to_str().unwrap(),
        b["request_id"].as_str().unwrap()
    );
    assert!(b["user_id"].as_str().unwrap().starts_with("user-test-"));
    assert!(b["phone_id"]
        .as_str()
        .unwrap()
        .starts_with("phone-number-test-"));
    assert_eq!(b["email_id"], "");
    assert_eq!(b["status"], "active");
    let u = &b["user"];
    assert_eq!(u["user_id"], b["user_id"]);
    assert_eq!(u["phone_numbers"][0]["phone_number"], phone.as_str());
    assert_eq!(u["phone_numbers"][0]["verified"], false);
    assert_eq!(u["name"]["first_name"], "Ada");
    assert_eq!(u["name"]["last_name"], "");
    assert_eq!(u["external_id"], "crm-42");
    assert_eq!(u["trusted_metadata"]["tier"], "gold");
    for list in [
        "emails",
        "webauthn_registrations",
        "providers",
        "totps",
        "crypto_wallets",
        "biometric_registrations",
        "roles",
    ] {
        assert!(u[list].is_array(), "{list} must be a list");
    }
    assert_eq!(u["is_locked"], false);
}

#[tokio::test]
async fn a_user_can_be_fetched_by_id_or_external_id_and_deleted() {
    let app = spawn_app().await;
    let r = app
        .post(
            "/v1/users",
            json!({"email": "Ada@Example.com", "external_id": "ext-1"}),
        )
        .await;
    let id = r.body["user_id"].as_str().unwrap().to_owned();
    assert!(r.body["email_id"]
        .as_str()
        .unwrap()
        .starts_with("email-test-"));
    assert_eq!(r.body["phone_id"], "");

    for key in [id.as_str(), "ext-1"] {
        let g = app.get(&format!("/v1/users/{key}?user_id={key}")).await;
        assert_eq!(g.status, StatusCode::OK, "{:?}", g.body);
        assert_eq!(g.body["user_id"], id.as_str());
        assert_eq!(g.body["emails"][0]["email"], "ada@example.com");
        assert_eq!(g.body["status_code"], 200);
    }
    let d = app.delete(&format!("/v1/users/{id}")).await;
    assert_eq!(d.status, StatusCode::OK);
    assert_eq!(d.body["user_id"], id.as_str());
    let g = app.get(&format!("/v1/users/{id}")).await;
    assert_eq!(g.status, StatusCode::NOT_FOUND);
    assert_eq!(g.error_type(), "user_not_found");
}

#[tokio::test]
async fn deleting_a_phone_number_detaches_it_from_its_user() {
    let app = spawn_app().await;
    let r = app
        .post("/v1/users", json!({"phone_number": unique_us_number()}))
        .await;
    let phone_id = r.body["phone_id"].as_str().unwrap().to_owned();
    let d = app
        .delete(&format!("/v1/users/phone_numbers/{phone_id}"))
        .await;
    assert_eq!(d.status, StatusCode::OK, "{:?}", d.body);
    assert_eq!(d.body["user_id"], r.body["user_id"]);
    assert_eq!(d.body["user"]["phone_numbers"].as_array().unwrap().len(), 0);
    let again = app
        .delete(&format!("/v1/users/phone_numbers/{phone_id}"))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.error_type(), "phone_number_not_found");
}

#[tokio::test]
async fn a_number_or_email_or_external_id_belongs_to_one_user_only() {
    let app = spawn_app().await;
    let phone = unique_us_number();
    assert_eq!(
        app.post("/v1/users", json!({"phone_number": phone}))
            .await
            .status,
        StatusCode::CREATED
    );
    let dup = app.post("/v1/users", json!({"phone_number": phone})).await;
    assert_eq!(
        (dup.status, dup.error_type()),
        (StatusCode::BAD_REQUEST, "duplicate_phone_number")
    );
    assert_eq!(
        app.post("/v1/users", json!({"email": "a@b.co", "external_id": "x"}))
            .await
            .status,
        StatusCode::CREATED
    );
    let dup = app.post("/v1/users", json!({"email": "A@B.co"})).await;
    assert_eq!(dup.error_type(), "duplicate_email");
    let dup = app.post("/v1/users", json!({"external_id": "x"})).await;
    assert_eq!(dup.error_type(), "duplicate_user_external_id");
    assert_eq!(
        app.count("select count(*) from users").await,
        2,
        "failed creates leave nothing behind"
    );
}

#[tokio::test]
async fn users_of_one_project_are_invisible_to_another() {
    let a = spawn_app().await;
    let r = a
        .post("/v1/users", json!({"phone_number": unique_us_number()}))
        .await;
    let id = r.body["user_id"].as_str().unwrap();
    let hasher = otpd::domain::secret::SecretHasher::new(&secrecy::SecretString::from(
        crate::helpers::PEPPER,
    ));
    let (other, secret) =
        otpd::otp::projects::create_project(&a.pool, &hasher, "Other", false, &Default::default())
            .await
            .unwrap();
    use secrecy::ExposeSecret;
    let res = a
        .client
        .get(format!("{}/v1/users/{id}", a.address))
        .basic_auth(other.as_str(), Some(secret.secret.expose_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_ip_address_that_is_not_one_is_refused_on_user_create_and_update() {
    let app = spawn_app().await;
    let bad = json!({"attributes": {"ip_address": "not-an-ip"}});
    let created = app
        .post(
            "/v1/users",
            json!({"phone_number": unique_us_number(), "attributes": {"ip_address": "300.1.1.1"}}),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        created.body
    );
    assert!(created.body["error_message"]
        .as_str()
        .unwrap()
        .contains("attributes.ip_address"));
    let ok = app
        .post("/v1/users", json!({"phone_number": unique_us_number()}))
        .await;
    let uid = ok.body["user_id"].as_str().unwrap().to_owned();
    let put = app
        .client
        .put(format!("{}/v1/users/{uid}", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = put.json().await.unwrap();
    assert_eq!(body["error_type"], "bad_request");
    let fine = app
        .client
        .put(format!("{}/v1/users/{uid}", app.address))
        .basic_auth(&app.project_id, Some(&app.secret))
        .json(&json!({"attributes": {"ip_address": "2001:db8::1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
}
