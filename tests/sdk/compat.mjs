// otpd compatibility check with the official Stytch Node SDK (stytch@14.2.0).
//
// Drives a running otpd through `new stytch.Client({custom_base_url})` exactly as an
// application would, and asserts on what the application observes.
//
// Environment:
//   OTPD_BASE_URL        https://127.0.0.1:PORT/   (custom_base_url must be https)
//   OTPD_PROJECT_ID      project id  (HTTP Basic user)
//   OTPD_SECRET          project secret (HTTP Basic password)
//   NODE_EXTRA_CA_CERTS  PEM CA trusted for the server's certificate. Read by Node at
//                        start-up; both the SDK (it calls Node's global fetch) and our
//                        own fetch of the outbox honour it.
//   NODE_PATH            directory holding stytch/ (DEST/node/node_modules from
//                        install.sh). ES `import` ignores NODE_PATH, so the SDK is
//                        loaded with createRequire(), which does honour it.
//   OTPD_OUTBOX_TIMEOUT  seconds to wait for a message in the fake outbox (default 10)
//
// Exits 0 and prints "node sdk compat: N checks passed" on success; on the first
// mismatch prints "FAIL: ..." to stderr and exits 1.

import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let stytch;
try {
  stytch = require("stytch");
} catch (e) {
  console.error(
    `FAIL: cannot load the stytch package (set NODE_PATH to DEST/node/node_modules from tests/sdk/install.sh): ${e.message}`,
  );
  process.exit(1);
}
const { StytchError } = stytch;

const SANDBOX_PHONE = "+10000000000";
const SANDBOX_CODE = "000000";
const CODE_RE = /\d{6}/;

class CheckFailed extends Error {}

// ------------------------------------------------------------------ config --

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`FAIL: environment variable ${name} is not set`);
    process.exit(1);
  }
  return v;
}

let BASE_URL = env("OTPD_BASE_URL");
if (!BASE_URL.startsWith("https://")) {
  console.error(`FAIL: OTPD_BASE_URL must be an https:// URL, got ${JSON.stringify(BASE_URL)}`);
  process.exit(1);
}
if (!BASE_URL.endsWith("/")) BASE_URL += "/";
const PROJECT_ID = env("OTPD_PROJECT_ID");
const SECRET = env("OTPD_SECRET");
const OUTBOX_TIMEOUT = Number(process.env.OTPD_OUTBOX_TIMEOUT || "10");

function makeClient(secret) {
  return new stytch.Client({ project_id: PROJECT_ID, secret, custom_base_url: BASE_URL });
}

// ------------------------------------------------------------------ checks --

let PASSED = 0;

function ok(what) {
  PASSED += 1;
  console.log(`ok ${String(PASSED).padStart(2)} - ${what}`);
}

function expect(cond, what, detail = "") {
  if (!cond) throw new CheckFailed(detail ? `${what}: ${detail}` : what);
}

function expectEq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new CheckFailed(`${what}: expected ${e}, got ${a}`);
}

async function expectStytchError(fn, errorType, status, what) {
  let res;
  try {
    res = await fn();
  } catch (e) {
    if (!(e instanceof StytchError)) {
      throw new CheckFailed(`${what}: expected StytchError ${errorType}/${status}, got ${e?.constructor?.name}: ${e?.message}`);
    }
    if (e.error_type !== errorType || e.status_code !== status) {
      throw new CheckFailed(
        `${what}: expected StytchError ${errorType}/${status}, got ${e.error_type}/${e.status_code} (${e.message})`,
      );
    }
    expect(typeof e.request_id === "string" && e.request_id !== "", what, "error has no request_id");
    expect(typeof e.error_message === "string" && e.error_message !== "", what, "error has no error_message");
    return e;
  }
  throw new CheckFailed(`${what}: expected StytchError ${errorType}/${status}, call succeeded: ${JSON.stringify(res)}`);
}

