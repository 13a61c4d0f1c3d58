//! Schemathesis (pinned in tests/schemathesis, installed by scripts/test) fuzzes the served
//! `openapi.json` over HTTPS: every check, the stateful phase included, over several fixed
//! seeds with a bounded number of examples per operation so it fits a CI run on two cores.
//!
//! `scripts/fuzz [--minutes N]` runs the same test with fresh seeds until the time is up
//! (`OTPD_FUZZ_MINUTES`), printing each seed so a failure can be replayed:
//! `OTPD_SCHEMATHESIS_SEEDS=<seed> scripts/test schemathesis::`.
//!
//! The project it uses has every abuse limit off (`helpers::unlimited`) and the replica's
//! in-process guards are off too: a fuzzer sending hundreds of codes to one number would
//! otherwise mostly measure the limits, which have tests of their own.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::cli::{make_ca, temp_dir};
use crate::helpers::{spawn_app_with, unlimited};

/// Examples per operation and phase, for each seed.
const MAX_EXAMPLES: &str = "30";
/// The fixed seeds CI runs (`OTPD_SCHEMATHESIS_SEEDS`, comma-separated, overrides them). The
/// first runs every phase; the others only the phases a seed changes (fuzzing and stateful:
/// the examples and coverage phases are the same whatever the seed).
const SEEDS: &[u64] = &[20261201, 20261207, 23];

/// The refusals a schema-valid request may still get: rules no schema can express (a
/// well-formed number that isn't a real one, a country the project doesn't allow, a
/// uniqueness rule, state left by an earlier request). Each is named in the document's
/// descriptions.
const SEMANTIC_REFUSALS: &[(&str, &str)] = &[
    ("invalid_phone_number", ""),
    ("invalid_phone_number_country_code", ""),
    ("unsupported_phone_number_type", ""),
    ("duplicate_email", ""),
    ("duplicate_phone_number", ""),
    ("duplicate_user_external_id", ""),
    ("organization_slug_already_used", ""),
    ("organization_external_id_already_used", ""),
    ("duplicate_member_email", ""),
    ("duplicate_member_external_id", ""),
    ("duplicate_member_phone_number", ""),
    ("member_phone_number_not_found", ""),
    ("member_phone_number_already_verified", ""),
    // The member lookup takes `member_id` or `email_address`: "one of two query
    // parameters" has no OpenAPI form.
    ("bad_request", "pass member_id or email_address"),
    // "Exactly one of session_token and session_jwt" (sessions.authenticate) and "exactly
    // one of the session id, token, JWT or member" (sessions.revoke): each field is optional
    // alone; the rule is in the operation's descriptions.
    ("bad_request", "session_token or session_jwt is required"),
    (
        "bad_request",
        "Pass one of the session id, session_token or session_jwt",
    ),
    ("too_many_session_arguments", ""),
    // B2B SMS: "exactly one of intermediate_session_token, session_token and session_jwt"
    // (authenticate; send once the member has a verified factor), and an IST of another
    // organization: each field is optional alone; the rule is in the descriptions.
    ("no_session_arguments", ""),
    ("invalid_intermediate_session_token_for_organization", ""),
    // sessions.attest shares one body between consumer and B2B; B2B requires
    // `organization_id` (its field description says so).
    ("bad_request", "organization_id is required"),
    // Reserved JWT claims (`sub`, `exp`, …) and claims over 4 KB: documented on the field.
    ("invalid_session_custom_claims", ""),
    // `mfa_methods` / `auth_methods` `RESTRICTED` with an empty allowed list: a rule across
    // two fields (and the stored organization), described on those fields.
    ("bad_request", "required when mfa_methods is RESTRICTED"),
    ("bad_request", "required when auth_methods is RESTRICTED"),
    // users.search: `filter_value`'s shape depends on `filter_name` (ten shapes, listed in
    // the operand's description).
    ("bad_request", "as filter_value"),
    ("bad_request", "takes an RFC 3339 timestamp"),
    // A well-formed cursor otpd never issued (state, like an unknown id).
    ("bad_request", "cursor is not one otpd issued"),
];

