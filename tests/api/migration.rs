//! Moving from Stytch: projects that keep their credentials, `otpd import stytch`, and the
//! search APIs it reads from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cli::{make_ca, otpd, serve, temp_dir};
use crate::helpers::{start, TestDb, PEPPER};

/// A config file naming `db` and the test pepper.
fn config_for(db: &TestDb, dir: &Path) -> PathBuf {
    let config = dir.join(format!("otpd-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &config,
        format!(
            "database_url = \"{}\"\n[hashing]\npepper = \"{PEPPER}\"\nm_cost_kib = 8192\nt_cost = 1\n",
            db.url
        ),
    )
    .unwrap();
    config
}

fn otpd_with(config: &Path) -> Command {
    let mut c = otpd();
    c.arg("--config").arg(config);
    c
}

/// Runs `cmd`, feeding `stdin`; returns (exit code, stdout, stderr).
fn run(mut cmd: Command, stdin: &str) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stytch_like_secret(env: &str) -> String {
    // Stytch's secrets are 36 characters of base64url after the prefix.
    format!(
        "secret-{env}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..32]
    ) + "Ab_-"
}

#[tokio::test]
async fn a_project_created_with_stytch_credentials_answers_to_them_over_basic_auth() {
    let db = TestDb::create().await;
    let dir = temp_dir();
    let config = config_for(&db, &dir);
    let project_id = format!("project-test-{}", uuid::Uuid::new_v4());
    let secret = stytch_like_secret("test");
    let token = format!("public-token-test-{}", uuid::Uuid::new_v4());
    let mut cmd = otpd_with(&config);
    cmd.args(["project", "create", "--name", "Moved", "--json"])
        .args(["--project-id", &project_id, "--secret-file", "-"])
        .args([
            "--public-token",
            &token,
            "--origin",
            "https://app.example.com",
        ]);
    let (code, stdout, stderr) = run(cmd, &format!("{secret}\n"));
    assert_eq!(code, 0, "{stderr}");
    let out: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(out["project_id"], project_id.as_str());
    assert_eq!(out["public_token"], token.as_str());
    assert!(out.get("secret").is_none(), "a given secret is not echoed");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));

    let (address, _, _pool) = start(&db, |_| {}).await;
    let client = reqwest::Client::new();
    // What the official SDKs send: Basic base64(project_id:secret).
    let search = client
        .post(format!("{address}/v1/users/search"))
        .basic_auth(&project_id, Some(&secret))
        .json(&json!({"limit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(search.status(), StatusCode::OK);
    let wrong = client
        .post(format!("{address}/v1/users/search"))
        .basic_auth(&project_id, Some(stytch_like_secret("test")))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let bootstrap = client
        .get(format!("{address}/sdk/v1/projects/bootstrap/{token}"))
        .basic_auth(&token, Some(&token))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(bootstrap.status(), StatusCode::OK);

    // A secret file works like stdin, and a live id makes a live project.
    let live_id = format!("project-live-{}", uuid::Uuid::new_v4());
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, stytch_like_secret("live")).unwrap();
    let mut cmd = otpd_with(&config);
    cmd.args(["project", "create", "--name", "Live", "--json"])
        .args(["--project-id", &live_id, "--secret-file"])
        .arg(&secret_file);
    let (code, _, stderr) = run(cmd, "");
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn a_clash_or_a_malformed_credential_is_a_clear_error_that_creates_nothing() {
    let db = TestDb::create().await;
    let dir = temp_dir();
    let config = config_for(&db, &dir);
    let project_id = format!("project-test-{}", uuid::Uuid::new_v4());
    let token = format!("public-token-test-{}", uuid::Uuid::new_v4());
    let create = |id: &str, token: Option<&str>, extra: &[&str]| {
        let mut cmd = otpd_with(&config);
        cmd.args(["project", "create", "--name", "Moved", "--project-id", id])
            .args(["--secret-file", "-"])
            .args(extra);
        if let Some(t) = token {
            cmd.args(["--public-token", t, "--origin", "https://app.example.com"]);
        }
        cmd
    };
    let (code, _, stderr) = run(
        create(&project_id, Some(&token), &[]),
        &stytch_like_secret("test"),
    );
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = run(create(&project_id, None, &[]), &stytch_like_secret("test"));
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");

    // The token is taken: the new project must not exist afterwards.
    let other = format!("project-test-{}", uuid::Uuid::new_v4());
    let (code, _, stderr) = run(
        create(&other, Some(&token), &[]),
        &stytch_like_secret("test"),
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("public token") && stderr.contains("already exists"),
        "{stderr}"
    );
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from projects where id = $1")
        .bind(&other)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 0, "nothing half-created");

    for (id, secret, extra, says) in [
        (other.clone(), stytch_like_secret("live"), vec![], "live"),
        (
            other.clone(),
            "secret-test-short".to_owned(),
            vec![],
            "secret",
        ),
        (
            "project-test-nope".to_owned(),
            stytch_like_secret("test"),
            vec![],
            "project",
        ),
        (
            other.clone(),
            stytch_like_secret("test"),
            vec!["--live"],
            "--live",
        ),
    ] {
        let (code, _, stderr) = run(create(&id, None, &extra), &secret);
        assert_eq!(code, 1, "{id} {extra:?}: {stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
        assert!(!stderr.contains(&secret) || secret.len() < 20, "{stderr}");
    }
    let n: i64 = sqlx::query_scalar("select count(*) from projects")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// `otpd project create --name N --project-id ID --secret-file -` with `secret` on stdin.
fn create_kept(config: &Path, id: &str, secret: &str) {
    let mut cmd = otpd_with(config);
    cmd.args(["project", "create", "--name", "Moved", "--project-id", id])
        .args(["--secret-file", "-", "--limit", "number_burst=0"]);
    let (code, _, stderr) = run(cmd, secret);
    assert_eq!(code, 0, "{stderr}");
}

/// Fills a source project through SQL: `users` users (every 3rd number unverified, the first
/// `invalid` with a number no parser takes), 3 organizations of 10 members each.
async fn populate(pool: &sqlx::PgPool, project: &str, users: i32, invalid: i32) {
    sqlx::query(
        "insert into users (id, project_id, first_name, last_name, external_id, trusted_metadata,
                            created_at)
         select 'user-test-' || gen_random_uuid(), $1, 'First' || i, 'Last' || i,
                case when i % 5 = 0 then 'crm-' || i end,
                jsonb_build_object('plan', case when i % 2 = 0 then 'pro' else 'free' end, 'n', i),
                now() - make_interval(secs => $2 - i)
         from generate_series(1, $2) i",
    )
    .bind(project)
    .bind(users)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into phone_numbers (id, project_id, user_id, phone_number, verified, created_at)
         select 'phone-number-test-' || gen_random_uuid(), $1, u.id,
                case when u.n <= $2 then '+1555' || u.n
                     else '+1201' || (230 + u.n / 10000)::text || lpad((u.n % 10000)::text, 4, '0') end,
                u.n % 3 <> 0, u.created_at
         from (select id, created_at, (trusted_metadata ->> 'n')::int as n from users
               where project_id = $1) u",
    )
    .bind(project)
    .bind(invalid)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "insert into emails (id, project_id, user_id, email, verified, created_at)
         select 'email-test-' || gen_random_uuid(), $1, id, 'user' || (trusted_metadata ->> 'n') || '@example.com',
                true, created_at
         from users where project_id = $1 and (trusted_metadata ->> 'n')::int % 4 = 0",
    )
    .bind(project)
    .execute(pool)
    .await
    .unwrap();
    for o in 1..=3 {
        let org = format!("organization-test-{}", uuid::Uuid::new_v4());
        sqlx::query(
            "insert into organizations (id, project_id, name, slug, mfa_policy, created_at)
             values ($1, $2, $3, $4, $5, now() - make_interval(secs => 10 - $6))",
        )
        .bind(&org)
        .bind(project)
        .bind(format!("Org {o}"))
        .bind(format!("org-{o}"))
        .bind(if o == 2 {
            "REQUIRED_FOR_ALL"
        } else {
            "OPTIONAL"
        })
        .bind(o)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "insert into members (id, project_id, organization_id, email_address, name, status,
                                  mfa_phone_number, mfa_phone_number_verified, mfa_enrolled,
                                  default_mfa_method, roles, created_at)
             select 'member-test-' || gen_random_uuid(), $1, $2, 'm' || i || '@org' || $3 || '.example',
                    'Member ' || i, 'active',
                    '+1202' || (300 + $3)::text || lpad(i::text, 4, '0'), i % 2 = 0, i % 2 = 0,
                    case when i % 2 = 0 then 'sms_otp' else '' end, '{stytch_admin}',
                    now() - make_interval(secs => 100 - i)
             from generate_series(1, 10) i",
        )
        .bind(project)
        .bind(&org)
        .bind(o)
        .execute(pool)
        .await
        .unwrap();
    }
}