const usedNumbers = new Set();
function randomUsNumber() {
  // +1 201 2XY-ZZZZ: area code 201 (NJ), exchange 2[2-9]x (never the N11 "211"),
  // a valid US number for libphonenumber and not in the 555-01xx fiction range.
  const d = () => String(Math.floor(Math.random() * 10));
  for (;;) {
    let n = "+12012" + String(2 + Math.floor(Math.random() * 8));
    for (let i = 0; i < 5; i++) n += d();
    if (!usedNumbers.has(n)) {
      usedNumbers.add(n);
      return n;
    }
  }
}

// ------------------------------------------------------------------ outbox --

const AUTH_HEADER = "Basic " + Buffer.from(`${PROJECT_ID}:${SECRET}`).toString("base64");

async function outbox(to) {
  const url = `${BASE_URL}v1/sandbox/messages?to=${encodeURIComponent(to)}&limit=1`;
  const resp = await fetch(url, { headers: { Authorization: AUTH_HEADER, Accept: "application/json" } });
  const text = await resp.text();
  if (resp.status !== 200) throw new CheckFailed(`GET ${url} -> HTTP ${resp.status}: ${text.slice(0, 500)}`);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new CheckFailed(`outbox GET ${url}: body is not JSON: ${text.slice(0, 200)}`);
  }
  expect(Array.isArray(doc.messages), "outbox response has a messages array", text.slice(0, 300));
  if (doc.messages.length === 0) return null;
  const m = doc.messages[0];
  expectEq(m.to, to, "outbox message 'to'");
  return m;
}

async function lastMessageId(to) {
  const m = await outbox(to);
  return m ? m.message_id : null;
}