fn schemathesis() -> String {
    std::env::var("OTPD_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!("OTPD_SCHEMATHESIS is not set: run the tests with scripts/test, which installs the pinned schemathesis (tests/schemathesis/install.sh)")
    })
}

/// One failed check, as schemathesis recorded it.
struct Failure {
    check: String,
    operation: String,
    status: u64,
    /// The response body, when it was JSON.
    body: Value,
}

/// Every failed check in schemathesis' NDJSON event stream: each `ScenarioFinished` event's
/// recorder holds the checks per case and the interaction (request and response) per case.
fn failures(events: &Path) -> Vec<Failure> {
    use base64::Engine;
    let text = std::fs::read_to_string(events).unwrap();
    let mut found = Vec::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap();
        let recorder = &event["ScenarioFinished"]["recorder"];
        let Some(checks) = recorder["checks"].as_object() else {
            continue;
        };
        for (case, results) in checks {
            for result in results.as_array().into_iter().flatten() {
                if result["status"] != "failure" {
                    continue;
                }
                let response = &recorder["interactions"][case]["response"];
                let body = response["content"]["$base64"]
                    .as_str()
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(Value::Null);
                found.push(Failure {
                    check: result["name"].as_str().unwrap_or("?").to_owned(),
                    operation: result["failure_info"]["failure"]["operation"]
                        .as_str()
                        .unwrap_or("?")
                        .to_owned(),
                    status: response["status_code"].as_u64().unwrap_or(0),
                    body,
                });
            }
        }
    }
    found
}