/// Every object of a search, paginated, keyed by its id (request ids dropped).
async fn all_of(
    client: &reqwest::Client,
    base: &str,
    auth: (&str, &str),
    path: &str,
    body: Value,
    list: &str,
    id: &str,
) -> std::collections::BTreeMap<String, Value> {
    let mut out = std::collections::BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut b = body.clone();
        b["limit"] = json!(300);
        b["cursor"] = json!(cursor);
        let r = client
            .post(format!("{base}{path}"))
            .basic_auth(auth.0, Some(auth.1))
            .json(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let page: Value = r.json().await.unwrap();
        for o in page[list].as_array().unwrap() {
            out.insert(o[id].as_str().unwrap().to_owned(), o.clone());
        }
        cursor = page["results_metadata"]["next_cursor"]
            .as_str()
            .map(str::to_owned);
        if cursor.is_none() {
            return out;
        }
    }
}

struct Snapshot {
    users: std::collections::BTreeMap<String, Value>,
    orgs: std::collections::BTreeMap<String, Value>,
    members: std::collections::BTreeMap<String, Value>,
}

async fn snapshot(client: &reqwest::Client, base: &str, auth: (&str, &str)) -> Snapshot {
    let users = all_of(
        client,
        base,
        auth,
        "/v1/users/search",
        json!({}),
        "results",
        "user_id",
    )
    .await;
    let orgs = all_of(
        client,
        base,
        auth,
        "/v1/b2b/organizations/search",
        json!({}),
        "organizations",
        "organization_id",
    )
    .await;
    let ids: Vec<&String> = orgs.keys().collect();
    let members = if ids.is_empty() {
        Default::default()
    } else {
        all_of(
            client,
            base,
            auth,
            "/v1/b2b/organizations/members/search",
            json!({"organization_ids": ids}),
            "members",
            "member_id",
        )
        .await
    };
    Snapshot {
        users,
        orgs,
        members,
    }
}

