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

import crypto from "node:crypto";
import fs from "node:fs";
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

// --------------------------------------------------------------------- b2b --

// A trusted auth token as the backend's identity system would mint it (RS256), for
// sessions.attest with the profile OTPD_TRUSTED_PROFILE_ID (the key in OTPD_TRUSTED_KEY_FILE).
function trustedToken(email) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({
    iss: process.env.OTPD_TRUSTED_ISSUER, aud: process.env.OTPD_TRUSTED_AUDIENCE, email,
    jti: crypto.randomUUID(), iat: now, exp: now + 300,
  })}`;
  const key = fs.readFileSync(process.env.OTPD_TRUSTED_KEY_FILE, "utf8");
  return `${body}.${crypto.sign("sha256", Buffer.from(body), key).toString("base64url")}`;
}

async function b2b() {
  const b = new stytch.B2BClient({ project_id: PROJECT_ID, secret: SECRET, custom_base_url: BASE_URL });
  const tag = String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
  const slug = `node-org-${tag}`;
  const org = (await b.organizations.create({
    organization_name: "Node Org", organization_slug: slug, organization_external_id: `node-ext-${tag}`,
    email_allowed_domains: ["example.com"], email_invites: "RESTRICTED",
  })).organization;
  expect(org.organization_id.startsWith("organization-test-"), "organization id shape", org.organization_id);
  let got = (await b.organizations.get({ organization_id: `node-ext-${tag}` })).organization;
  expectEq([got.organization_slug, got.email_allowed_domains, got.email_invites], [slug, ["example.com"], "RESTRICTED"],
    "organizations.get");
  ok("B2BClient organizations.create + get by external id, settings read back");

  const phone = randomUsNumber();
  const created = await b.organizations.members.create({
    organization_id: org.organization_id, email_address: `${tag}@example.com`, external_id: `emp-${tag}`,
    roles: ["editor"], trusted_metadata: { t: 1 },
  });
  const memberId = created.member_id;
  const fetched = await b.organizations.members.get({ organization_id: slug, member_id: `emp-${tag}` });
  expectEq([fetched.member_id, fetched.member.roles.map((r) => r.role_id), fetched.member.trusted_metadata],
    [memberId, ["editor"], { t: 1 }], "members.get");
  ok("B2BClient members.create + get by slug and external id, roles and metadata read back");

  // SMS is a second factor: the member signs in elsewhere first, and attest brings that here.
  const att = await b.sessions.attest({
    profile_id: process.env.OTPD_TRUSTED_PROFILE_ID, token: trustedToken(`${tag}@example.com`),
    organization_id: org.organization_id,
  });
  expectEq(att.member_id, memberId, "sessions.attest finds the member by email");
  const session_token = att.session_token;
  ok("B2BClient sessions.attest -> member session");
  let before = await lastMessageId(phone);
  const sent = await b.otps.sms.send({ organization_id: org.organization_id, member_id: memberId, mfa_phone_number: phone });
  expectEq(sent.member.mfa_phone_number, phone, "send links the MFA phone");
  let [code] = await waitForMessage(phone, before, "sms");
  await expectStytchError(() => b.otps.sms.authenticate({ organization_id: org.organization_id, member_id: memberId, code }),
    "no_session_arguments", 400, "SMS alone is no login");
  const auth = await b.otps.sms.authenticate({
    organization_id: org.organization_id, member_id: memberId, code, set_mfa_enrollment: "enroll", session_token,
  });
  expectEq([auth.member_id, auth.member.mfa_phone_number_verified, auth.member.mfa_enrolled], [memberId, true, true],
    "authenticate");
  ok("B2BClient otps.sms.send + authenticate (enroll)");
  before = await lastMessageId(phone);
  await b.otps.sms.send({ organization_id: slug, member_id: `emp-${tag}`, session_token });
  [code] = await waitForMessage(phone, before, "sms");
  await expectStytchError(
    () => b.otps.sms.authenticate({ organization_id: slug, member_id: memberId, session_token, code: code.slice(0, 5) + (code[5] === "9" ? "0" : String(Number(code[5]) + 1)) }),
    "otp_code_not_found", 404, "wrong code");
  await b.otps.sms.authenticate({ organization_id: slug, member_id: memberId, code, session_token });
  await expectStytchError(() => b.otps.sms.authenticate({ organization_id: slug, member_id: memberId, code, session_token }),
    "unable_to_auth_otp_code", 401, "reused code");
  ok("B2BClient by slug + member external id; wrong code 404, reused 401");

  await expectStytchError(
    () => b.otps.sms.send({ organization_id: slug, member_id: memberId, mfa_phone_number: randomUsNumber(), session_token }),
    "bad_request", 400, "a different mfa_phone_number is refused");
  await expectStytchError(
    () => b.organizations.members.update({ organization_id: slug, member_id: memberId, mfa_phone_number: randomUsNumber() }),
    "bad_request", 400, "a verified number isn't replaced by update");
  await expectStytchError(
    () => b.organizations.members.create({ organization_id: slug, email_address: `dup-${tag}@example.com`, mfa_phone_number: phone }),
    "duplicate_member_phone_number", 400, "member numbers are unique per organization");
  await expectStytchError(() => b.organizations.create({ organization_name: "X", organization_slug: slug }),
    "organization_slug_already_used", 400, "taken slug");
  ok("MFA phone rules and Stytch's error names through the Node B2BClient");

  const upd = await b.organizations.update({
    organization_id: org.organization_id, organization_name: "Node Org 2", organization_logo_url: "https://example.com/l.png",
    trusted_metadata: { plan: "pro" }, mfa_policy: "REQUIRED_FOR_ALL",
  });
  expectEq(upd.organization.organization_name, "Node Org 2", "organizations.update response");
  got = (await b.organizations.get({ organization_id: slug })).organization;
  expectEq([got.organization_name, got.organization_logo_url, got.trusted_metadata, got.mfa_policy],
    ["Node Org 2", "https://example.com/l.png", { plan: "pro" }, "REQUIRED_FOR_ALL"], "organizations.get after update");
  const mu = await b.organizations.members.update({
    organization_id: slug, member_id: memberId, name: "N", email_address: `new-${tag}@example.com`,
    untrusted_metadata: { u: 2 }, roles: ["viewer"],
  });
  const mg = (await b.organizations.members.get({ organization_id: slug, member_id: memberId })).member;
  for (const m of [mu.member, mg]) {
    expectEq([m.name, m.email_address, m.untrusted_metadata, m.roles.map((r) => r.role_id)],
      ["N", `new-${tag}@example.com`, { u: 2 }, ["viewer"]], "members.update read back");
  }
  ok("B2BClient organizations.update and members.update: written and read back");
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

  // j. sandbox number: users.create accepts it, send needs no prior user (test projects)
  const found = await client.users.search({
    query: { operator: "AND", operands: [{ filter_name: "phone_number", filter_value: [SANDBOX_PHONE] }] },
  });
  for (const u of found.results) await client.users.delete({ user_id: u.user_id });
  res = await client.users.create({ phone_number: SANDBOX_PHONE });
  expectEq(res.status_code, 201, "users.create(sandbox) status_code");
  await client.users.delete({ user_id: res.user_id });
  res = await client.otps.sms.send({ phone_number: SANDBOX_PHONE });
  expectEq(res.status_code, 200, "sandbox otps.sms.send without a user");
  res = await client.otps.authenticate({ method_id: res.phone_id, code: SANDBOX_CODE });
  expectEq(res.status_code, 200, "sandbox authenticate status_code");
  expectEq(await lastMessageId(SANDBOX_PHONE), null, "outbox for sandbox number after");
  ok(`users.create(${SANDBOX_PHONE}) -> 201; otps.sms.send without a prior user -> 200; authenticate(${SANDBOX_CODE}) -> 200`);

  // k. users.update / users.search
  const tag = String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
  const nums = [randomUsNumber(), randomUsNumber(), randomUsNumber()];
  const ids = [];
  for (const n of nums) ids.push((await client.users.create({ phone_number: n })).user_id);
  res = await client.users.update({
    user_id: ids[0], name: { first_name: "Node", last_name: "User" }, trusted_metadata: { n: 1 },
    untrusted_metadata: { ui: "dark" }, external_id: `node-${tag}`, roles: ["admin"],
  });
  expectEq(res.user_id, ids[0], "users.update user_id");
  const got = await client.users.get({ user_id: `node-${tag}` });
  expectEq(
    [got.name.first_name, got.name.last_name, got.trusted_metadata, got.untrusted_metadata, got.external_id, got.roles],
    ["Node", "User", { n: 1 }, { ui: "dark" }, `node-${tag}`, ["admin"]],
    "users.get after users.update",
  );
  ok("users.update: name, metadata, external_id, roles written and read back");
  const q = { operator: "AND", operands: [{ filter_name: "user_id", filter_value: ids }] };
  const p1 = await client.users.search({ limit: 2, query: q });
  expectEq([p1.results.length, p1.results_metadata.total], [2, 3], "users.search page 1");
  const p2 = await client.users.search({ limit: 2, query: q, cursor: p1.results_metadata.next_cursor });
  expectEq(p2.results.length, 1, "users.search page 2");
  expect(!p2.results_metadata.next_cursor, "users.search last page has no next_cursor");
  expectEq([...p1.results, ...p2.results].map((u) => u.user_id).sort(), [...ids].sort(), "users.search pages");
  res = await client.users.search({
    query: { operator: "OR", operands: [
      { filter_name: "phone_number", filter_value: [nums[1]] },
      { filter_name: "phone_number_fuzzy", filter_value: nums[2].slice(-7) },
    ] },
  });
  expectEq(res.results.map((u) => u.user_id).sort(), [ids[1], ids[2]].sort(), "users.search OR");
  ok("users.search: cursor pages (2 + 1 of 3) and OR operands");

  await b2b();

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