/// One schemathesis run: its cases and what it found that no documented rule explains.
struct Run {
    cases: String,
    semantic: usize,
    unexpected: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn run_schemathesis(
    st: &str,
    base: &str,
    auth: &str,
    ca_pem: &Path,
    dir: &Path,
    seed: u64,
    phases: &str,
    operations: &[&str],
) -> Run {
    let surface = if operations.contains(&"--include-path-regex") {
        "sdk"
    } else {
        "v1"
    };
    let report = dir.join(format!("report-{seed}-{surface}"));
    let events = report.join("events.ndjson");
    let args: Vec<String> = [
        "run".into(),
        format!("{base}/openapi.json"),
        "--checks".into(),
        "all".into(),
        "--phases".into(),
        phases.into(),
        "--max-examples".into(),
        std::env::var("OTPD_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.into()),
        "--seed".into(),
        seed.to_string(),
        "--generation-database".into(),
        "none".into(),
        // One worker: hypothesis' lambda-source cache is not thread-safe on CPython 3.11
        // ("AST constructor recursion depth mismatch" errors with two).
        "--workers".into(),
        "1".into(),
        "--auth".into(),
        auth.into(),
        "--tls-verify".into(),
        ca_pem.display().to_string(),
        "--request-timeout".into(),
        "30".into(),
        "--report".into(),
        "ndjson".into(),
        "--report-ndjson-path".into(),
        events.display().to_string(),
        "--no-color".into(),
    ]
    .into_iter()
    .chain(operations.iter().map(|o| (*o).to_owned()))
    .collect();
    let secret = auth.split_once(':').map_or("", |(_, s)| s).to_owned();
    println!("{st} {}", args.join(" ").replace(&secret, "***"));
    let run_dir = dir.to_path_buf();
    let st = st.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .args(&args)
            // Its `.schemathesis/` cache (which replays earlier failures) stays out of the tree.
            .current_dir(run_dir)
            .env_remove("REQUESTS_CA_BUNDLE")
            .env_remove("CURL_CA_BUNDLE")
            .env_remove("SSL_CERT_FILE")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    let cases = stdout
        .lines()
        .filter(|l| l.contains("test cases") || l.contains("generated"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ");

    let failures = failures(&events);
    assert!(
        out.status.success() || !failures.is_empty(),
        "schemathesis (seed {seed}) failed without recording a failure (exit {:?})",
        out.status.code()
    );
    let mut semantic = 0;
    let mut unexpected = Vec::new();
    for f in &failures {
        let error_type = f.body["error_type"].as_str().unwrap_or("");
        let message = f.body["error_message"].as_str().unwrap_or("");
        let documented = SEMANTIC_REFUSALS
            .iter()
            .any(|(t, m)| *t == error_type && message.contains(m));
        if f.check == "positive_data_acceptance" && documented {
            semantic += 1;
        } else {
            unexpected.push(format!(
                "seed {seed}: {} on {}: {} {}",
                f.check, f.operation, f.status, f.body
            ));
        }
    }
    println!(
        "schemathesis seed {seed}: {} failed check(s), {semantic} of them a documented semantic refusal of a schema-valid request; {cases}",
        failures.len()
    );
    Run {
        cases,
        semantic,
        unexpected,
    }
}

/// The seeds to run: `OTPD_SCHEMATHESIS_SEEDS` (comma-separated) or the fixed ones.
fn seeds() -> Vec<u64> {
    match std::env::var("OTPD_SCHEMATHESIS_SEEDS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("OTPD_SCHEMATHESIS_SEEDS: `{s}` is not a number"))
            })
            .collect(),
        _ => SEEDS.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let st = schemathesis();
    let dir = temp_dir();
    let ca = make_ca(&dir);
    let (cert, key) = (ca.cert_pem.clone(), ca.key_pem.clone());
    let app = spawn_app_with(
        move |c| {
            c.tls.cert = Some(cert);
            c.tls.key = Some(key);
            c.limits.project_per_second = 0;
            c.limits.end_user_per_minute = 0;
            c.limits.peer_per_second = 0;
        },
        unlimited(),
        false,
    )
    .await;
    let base = app.address.replacen("http://", "https://", 1);
    let auth = format!("{}:{}", app.project_id, app.secret);
    // The frontend surface takes a public token where /v1 takes the secret: each run fuzzes
    // the operations its credentials open.
    let token = app.public_token(&["https://app.example.com"]).await;
    let public = format!("{token}:{token}");
    let surfaces: [(&str, &[&str]); 2] = [
        (auth.as_str(), &["--exclude-path-regex", "^/sdk/"]),
        (public.as_str(), &["--include-path-regex", "^/sdk/v1/"]),
    ];
    const ALL: &str = "examples,coverage,fuzzing,stateful";
    const SEEDED: &str = "fuzzing,stateful";

    // scripts/fuzz: fresh seeds until the time is up, every one printed.
    let fuzz_minutes: Option<u64> = std::env::var("OTPD_FUZZ_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok());
    let mut unexpected = Vec::new();
    if let Some(minutes) = fuzz_minutes {
        use rand::Rng;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(minutes * 60);
        let mut failing = Vec::new();
        let mut first = true;
        while std::time::Instant::now() < deadline {
            let seed: u64 = rand::thread_rng().gen_range(1..u64::from(u32::MAX));
            println!("fuzz: seed {seed}");
            let phases = if first { ALL } else { SEEDED };
            first = false;
            for (creds, operations) in surfaces {
                let run = run_schemathesis(
                    &st, &base, creds, &ca.ca_pem, &dir, seed, phases, operations,
                )
                .await;
                if !run.unexpected.is_empty() {
                    failing.push(seed);
                    unexpected.extend(run.unexpected);
                }
            }
        }
        println!(
            "fuzz: failing seeds {failing:?}; replay one with OTPD_SCHEMATHESIS_SEEDS=<seed> scripts/test schemathesis::"
        );
    } else {
        for (i, seed) in seeds().into_iter().enumerate() {
            let phases = if i == 0 { ALL } else { SEEDED };
            for (creds, operations) in surfaces {
                let run = run_schemathesis(
                    &st, &base, creds, &ca.ca_pem, &dir, seed, phases, operations,
                )
                .await;
                println!(
                    "schemathesis seed {seed} {operations:?}: {} ({} semantic refusals)",
                    run.cases, run.semantic
                );
                unexpected.extend(run.unexpected);
            }
        }
    }
    assert!(
        unexpected.is_empty(),
        "schemathesis found {} problem(s):\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    drop(app);
}