fn last_line(stdout: &str) -> &str {
    stdout.trim_end().lines().last().unwrap_or("")
}

#[tokio::test]
async fn an_otpd_project_moves_into_a_fresh_one_with_the_same_ids_idempotently_and_resumably() {
    const USERS: i32 = 1000;
    const INVALID: i32 = 7;
    let dir = temp_dir();
    let ca = make_ca(&dir);
    // The source: a populated project served over HTTPS.
    let source_db = TestDb::create().await;
    let source_config = config_for(&source_db, &dir);
    std::fs::write(
        &source_config,
        std::fs::read_to_string(&source_config).unwrap()
            + &format!(
                "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
                ca.cert_pem.display(),
                ca.key_pem.display()
            ),
    )
    .unwrap();
    let project_id = format!("project-test-{}", uuid::Uuid::new_v4());
    let secret = stytch_like_secret("test");
    create_kept(&source_config, &project_id, &secret);
    let source_pool = sqlx::PgPool::connect(&source_db.url).await.unwrap();
    populate(&source_pool, &project_id, USERS, INVALID).await;
    let served = serve(otpd_with(&source_config));
    let secret_file = dir.join("source-secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let ca_cert = reqwest::Certificate::from_pem(&std::fs::read(&ca.ca_pem).unwrap()).unwrap();
    let tls_client = reqwest::Client::builder()
        .add_root_certificate(ca_cert)
        .build()
        .unwrap();
    let source = snapshot(&tls_client, &served.address, (&project_id, &secret)).await;
    assert_eq!(source.users.len(), USERS as usize);
    assert_eq!(source.orgs.len(), 3);
    assert_eq!(source.members.len(), 30);

    // The target: a fresh database with the same credentials (what a cutover looks like).
    let target_db = TestDb::create().await;
    let target_config = config_for(&target_db, &dir);
    create_kept(&target_config, &project_id, &secret);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let import = |extra: &[&str]| {
        let mut cmd = otpd_with(&target_config);
        cmd.args(["import", "stytch", "--project", &project_id])
            .args([
                "--from-url",
                &served.address,
                "--source-project-id",
                &project_id,
            ])
            .arg("--source-secret-file")
            .arg(&secret_file)
            .arg("--ca-file")
            .arg(&ca.ca_pem)
            .arg("--state-dir")
            .arg(&state)
            .args(["--page-size", "200"])
            .args(extra);
        run(cmd, "")
    };
    let expected_imported = USERS - INVALID + 3 + 30;

    // Interrupted after two pages: a checkpoint stays, and the rerun finishes from it.
    let (code, first, stderr) = import(&["--max-pages", "2"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(first.contains("stopped after 2 pages"), "{first}");
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        1,
        "a checkpoint is kept"
    );
    let started = std::time::Instant::now();
    let (code, second, stderr) = import(&[]);
    let took = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert!(second.contains("resumed from the checkpoint"), "{second}");
    assert!(stderr.contains("records"), "a progress line: {stderr}");
    let parse = |line: &str| -> (i32, i32, i32) {
        let n: Vec<i32> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        (n[0], n[1], n[2])
    };
    let (i1, _, f1) = parse(last_line(&first));
    let (i2, u2, f2) = parse(last_line(&second));
    assert_eq!(i1 + i2, expected_imported, "{first}\n{second}");
    assert_eq!(u2, 0);
    assert_eq!(f1 + f2, INVALID, "{first}\n{second}");
    assert_eq!(
        std::fs::read_dir(&state).unwrap().count(),
        0,
        "the checkpoint is removed"
    );
    // Each invalid record is named with its id and reason.
    let failures: Vec<&str> = first
        .lines()
        .chain(second.lines())
        .filter(|l| l.starts_with("failed user user-test-") && l.contains("invalid_phone_number"))
        .collect();
    assert_eq!(failures.len(), INVALID as usize, "{first}\n{second}");
    assert!(
        !first.contains("+1555") && !second.contains("+1555"),
        "no number is printed"
    );
    println!(
        "import rate: {} records in {:.2} s: {:.0} records/s (the resumed run; its own line: {})",
        i2 + f2,
        took.as_secs_f64(),
        f64::from(i2 + f2) / took.as_secs_f64(),
        second
            .lines()
            .find(|l| l.contains("records/s"))
            .unwrap_or("")
    );

    // A rerun changes nothing.
    let (code, third, stderr) = import(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        last_line(&third),
        format!("imported 0, unchanged {expected_imported}, failed {INVALID}"),
        "{third}"
    );

    // The same objects, by the same ids, through the API.
    let (target_address, _, target_pool) = start(&target_db, |_| {}).await;
    let client = reqwest::Client::new();
    let target = snapshot(&client, &target_address, (&project_id, &secret)).await;
    assert_eq!(target.users.len(), (USERS - INVALID) as usize);
    for (id, user) in &target.users {
        assert_eq!(Some(user), source.users.get(id), "user {id}");
    }
    assert_eq!(target.orgs, source.orgs);
    assert_eq!(target.members, source.members);

    // Returning users are returning: the imported user answers, not a new one.
    let (verified_id, verified_user) = target
        .users
        .iter()
        .find(|(_, u)| u["phone_numbers"][0]["verified"] == true)
        .unwrap();
    let number = verified_user["phone_numbers"][0]["phone_number"]
        .as_str()
        .unwrap();
    let r: Value = client
        .post(format!("{target_address}/v1/otps/sms/login_or_create"))
        .basic_auth(&project_id, Some(&secret))
        .json(&json!({"phone_number": number}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["user_id"], verified_id.as_str(), "{r}");
    assert_eq!(r["user_created"], false, "{r}");
    // ... and known to the abuse rules: every imported number (users' and members',
    // verified or not) counts, as imported.
    let known: i64 = sqlx::query_scalar(
        "select count(*) from limit_verified_numbers where project_id = $1 and source = 'imported'",
    )
    .bind(&project_id)
    .fetch_one(&target_pool)
    .await
    .unwrap();
    let user_numbers = target
        .users
        .values()
        .filter(|u| u["phone_numbers"][0]["phone_number"].is_string())
        .count();
    let member_numbers = target
        .members
        .values()
        .filter(|m| {
            m["mfa_phone_number"]
                .as_str()
                .is_some_and(|n| !n.is_empty())
        })
        .count();
    assert_eq!(known as usize, user_numbers + member_numbers);
    // With the pending-sends budget at its tightest (one unanswered new number), every
    // imported verified number is still served, while new numbers are held back.
    let mut update = otpd_with(&target_config);
    update.args(["project", "update", &project_id]).args([
        "--limit",
        "pending_floor=1",
        "--limit",
        "pending_per_auth=0",
        "--limit",
        "pending_typing_seconds=0",
    ]);
    let (code, _, stderr) = run(update, "");
    assert_eq!(code, 0, "{stderr}");
    let send = |number: String| {
        let client = client.clone();
        let (address, pid, secret) = (target_address.clone(), project_id.clone(), secret.clone());
        async move {
            client
                .post(format!("{address}/v1/otps/sms/login_or_create"))
                .basic_auth(&pid, Some(&secret))
                .json(&json!({"phone_number": number}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let returning: Vec<String> = target
        .users
        .values()
        .filter(|u| u["phone_numbers"][0]["verified"] == true)
        .skip(1)
        .take(6)
        .map(|u| {
            u["phone_numbers"][0]["phone_number"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for n in returning {
        assert_eq!(
            send(n).await,
            StatusCode::OK,
            "an imported verified number is known"
        );
    }
    let mut new_statuses = Vec::new();
    for _ in 0..3 {
        new_statuses.push(send(crate::helpers::unique_us_number()).await);
    }
    assert!(
        new_statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "the budget is live for new numbers: {new_statuses:?}"
    );

    // The official Python SDK reads them by their Stytch ids (it speaks HTTPS only).
    std::fs::write(
        &target_config,
        std::fs::read_to_string(&target_config).unwrap()
            + &format!(
                "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
                ca.cert_pem.display(),
                ca.key_pem.display()
            ),
    )
    .unwrap();
    let target_served = serve(otpd_with(&target_config));
    let expected = dir.join("expected.json");
    std::fs::write(
        &expected,
        json!({
            "users": target.users.keys().take(25).map(|id| &source.users[id]).collect::<Vec<_>>(),
            "organizations": source.orgs.values().collect::<Vec<_>>(),
            "members": source.members.values().collect::<Vec<_>>(),
        })
        .to_string(),
    )
    .unwrap();
    let mut py = Command::new(crate::sdk::sdk_env("OTPD_SDK_PYTHON"));
    py.arg("tests/sdk/import_read.py")
        .env("OTPD_IMPORT_EXPECTED", &expected);
    crate::sdk::run_script(py, &target_served.address, &project_id, &secret, &ca.ca_pem);
    let mut node = Command::new("node");
    node.arg("tests/sdk/import_read.mjs")
        .env("NODE_PATH", crate::sdk::sdk_env("OTPD_SDK_NODE_PATH"))
        .env("OTPD_IMPORT_EXPECTED", &expected);
    crate::sdk::run_script(
        node,
        &target_served.address,
        &project_id,
        &secret,
        &ca.ca_pem,
    );

    // The file path: the same objects as JSON lines give the same project.
    let file = dir.join("export.jsonl");
    let mut lines = Vec::new();
    for u in source.users.values() {
        lines.push(otpd::otp::import_source::to_line(
            otpd::otp::import::Kind::User,
            u,
        ));
    }
    for o in source.orgs.values() {
        lines.push(otpd::otp::import_source::to_line(
            otpd::otp::import::Kind::Organization,
            o,
        ));
    }
    for m in source.members.values() {
        lines.push(otpd::otp::import_source::to_line(
            otpd::otp::import::Kind::Member,
            m,
        ));
    }
    lines.push("{\"type\": \"spaceship\"}".into());
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let file_db = TestDb::create().await;
    let file_config = config_for(&file_db, &dir);
    create_kept(&file_config, &project_id, &secret);
    let from_file = |extra: &[&str]| {
        let mut cmd = otpd_with(&file_config);
        cmd.args(["import", "stytch", "--project", &project_id, "--from-file"])
            .arg(&file)
            .args(extra);
        run(cmd, "")
    };
    let (code, dry, stderr) = from_file(&["--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dry.contains("dry run: nothing was written"), "{dry}");
    assert_eq!(
        last_line(&dry),
        format!(
            "imported {expected_imported}, unchanged 0, failed {}",
            INVALID + 1
        )
    );
    let (code, real, stderr) = from_file(&[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        last_line(&real),
        format!(
            "imported {expected_imported}, unchanged 0, failed {}",
            INVALID + 1
        ),
        "{real}"
    );
    assert!(
        real.contains("line ") && real.contains("invalid_record"),
        "{real}"
    );
    let (file_address, _, _) = start(&file_db, |_| {}).await;
    let from_file_snapshot = snapshot(&client, &file_address, (&project_id, &secret)).await;
    assert_eq!(from_file_snapshot.users, target.users);
    assert_eq!(from_file_snapshot.orgs, target.orgs);
    assert_eq!(from_file_snapshot.members, target.members);
}

#[tokio::test]
async fn organization_and_member_searches_page_with_their_own_cursors_and_refuse_what_they_cannot_do(
) {
    let app = crate::helpers::spawn_app().await;
    let mut orgs = Vec::new();
    for i in 0..3 {
        let r = app
            .post(
                "/v1/b2b/organizations",
                json!({"organization_name": format!("Org {i}"), "organization_slug": format!("org-{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let id = r.body["organization"]["organization_id"]
            .as_str()
            .unwrap()
            .to_owned();
        for m in 0..2 {
            let r = app
                .post(
                    &format!("/v1/b2b/organizations/{id}/members"),
                    json!({"email_address": format!("m{m}@org{i}.example")}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        orgs.push(id);
    }
    let first = app
        .post("/v1/b2b/organizations/search", json!({"limit": 2}))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["organizations"].as_array().unwrap().len(), 2);
    assert_eq!(first.body["results_metadata"]["total"], 3);
    let cursor = first.body["results_metadata"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app
        .post(
            "/v1/b2b/organizations/search",
            json!({"limit": 2, "cursor": cursor}),
        )
        .await;
    assert_eq!(second.body["organizations"].as_array().unwrap().len(), 1);
    assert!(second.body["results_metadata"]["next_cursor"].is_null());
    let by_id = app
        .post(
            "/v1/b2b/organizations/search",
            json!({"query": {"operator": "AND", "operands": [{"filter_name": "organization_ids", "filter_value": [orgs[1]]}]}}),
        )
        .await;
    assert_eq!(
        by_id.body["organizations"][0]["organization_id"],
        orgs[1].as_str()
    );

    let members = app
        .post(
            "/v1/b2b/organizations/members/search",
            json!({"organization_ids": [orgs[0], orgs[2]], "limit": 3}),
        )
        .await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    assert_eq!(members.body["results_metadata"]["total"], 4);
    assert_eq!(members.body["members"].as_array().unwrap().len(), 3);
    for m in members.body["members"].as_array().unwrap() {
        let org = m["organization_id"].as_str().unwrap();
        assert!(org == orgs[0] || org == orgs[2]);
        assert_eq!(members.body["organizations"][org]["organization_id"], org);
    }

    for (path, body, says) in [
        (
            "/v1/b2b/organizations/members/search",
            json!({}),
            "organization_ids",
        ),
        (
            "/v1/b2b/organizations/members/search",
            json!({"organization_ids": []}),
            "organization_ids",
        ),
        (
            "/v1/b2b/organizations/members/search",
            json!({"organization_ids": [orgs[0]], "cursor": cursor}),
            "cursor",
        ),
        (
            "/v1/b2b/organizations/search",
            json!({"limit": 1001}),
            "limit",
        ),
        (
            "/v1/b2b/organizations/search",
            json!({"query": {"operator": "AND", "operands": [{"filter_name": "organization_slugs", "filter_value": ["org-1"]}]}}),
            "organization_slugs",
        ),
    ] {
        let r = app.post(path, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            r.body
        );
        assert!(
            r.body["error_message"].as_str().unwrap().contains(says),
            "{}",
            r.body
        );
    }
}