async function waitForMessage(to, previousId, channel) {
  const deadline = Date.now() + OUTBOX_TIMEOUT * 1000;
  let m;
  for (;;) {
    m = await outbox(to);
    if (m && m.message_id !== previousId) break;
    if (Date.now() > deadline) {
      throw new CheckFailed(`no new ${channel} message for ${to} in the outbox after ${OUTBOX_TIMEOUT}s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  expectEq(m.channel, channel, `outbox channel for ${to}`);
  const match = CODE_RE.exec(m.body || "");
  expect(match !== null, `outbox message for ${to} contains a 6-digit code`, JSON.stringify(m.body));
  return [match[0], m];
}

// ------------------------------------------------------------------- flows --

async function main() {
  const client = makeClient(SECRET);
  const P = randomUsNumber();
  const Q = randomUsNumber();
  const R = randomUsNumber();
  console.log(`# base_url=${BASE_URL} ca=${process.env.NODE_EXTRA_CA_CERTS || ""} P=${P} Q=${Q} R=${R}`);
  let res, prev, msg;

  // a. users.create
  res = await client.users.create({ phone_number: P });
  expectEq(res.status_code, 201, "users.create status_code");
  const userId = res.user_id;
  const phoneId = res.phone_id;
  expect(typeof userId === "string" && userId.startsWith("user-test-"), "users.create user_id prefix", userId);
  expect(typeof phoneId === "string" && phoneId.startsWith("phone-number-test-"), "users.create phone_id prefix", phoneId);
  expectEq(res.email_id, "", "users.create email_id");
  expectEq(res.user.user_id, userId, "users.create user.user_id");
  expectEq(res.user.phone_numbers.length, 1, "users.create number of phone_numbers");
  expectEq(res.user.phone_numbers[0].phone_number, P, "users.create phone_numbers[0].phone_number");
  expectEq(res.user.phone_numbers[0].phone_id, phoneId, "users.create phone_numbers[0].phone_id");
  expectEq(res.user.phone_numbers[0].verified, false, "users.create phone verified");
  ok(`users.create(${P}) -> 201 ${userId} ${phoneId}, unverified`);

  // b. otps.sms.send + otps.authenticate
  prev = await lastMessageId(P);
  res = await client.otps.sms.send({ phone_number: P });
  expectEq(res.status_code, 200, "otps.sms.send status_code");
  expectEq(res.user_id, userId, "otps.sms.send user_id");
  expectEq(res.phone_id, phoneId, "otps.sms.send phone_id");
  let code1;
  [code1, msg] = await waitForMessage(P, prev, "sms");
  ok("otps.sms.send -> same user/phone, sms code in outbox");

  res = await client.otps.authenticate({ method_id: phoneId, code: code1 });
  expectEq(res.status_code, 200, "otps.authenticate status_code");
  expectEq(res.user_id, userId, "otps.authenticate user_id");
  expectEq(res.method_id, phoneId, "otps.authenticate method_id");
  expectEq(res.session_token, "", "otps.authenticate session_token");
  expectEq(res.session_jwt, "", "otps.authenticate session_jwt");
  expect(res.session === null || res.session === undefined, "otps.authenticate session", JSON.stringify(res.session));
  expectEq(res.user.phone_numbers[0].verified, true, "otps.authenticate user.phone_numbers[0].verified");
  ok("otps.authenticate(sms code) -> 200, no session, phone verified");

  // c. the consumed code again
  await expectStytchError(
    () => client.otps.authenticate({ method_id: phoneId, code: code1 }),
    "unable_to_auth_otp_code", 401, "reusing a consumed code",
  );
  ok("reused code -> StytchError unable_to_auth_otp_code 401");

  // d. wrong code, then the right one
  prev = msg.message_id;
  res = await client.otps.sms.send({ phone_number: P });
  expectEq(res.phone_id, phoneId, "second otps.sms.send phone_id");
  let code2;
  [code2, msg] = await waitForMessage(P, prev, "sms");
  const wrong = code2.slice(0, -1) + String((Number(code2.slice(-1)) + 1) % 10);
  await expectStytchError(
    () => client.otps.authenticate({ method_id: phoneId, code: wrong }),
    "otp_code_not_found", 404, "authenticating with a wrong code",
  );
  ok("wrong code -> StytchError otp_code_not_found 404");
  res = await client.otps.authenticate({ method_id: phoneId, code: code2 });
  expectEq(res.user_id, userId, "otps.authenticate after a wrong attempt: user_id");
  ok("right code after a wrong attempt -> 200");

  // e. loginOrCreate for a new number
  expectEq(await lastMessageId(Q), null, `outbox for fresh number ${Q} is empty`);
  res = await client.otps.sms.loginOrCreate({ phone_number: Q });
  expectEq(res.status_code, 200, "otps.sms.loginOrCreate status_code");
  expectEq(res.user_created, true, "otps.sms.loginOrCreate(new) user_created");
  const qUser = res.user_id;
  const qPhone = res.phone_id;
  expect(typeof qUser === "string" && qUser.startsWith("user-test-"), "loginOrCreate user_id prefix", qUser);
  expect(typeof qPhone === "string" && qPhone.startsWith("phone-number-test-"), "loginOrCreate phone_id prefix", qPhone);
  [, msg] = await waitForMessage(Q, null, "sms");
  ok(`otps.sms.loginOrCreate(${Q}) -> user_created=true`);
  res = await client.otps.sms.loginOrCreate({ phone_number: Q });
  expectEq(res.user_created, false, "otps.sms.loginOrCreate(again) user_created");
  expectEq(res.user_id, qUser, "otps.sms.loginOrCreate(again) user_id");
  expectEq(res.phone_id, qPhone, "otps.sms.loginOrCreate(again) phone_id");
  let codeQ;
  [codeQ, msg] = await waitForMessage(Q, msg.message_id, "sms");
  ok("otps.sms.loginOrCreate(same number) -> user_created=false, same user");
  res = await client.otps.authenticate({ method_id: qPhone, code: codeQ });
  expectEq(res.user_id, qUser, "otps.authenticate(loginOrCreate code) user_id");
  expectEq(res.user.phone_numbers[0].verified, true, "loginOrCreate user phone verified");
  ok("otps.authenticate(loginOrCreate code) -> 200");

  // f. WhatsApp
  prev = await lastMessageId(P);
  res = await client.otps.whatsapp.send({ phone_number: P });
  expectEq(res.user_id, userId, "otps.whatsapp.send user_id");
  expectEq(res.phone_id, phoneId, "otps.whatsapp.send phone_id");
  const [codeW] = await waitForMessage(P, prev, "whatsapp");
  res = await client.otps.authenticate({ method_id: phoneId, code: codeW });
  expectEq(res.user_id, userId, "otps.authenticate(whatsapp code) user_id");
  ok("otps.whatsapp.send -> whatsapp message, authenticate 200");
  res = await client.otps.whatsapp.loginOrCreate({ phone_number: R });
  expectEq(res.user_created, true, "otps.whatsapp.loginOrCreate(new) user_created");
  const rUser = res.user_id;
  const rPhone = res.phone_id;
  const [codeR] = await waitForMessage(R, null, "whatsapp");
  res = await client.otps.authenticate({ method_id: rPhone, code: codeR });
  expectEq(res.user_id, rUser, "otps.authenticate(whatsapp loginOrCreate code) user_id");
  ok(`otps.whatsapp.loginOrCreate(${R}) -> user_created=true, whatsapp message, authenticate 200`);

  // g. invalid phone number
  await expectStytchError(
    () => client.otps.sms.send({ phone_number: "+1234" }),
    "invalid_phone_number", 400, "otps.sms.send(+1234)",
  );
  await expectStytchError(
    () => client.otps.sms.loginOrCreate({ phone_number: "+1234" }),
    "invalid_phone_number", 400, "otps.sms.loginOrCreate(+1234)",
  );
  ok("invalid phone number +1234 -> StytchError invalid_phone_number 400 (send, loginOrCreate)");

  // h. wrong secret
  const bad = makeClient(SECRET + "-wrong");
  await expectStytchError(
    () => bad.users.get({ user_id: userId }),
    "unauthorized_credentials", 401, "users.get with a wrong secret",
  );
  await expectStytchError(
    () => bad.otps.sms.send({ phone_number: P }),
    "unauthorized_credentials", 401, "otps.sms.send with a wrong secret",
  );
  ok("wrong secret -> StytchError unauthorized_credentials 401");

  // i. users.get / deletePhoneNumber / delete
  res = await client.users.get({ user_id: userId });
  expectEq(res.status_code, 200, "users.get status_code");
  expectEq(res.user_id, userId, "users.get user_id");
  expectEq(res.status, "active", "users.get status");
  expectEq(res.emails, [], "users.get emails");
  expectEq(res.is_locked, false, "users.get is_locked");
  expectEq(
    (res.phone_numbers || []).map((p) => [p.phone_id, p.phone_number, p.verified]),
    [[phoneId, P, true]],
    "users.get phone_numbers",
  );
  ok("users.get -> flattened user, verified phone present");
  res = await client.users.deletePhoneNumber({ phone_id: phoneId });
  expectEq(res.status_code, 200, "users.deletePhoneNumber status_code");
  expectEq(res.user_id, userId, "users.deletePhoneNumber user_id");
  expectEq(res.user.phone_numbers, [], "users.deletePhoneNumber user.phone_numbers");
  res = await client.users.get({ user_id: userId });
  expectEq(res.phone_numbers, [], "users.get after deletePhoneNumber: phone_numbers");
  ok("users.deletePhoneNumber -> phone gone");
  res = await client.users.delete({ user_id: userId });
  expectEq(res.status_code, 200, "users.delete status_code");
  expectEq(res.user_id, userId, "users.delete user_id");
  await expectStytchError(
    () => client.users.get({ user_id: userId }),
    "user_not_found", 404, "users.get after users.delete",
  );
  ok("users.delete -> users.get raises user_not_found 404");

  // j. sandbox number
  expectEq(await lastMessageId(SANDBOX_PHONE), null, "outbox for sandbox number before");
  res = await client.otps.sms.loginOrCreate({ phone_number: SANDBOX_PHONE });
  expectEq(res.status_code, 200, "sandbox loginOrCreate status_code");
  expect(typeof res.phone_id === "string" && res.phone_id !== "", "sandbox loginOrCreate phone_id", JSON.stringify(res.phone_id));
  res = await client.otps.authenticate({ method_id: res.phone_id, code: SANDBOX_CODE });
  expectEq(res.status_code, 200, "sandbox authenticate status_code");
  expectEq(await lastMessageId(SANDBOX_PHONE), null, "outbox for sandbox number after");
  ok(`sandbox ${SANDBOX_PHONE} loginOrCreate + authenticate(${SANDBOX_CODE}) -> 200, nothing sent`);

  // k. sessions: authenticate with a duration, the token, the JWT verified locally against
  // the JWKS the SDK fetches from otpd, revoke.
  const S = randomUsNumber();
  res = await client.otps.sms.loginOrCreate({ phone_number: S });
  const [codeS] = await waitForMessage(S, null, "sms");
  res = await client.otps.authenticate({
    method_id: res.phone_id, code: codeS, session_duration_minutes: 60,
    session_custom_claims: { plan: "pro" },
  });
  const sessionToken = res.session_token;
  const sessionJwt = res.session_jwt;
  const sessionId = res.session.session_id;
  const sUser = res.user_id;
  expect(sessionToken.length === 44 && sessionJwt.split(".").length === 3, "otps.authenticate session fields", JSON.stringify(res));
  ok("otps.authenticate(session_duration_minutes=60) -> session_token, session_jwt, session");
  res = await client.sessions.authenticate({ session_token: sessionToken });
  expectEq(res.session.session_id, sessionId, "sessions.authenticate(token) session_id");
  expectEq(res.user.user_id, sUser, "sessions.authenticate(token) user");
  ok("sessions.authenticate(session_token) -> the session and its user");
  const local = await client.sessions.authenticateJwtLocal({ session_jwt: sessionJwt });
  expectEq(local.session_id, sessionId, "sessions.authenticateJwtLocal session_id");
  expectEq(local.user_id, sUser, "sessions.authenticateJwtLocal user_id");
  expectEq(local.custom_claims.plan, "pro", "sessions.authenticateJwtLocal custom claim");
  ok("sessions.authenticateJwtLocal -> verified with the JWKS from otpd");
  res = await client.sessions.revoke({ session_token: sessionToken });
  expectEq(res.status_code, 200, "sessions.revoke status_code");
  await expectStytchError(
    () => client.sessions.authenticate({ session_token: sessionToken }),
    "session_not_found", 404, "sessions.authenticate after revoke",
  );
  ok("sessions.revoke -> sessions.authenticate raises session_not_found 404");

  console.log(`node sdk compat: ${PASSED} checks passed`);
}

main().catch((e) => {
  if (e instanceof CheckFailed) {
    console.error(`FAIL: ${e.message}`);
  } else if (e instanceof StytchError) {
    console.error(`FAIL: unexpected StytchError ${e.error_type}/${e.status_code}: ${e.message}`);
  } else {
    // RequestError (network/TLS/non-JSON body) or a TypeError from a missing field.
    const cause = e?.cause ? ` (cause: ${e.cause?.code || ""} ${e.cause?.message || e.cause})` : "";
    console.error(`FAIL: unexpected ${e?.constructor?.name}: ${e?.message}${cause}`);
    if (e?.stack) console.error(e.stack);
  }
  console.error(`node sdk compat: ${PASSED} checks passed, 1 failed`);
  process.exit(1);
});
