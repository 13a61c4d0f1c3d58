// Drives Stytch's real frontend SDK (@stytch/vanilla-js headless, consumer and B2B) in Debian's
// headless Chromium against a running otpd, as a web app on another origin would use it.
//
//   node tests/browser/drive.mjs SCENARIO...   SCENARIO: consumer | refusals | b2b | b2b-mfa
//
// Environment (tests/api/browser.rs sets all of it):
//   OTPD_BROWSER_CONFIG     path of a JSON file, see `Config` below
//   OTPD_BROWSER_NODE_PATH  node_modules from tests/browser/install.sh (puppeteer-core)
//   OTPD_CHROMIUM           the browser, /usr/bin/chromium
//   NODE_EXTRA_CA_CERTS     the test CA, for this script's own backend calls (outbox, checks)
//
// Config: { api_base: "https://api.otpd.test" (the SDK's customBaseUrl; Chromium maps the host
//   to api_ip), api_ip, backend: "https://127.0.0.1" (otpd's backend API for this script),
//   project_id, secret, ca_pem, app_origin (allowed by public_token), foreign_origin (serves the
//   same pages, not allowed), public_token, revoked_token,
//   consumer: { existing_phone, new_phone, second_phone, foreign_phone, revoked_phone },
//   b2b, b2b_mfa: { organization_id, member_id, member_phone, cookies: { name: value } } }
//
// Prints one JSON line per step on stdout: {"step", "ok", "ms", "detail"|"error"}; a scenario
// stops at its first failed step. The last line is {"done": true, "passed", "failed",
// "wall_ms", "launch_ms", "browser"}. Exits 1 when a step failed, 2 on a usage error.
// Diagnostics (browser console, request log of a failed scenario) go to stderr.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const t0 = Date.now();
const env = (k) => {
  const v = process.env[k];
  if (!v) {
    console.error(`drive.mjs: ${k} is not set (tests/api/browser.rs sets it)`);
    process.exit(2);
  }
  return v;
};
const cfg = JSON.parse(fs.readFileSync(env('OTPD_BROWSER_CONFIG'), 'utf8'));
// ES `import` ignores NODE_PATH; createRequire on the install's node_modules finds the package.
const puppeteer = createRequire(path.join(env('OTPD_BROWSER_NODE_PATH'), 'noop.js'))('puppeteer-core');
const scenarios = process.argv.slice(2);
const known = { consumer, refusals, b2b, 'b2b-mfa': b2bMfa };
if (scenarios.length === 0 || scenarios.some((s) => !(s in known))) {
  console.error(`usage: drive.mjs ${Object.keys(known).join('|')}...`);
  process.exit(2);
}

// ------------------------------------------------------------------ helpers ----
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// How long to wait for anything (a page, an answer, a message): generous, because CI runs this
// beside the whole suite on two cores. A passing run never waits for it.
const WAIT_MS = 30_000;
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');
class Mismatch extends Error {}
function must(cond, what, got) {
  if (!cond) throw new Mismatch(got === undefined ? what : `${what}; got ${JSON.stringify(got)}`.slice(0, 1500));
}
let passed = 0;
let failed = 0;
async function step(name, fn) {
  const s = Date.now();
  try {
    const detail = await fn();
    passed += 1;
    emit({ step: name, ok: true, ms: Date.now() - s, detail: detail ?? null });
  } catch (e) {
    failed += 1;
    emit({ step: name, ok: false, ms: Date.now() - s, error: String(e?.stack ?? e).slice(0, 2000) });
    throw new StopScenario();
  }
}
class StopScenario extends Error {}

// otpd's backend API, called by this script as the app's backend would (project secret).
const basic = 'Basic ' + Buffer.from(`${cfg.project_id}:${cfg.secret}`).toString('base64');
async function backend(method, p, body) {
  const res = await fetch(cfg.backend + p, {
    method,
    headers: { authorization: basic, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}
async function lastMessageId(to) {
  const r = await backend('GET', `/v1/sandbox/messages?to=${encodeURIComponent(to)}&limit=1`);
  must(r.status === 200, 'the sandbox outbox answers', r);
  return r.body.messages[0]?.message_id ?? null;
}
// The first message to `to` newer than `after` (a message id or null), and its code as a person
// reads it off their phone: the first run of six digits.
async function messageTo(to, after) {
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const r = await backend('GET', `/v1/sandbox/messages?to=${encodeURIComponent(to)}&limit=1`);
    const m = r.body.messages?.[0];
    if (m && m.message_id !== after) {
      const code = /\d{6}/.exec(m.body)?.[0];
      must(code, 'the message carries a 6-digit code', m.body);
      return { code, message: m };
    }
    must(Date.now() < until, `a new message to ${to} within ${WAIT_MS / 1000} s`);
    await sleep(100);
  }
}
const codeSentTo = async (to, after) => (await messageTo(to, after)).code;
const wrongCode = (code) => code.slice(0, 5) + ((+code[5] + 1) % 10);

// Runs `body` (an async function source) in the page; SDK errors come back as plain objects.
function call(page, body, arg) {
  return page.evaluate(
    async (src, a) => {
      try {
        // eslint-disable-next-line no-new-func
        return { resolved: await new Function('arg', `return (async () => { ${src} })()`)(a) };
      } catch (e) {
        return { rejected: { name: e.name, error_type: e.error_type, status_code: e.status_code, message: String(e.message).slice(0, 300) } };
      }
    },
    body,
    arg,
  );
}

// Everything a page asks for, with what came back (puppeteer sees blocked CORS answers too).
function track(page) {
  const log = [];
  page.on('request', (r) => {
    const e = { method: r.method(), url: r.url(), auth: r.headers().authorization ?? null, body: r.postData() ?? null, status: null, acao: null, acac: null, failure: null };
    log.push(e);
    r.__e = e;
  });
  page.on('response', (res) => {
    const e = res.request().__e;
    if (!e) return;
    const h = res.headers();
    e.status = res.status();
    e.acao = h['access-control-allow-origin'] ?? null;
    e.acac = h['access-control-allow-credentials'] ?? null;
  });
  page.on('requestfailed', (r) => {
    if (r.__e) r.__e.failure = r.failure()?.errorText ?? 'failed';
  });
  return log;
}
const api = (log, method, p) => log.filter((e) => e.method === method && e.url === cfg.api_base + '/sdk/v1' + p);
const basicPassword = (auth) => Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':').slice(1).join(':');
const origins = (log) => [...new Set(log.filter((e) => /^https?:/.test(e.url)).map((e) => new URL(e.url).origin))];

// The next answer to `method` /sdk/v1`p` (set up before the action that causes it).
function waitApi(page, method, p) {
  return page.waitForResponse(
    (res) => res.request().method() === method && res.url() === cfg.api_base + '/sdk/v1' + p,
    { timeout: WAIT_MS },
  );
}
const pageUrl = (origin, file, token, extra = {}) =>
  `${origin}/${file}?` + new URLSearchParams({ token, base: cfg.api_base, ...extra });

// ------------------------------------------------------------------ browser ----
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'otpd-browser-'));
// Trust the test CA the way a user's machine would: in an NSS database under a private HOME
// (Chromium on Linux reads $HOME/.pki/nssdb); no --ignore-certificate-errors.
const home = path.join(tmp, 'home');
const nssdb = path.join(home, '.pki', 'nssdb');
fs.mkdirSync(nssdb, { recursive: true });
execFileSync('certutil', ['-d', `sql:${nssdb}`, '-N', '--empty-password']);
execFileSync('certutil', ['-d', `sql:${nssdb}`, '-A', '-n', 'otpd-test-ca', '-t', 'C,,', '-i', cfg.ca_pem]);

const browser = await puppeteer.launch({
  executablePath: env('OTPD_CHROMIUM'),
  headless: true,
  userDataDir: path.join(tmp, 'profile'),
  env: { ...process.env, HOME: home },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--host-resolver-rules=MAP ${new URL(cfg.api_base).hostname} ${cfg.api_ip}`,
  ],
});
const launchMs = Date.now() - t0;
const browserVersion = await browser.version();

// A fresh browser context (cookies, localStorage) per page; the newest one's console and
// requests are printed to stderr when a step fails.
let current = null;
async function openContext() {
  const ctx = await browser.createBrowserContext();
  const page = await ctx.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  current = { ctx, page, log: track(page), consoleLines };
  return current;
}
function dumpCurrent() {
  if (!current) return;
  console.error('--- browser console ---\n' + current.consoleLines.join('\n'));
  console.error('--- requests (without the app\'s node_modules) ---\n' + current.log.filter((e) => !e.url.includes('/node_modules/')).map((e) => `${e.method} ${e.url} -> ${e.status ?? e.failure} acao=${e.acao}`).join('\n'));
}
async function load(page, url) {
  await page.goto(url, { waitUntil: 'load', timeout: WAIT_MS });
  await page.waitForFunction('window.appReady === true', { timeout: WAIT_MS });
}
async function clickSend(page) {
  await page.click('#send');
  await page.waitForFunction(() => document.getElementById('result').textContent !== '', { timeout: WAIT_MS });
  return JSON.parse(await page.$eval('#result', (e) => e.textContent));
}
const sdkCookies = async (page) =>
  Object.fromEntries((await page.cookies(cfg.app_origin)).filter((c) => c.name.startsWith('stytch_')).map((c) => [c.name, c]));

// Every request went to otpd or the page's own origin; every otpd answer granted the page's
// origin credentialed CORS.
function checkHostsAndCors({ log, consoleLines }, appOrigin) {
  const seen = origins(log);
  must(seen.every((o) => o === cfg.api_base || o === appOrigin), `requests only to ${cfg.api_base} and ${appOrigin}`, seen);
  const bad = log.filter((e) => e.url.startsWith(cfg.api_base) && e.status !== null && !(e.acao === appOrigin && e.acac === 'true'));
  must(bad.length === 0, 'every otpd answer carries Access-Control-Allow-Origin = the page origin and Allow-Credentials: true', bad.map((e) => [e.method, e.url, e.status, e.acao, e.acac]));
  // What the page logged. The browser's own "Failed to load resource" lines for the expected
  // 401s and 404s and the SDK's "logged out" warning are fine; an error the SDK logs about
  // otpd's answers (a bootstrap it cannot use, say) is not.
  const logged = consoleLines.filter((l) => /^(error|warn)/.test(l)).map((l) => l.slice(0, 200));
  const sdkErrors = logged.filter((l) => l.startsWith('error: [Stytch]'));
  must(sdkErrors.length === 0, 'the SDK logged no error', sdkErrors);
  const thrown = consoleLines.filter((l) => l.startsWith('pageerror'));
  must(thrown.length === 0, 'nothing threw in the page', thrown);
  return { origins: seen, requests: log.length, console: logged };
}

// ---------------------------------------------------------------- scenarios ----
async function consumer() {
  const c = cfg.consumer;
  const tab = await openContext();
  const { page, log } = tab;
  let methodId;
  let code;
  let userId;
  let sessionId;
  let sessionToken;

  await step('consumer: the page loads logged out; the start-up session check is answered once, without retries', async () => {
    const startup = waitApi(page, 'POST', '/sessions/authenticate');
    await load(page, pageUrl(cfg.app_origin, 'consumer.html', cfg.public_token));
    const res = await startup;
    must(res.status() === 401, 'no session: sessions/authenticate answers 401', res.status());
    const err = await res.json();
    must(['unauthorized_credentials', 'session_not_found'].includes(err.error_type), 'an error type the SDK treats as logged out', err);
    await sleep(2500); // the SDK's first retry would come after 2 s
    const n = api(log, 'POST', '/sessions/authenticate').length;
    must(n === 1, 'exactly one start-up sessions/authenticate', n);
    const boot = api(log, 'GET', `/projects/bootstrap/${cfg.public_token}`);
    must(boot.length === 1 && boot[0].status === 200, 'bootstrap answered 200', boot);
    const state = await page.evaluate(() => ({ session: window.stytch.session.getSync(), user: window.stytch.user.getSync() }));
    must(state.session === null && state.user === null, 'logged out', state);
    return { startup_status: res.status(), startup_error_type: err.error_type, session_authenticate_requests: n };
  });

  await step('consumer: the seed otps.sms.send(phone, { expiration_minutes: 5 }) for an existing user goes to /primary and delivers a code', async () => {
    const before = await lastMessageId(c.existing_phone);
    await page.type('#phone', c.existing_phone);
    const r = await clickSend(page);
    must(r.resolved && /^phone-number-/.test(r.resolved.method_id), 'resolved with a phone-number method_id', r);
    const sent = api(log, 'POST', '/otps/sms/send/primary');
    must(sent.length === 1, 'one POST /sdk/v1/otps/sms/send/primary', log.map((e) => e.url));
    must(JSON.stringify(JSON.parse(sent[0].body)) === JSON.stringify({ expiration_minutes: 5, phone_number: c.existing_phone }), 'the body the seed makes', sent[0].body);
    must(basicPassword(sent[0].auth) === cfg.public_token, 'Basic public_token:public_token without a session');
    await codeSentTo(c.existing_phone, before);
    return { method_id: r.resolved.method_id, status_code: r.resolved.status_code };
  });

  await step("consumer: otps.sms.loginOrCreate with the seed's options creates the user and delivers a code with a WebOTP line for the page's host", async () => {
    const before = await lastMessageId(c.new_phone);
    const opts = { expiration_minutes: 5, locale: 'en', enable_autofill: true, autofill_session_duration_minutes: 5 };
    const r = await call(page, `return stytch.otps.sms.loginOrCreate(arg.phone, arg.opts)`, { phone: c.new_phone, opts });
    must(r.resolved && /^phone-number-/.test(r.resolved.method_id), 'resolved with a method_id', r);
    methodId = r.resolved.method_id;
    const m = await messageTo(c.new_phone, before);
    code = m.code;
    const last = m.message.body.trim().split('\n').pop();
    must(last === `@${new URL(cfg.app_origin).hostname} #${code}`, 'the last line is the WebOTP line for the calling page', m.message.body);
    return { method_id: methodId, user_created: r.resolved.user_created ?? null, webotp_line: last.replace(code, '<code>') };
  });

  await step('consumer: a wrong code surfaces otp_code_not_found as a StytchAPIError', async () => {
    const r = await call(page, `return stytch.otps.authenticate(arg.code, arg.methodId, { session_duration_minutes: 60 })`, { code: wrongCode(code), methodId });
    must(r.rejected?.name === 'StytchAPIError' && r.rejected.error_type === 'otp_code_not_found', 'rejected with otp_code_not_found', r);
    const state = await page.evaluate(() => window.stytch.session.getSync());
    must(state === null, 'still logged out', state);
    return r.rejected;
  });

  await step("consumer: the right code with session_duration_minutes logs in; the SDK's cookies and localStorage hold the session", async () => {
    const r = await call(page, `return stytch.otps.authenticate(arg.code, arg.methodId, { session_duration_minutes: 60 })`, { code, methodId });
    const d = r.resolved;
    must(d && d.session_token && d.session_jwt && d.session && d.user, 'resolved with session_token, session_jwt, session and user', r);
    userId = d.user_id;
    sessionId = d.session.session_id;
    sessionToken = d.session_token;
    must(d.user.user_id === userId && d.session.user_id === userId, 'the session belongs to the user', d);
    must(d.user.phone_numbers.some((p) => p.phone_number === c.new_phone), 'the user has the number', d.user.phone_numbers);
    const minutes = (Date.parse(d.session.expires_at) - Date.now()) / 60_000;
    must(minutes > 58 && minutes <= 61, 'the session expires in about 60 minutes', d.session.expires_at);
    const cookies = await sdkCookies(page);
    must(cookies.stytch_session?.value === sessionToken, 'cookie stytch_session = session_token', Object.keys(cookies));
    must(cookies.stytch_session_jwt?.value === d.session_jwt, 'cookie stytch_session_jwt = session_jwt', Object.keys(cookies));
    must(cookies.stytch_session.sameSite === 'Lax' && !cookies.stytch_session.httpOnly, 'SameSite=Lax, readable by the SDK', cookies.stytch_session);
    const stored = await page.evaluate((k) => JSON.parse(localStorage.getItem(k)), `stytch_sdk_state_${cfg.public_token}`);
    must(stored?.session?.session_id === sessionId && stored?.user?.user_id === userId, 'localStorage holds {session, user}', stored);
    const sync = await page.evaluate(() => ({ s: window.stytch.session.getSync(), u: window.stytch.user.getSync(), t: window.stytch.session.getTokens() }));
    must(sync.s?.session_id === sessionId && sync.u?.user_id === userId && sync.t?.session_token === sessionToken, 'getSync/getTokens see it', sync);
    return { user_id: userId, session_id: sessionId, cookie_expires: cookies.stytch_session.expires };
  });

  await step('consumer: after a reload the SDK restores the session at start-up (sessions/authenticate with the session token)', async () => {
    const startup = waitApi(page, 'POST', '/sessions/authenticate');
    const n0 = log.length;
    await page.reload({ waitUntil: 'load', timeout: WAIT_MS });
    await page.waitForFunction('window.appReady === true', { timeout: WAIT_MS });
    const res = await startup;
    must(res.status() === 200, 'sessions/authenticate answers 200', res.status());
    const req = log.slice(n0).find((e) => e.method === 'POST' && e.url.endsWith('/sdk/v1/sessions/authenticate'));
    must(basicPassword(req.auth) === sessionToken, 'Basic public_token:session_token');
    const body = await res.json();
    must(body.data?.session?.session_id === sessionId, 'the same session, in {"data": …}', body);
    await page.waitForFunction((sid) => window.stytch.session.getSync()?.session_id === sid, { timeout: WAIT_MS }, sessionId);
    return { session_id: sessionId };
  });

  await step('consumer: user.get returns the logged-in user', async () => {
    const r = await call(page, `return stytch.user.get()`);
    must(r.resolved?.user_id === userId, 'the user', r);
    must(r.resolved.phone_numbers.some((p) => p.phone_number === c.new_phone), 'with the number', r.resolved.phone_numbers);
    return { user_id: userId };
  });

  await step('consumer: session.authenticate({ session_duration_minutes: 120 }) extends the same session', async () => {
    const r = await call(page, `return stytch.session.authenticate({ session_duration_minutes: 120 })`);
    const d = r.resolved;
    must(d?.session?.session_id === sessionId, 'the same session', r);
    const minutes = (Date.parse(d.session.expires_at) - Date.now()) / 60_000;
    must(minutes > 118 && minutes <= 121, 'it now expires in about 120 minutes', d.session.expires_at);
    const cookies = await sdkCookies(page);
    must(cookies.stytch_session?.value === d.session_token, 'the cookie follows', Object.keys(cookies));
    must(Math.abs(cookies.stytch_session.expires * 1000 - Date.parse(d.session.expires_at)) < 2000, "the cookie expires with the session", [cookies.stytch_session.expires, d.session.expires_at]);
    sessionToken = d.session_token;
    return { expires_at: d.session.expires_at };
  });

  await step('consumer: with a session, otps.sms.send to a second number goes to /secondary, and authenticating it adds the number to the same user', async () => {
    const before = await lastMessageId(c.second_phone);
    const r = await call(page, `return stytch.otps.sms.send(arg, { expiration_minutes: 5 })`, c.second_phone);
    must(r.resolved?.method_id, 'resolved with a method_id', r);
    const sent = api(log, 'POST', '/otps/sms/send/secondary');
    must(sent.length === 1 && basicPassword(sent[0].auth) === sessionToken, 'one POST /secondary with Basic public_token:session_token', sent);
    const code2 = await codeSentTo(c.second_phone, before);
    const a = await call(page, `return stytch.otps.authenticate(arg.code, arg.methodId, { session_duration_minutes: 60 })`, { code: code2, methodId: r.resolved.method_id });
    must(a.resolved?.user_id === userId, 'the same user', a);
    const numbers = a.resolved.user.phone_numbers.map((p) => p.phone_number).sort();
    must(JSON.stringify(numbers) === JSON.stringify([c.new_phone, c.second_phone].sort()), 'the user now has both numbers', numbers);
    const synced = await page.evaluate(() => window.stytch.user.getSync().phone_numbers.map((p) => p.phone_number));
    must(synced.includes(c.second_phone), "the SDK's user state has it", synced);
    sessionToken = a.resolved.session_token;
    return { user_id: userId, session_id: a.resolved.session.session_id, numbers };
  });

  await step('consumer: with a session, otps.whatsapp.send goes to /whatsapp/send/secondary and its code authenticates the same user', async () => {
    const before = await lastMessageId(c.new_phone);
    const r = await call(page, `return stytch.otps.whatsapp.send(arg, { expiration_minutes: 5 })`, c.new_phone);
    must(r.resolved?.method_id, 'resolved with a method_id', r);
    const sent = api(log, 'POST', '/otps/whatsapp/send/secondary');
    must(sent.length === 1 && basicPassword(sent[0].auth) === sessionToken, 'one POST /whatsapp/send/secondary with the session', sent);
    const m = await messageTo(c.new_phone, before);
    must(m.message.channel === 'whatsapp', 'delivered on WhatsApp', m.message.channel);
    const a = await call(page, `return stytch.otps.authenticate(arg.code, arg.methodId, { session_duration_minutes: 60 })`, { code: m.code, methodId: r.resolved.method_id });
    must(a.resolved?.user_id === userId, 'the same user', a);
    sessionToken = a.resolved.session_token;
    return { factors: a.resolved.session.authentication_factors.map((f) => f.type + ':' + (f.delivery_method ?? '')) };
  });

  await step('consumer: session.revoke ends the session on otpd and clears the cookies and state', async () => {
    const r = await call(page, `return stytch.session.revoke()`);
    must(r.resolved, 'resolved', r);
    const cookies = await sdkCookies(page);
    must(!cookies.stytch_session && !cookies.stytch_session_jwt, 'the session cookies are gone', Object.keys(cookies));
    const state = await page.evaluate(() => window.stytch.session.getSync());
    must(state === null, 'logged out', state);
    const check = await backend('POST', '/v1/sessions/authenticate', { session_token: sessionToken });
    must(check.status === 404 && check.body.error_type === 'session_not_found', 'the backend no longer knows the session', check);
    return { backend_error_type: check.body.error_type };
  });

  await step('consumer: the page asked only otpd and its own origin, and every otpd answer granted its origin credentialed CORS', async () => {
    return checkHostsAndCors(tab, cfg.app_origin);
  });
  return { userId };
}

async function refusals() {
  const c = cfg.consumer;
  {
    const { page, log } = await openContext();
    await step("refusals: a session the backend revoked: the SDK's next send goes to /secondary with it and gets 401, and the next page load signs the page out", async () => {
      await load(page, pageUrl(cfg.app_origin, 'consumer.html', cfg.public_token));
      const before = await lastMessageId(c.existing_phone);
      const sent = await call(page, `return stytch.otps.sms.send(arg, { expiration_minutes: 5 })`, c.existing_phone);
      must(sent.resolved?.method_id, 'the send resolves', sent);
      const code = await codeSentTo(c.existing_phone, before);
      const a = await call(page, `return stytch.otps.authenticate(arg.code, arg.methodId, { session_duration_minutes: 60 })`, { code, methodId: sent.resolved.method_id });
      must(a.resolved?.session_token, 'logged in', a);
      const revoked = await backend('POST', '/v1/sessions/revoke', { session_token: a.resolved.session_token });
      must(revoked.status === 200, 'the backend revokes the session', revoked);
      const r = await call(page, `return stytch.otps.sms.send(arg, { expiration_minutes: 5 })`, c.existing_phone);
      must(r.rejected?.status_code === 401 && ['unauthorized_credentials', 'session_not_found'].includes(r.rejected.error_type), 'rejected with an error type the SDK treats as logged out', r);
      const stale = api(log, 'POST', '/otps/sms/send/secondary');
      must(stale.length === 1 && basicPassword(stale[0].auth) === a.resolved.session_token, 'the send went to /secondary with the stale session', stale);
      // The SDK signs out on such an answer to its session check, not to a send: the next
      // page load's start-up check does it.
      const startup = waitApi(page, 'POST', '/sessions/authenticate');
      await page.reload({ waitUntil: 'load', timeout: WAIT_MS });
      const res = await startup;
      must(res.status() === 401, 'the start-up check with the stale session answers 401', res.status());
      await page.waitForFunction(() => window.stytch.session.getSync() === null, { timeout: WAIT_MS });
      const cookies = await sdkCookies(page);
      must(!cookies.stytch_session && !cookies.stytch_session_jwt, 'the session cookies are gone', Object.keys(cookies));
      return { send_error_type: r.rejected.error_type, startup_error_type: (await res.json()).error_type };
    });
  }
  {
    const { page, log } = await openContext();
    await step('refusals: from an origin the public token does not allow, the SDK cannot reach otpd (no CORS grant) and nothing is sent', async () => {
      await load(page, pageUrl(cfg.foreign_origin, 'consumer.html', cfg.public_token));
      await page.type('#phone', c.foreign_phone);
      const r = await clickSend(page);
      must(r.rejected?.name === 'StytchAPIUnreachableError', 'rejected with StytchAPIUnreachableError', r);
      // The telemetry POST carries no credentials and the token only in its body; whether it
      // is granted does not matter. Every credentialed call must be refused the grant.
      const granted = log.filter((e) => e.url.startsWith(cfg.api_base) && !e.url.endsWith('/sdk/v1/events') && e.acao !== null);
      must(granted.length === 0, 'no otpd answer to a credentialed call carries Access-Control-Allow-Origin', granted.map((e) => [e.method, e.url, e.acao]));
      const seen = origins(log);
      must(seen.every((o) => o === cfg.api_base || o === cfg.foreign_origin), 'requests only to otpd and the page origin', seen);
      await sleep(300);
      must((await lastMessageId(c.foreign_phone)) === null, 'no message to the number');
      return { rejected: r.rejected, api_answers: log.filter((e) => e.url.startsWith(cfg.api_base)).map((e) => [e.method, new URL(e.url).pathname, e.status, e.failure]) };
    });
  }
  {
    const { page, log } = await openContext();
    await step('refusals: a revoked public token is refused with 401 and nothing is sent', async () => {
      await load(page, pageUrl(cfg.app_origin, 'consumer.html', cfg.revoked_token));
      await page.type('#phone', c.revoked_phone);
      const r = await clickSend(page);
      must(r.rejected?.status_code === 401, 'rejected with a 401 StytchAPIError', r);
      const sent = api(log, 'POST', '/otps/sms/send/primary');
      must(sent.length === 1 && sent[0].status === 401, 'the send was answered 401', sent);
      await sleep(300);
      must((await lastMessageId(c.revoked_phone)) === null, 'no message to the number');
      return r.rejected;
    });
  }
}

async function b2b() {
  const b = cfg.b2b;
  const ids = { organization_id: b.organization_id, member_id: b.member_id };
  const url = pageUrl(cfg.app_origin, 'b2b.html', cfg.public_token, ids);
  // A page with no first factor: the public token alone never sends to a member (not even
  // one without an MFA factor yet), so nothing is texted and no session can follow.
  {
    const { page, log } = await openContext();
    await step('b2b: with only the public token, the seed otps.sms.send is refused and nothing is texted to the member', async () => {
      const startup = waitApi(page, 'POST', '/b2b/sessions/authenticate');
      await load(page, url);
      const s = await startup;
      must(s.status() === 401, 'the start-up b2b sessions/authenticate answers 401', s.status());
      const before = await lastMessageId(b.member_phone);
      const sent = await clickSend(page);
      must(sent.rejected?.name === 'StytchAPIError' && sent.rejected.status_code >= 400 && sent.rejected.status_code < 500, 'the send is refused with a 4xx StytchAPIError', sent);
      await sleep(300);
      must((await lastMessageId(b.member_phone)) === before, 'no message to the member');
      must((await page.evaluate(() => window.stytch.session.getSync())) === null, 'no session');
      must(api(log, 'POST', '/b2b/sessions/authenticate').length === 1, 'one start-up b2b sessions/authenticate');
      return { send_refused: { error_type: sent.rejected.error_type, status_code: sent.rejected.status_code } };
    });
  }
  const tab = await openContext();
  const { page, log } = tab;
  let memberSessionId;
  // The backend's attest answer, as the app's cookies: a member session (stytch_session and
  // stytch_session_jwt) or, where the organization wants MFA, an intermediate session
  // (stytch_intermediate_session_token) that the SDK copies into its B2B OTP calls.
  const intermediate = !!b.cookies?.stytch_intermediate_session_token;
  await step(`b2b: the backend's attest ${intermediate ? 'intermediate session' : 'member session'}, set as the app's cookies, is picked up by the SDK at start-up`, async () => {
    must(b.cookies && Object.keys(b.cookies).length > 0, 'the test passed the attested session cookies');
    await page.setCookie(...Object.entries(b.cookies).map(([name, value]) => ({ name, value, url: cfg.app_origin, sameSite: 'Lax' })));
    const startup = waitApi(page, 'POST', '/b2b/sessions/authenticate');
    await load(page, url);
    const res = await startup;
    if (intermediate) {
      must(res.status() === 401, 'no member session yet: the start-up b2b sessions/authenticate answers 401', res.status());
      return { intermediate_session: true };
    }
    must(res.status() === 200, 'the start-up b2b sessions/authenticate answers 200', res.status());
    await page.waitForFunction(() => window.stytch.session.getSync() !== null, { timeout: WAIT_MS });
    const s = await page.evaluate(() => window.stytch.session.getSync());
    must(s.member_id === b.member_id && s.organization_id === b.organization_id, 'a session of the member', s);
    memberSessionId = s.member_session_id;
    return { member_session_id: memberSessionId, factors: s.authentication_factors.map((f) => f.type + ':' + (f.delivery_method ?? '')) };
  });

  async function stepUp(label) {
    await step(`b2b: ${label}`, async () => {
      const before = await lastMessageId(b.member_phone);
      const n0 = log.length;
      const sent = await clickSend(page);
      must(sent.resolved && sent.resolved.status_code === 200, 'the seed otps.sms.send resolves', sent);
      const req = log.slice(n0).find((e) => e.method === 'POST' && e.url.endsWith('/sdk/v1/b2b/otps/sms/send'));
      const keys = Object.keys(JSON.parse(req.body)).filter((k) => k !== 'intermediate_session_token').sort();
      must(JSON.stringify(keys) === JSON.stringify(['member_id', 'organization_id']), 'the body the seed makes', req.body);
      const code = await codeSentTo(b.member_phone, before);
      const r = await call(page, `return stytch.otps.sms.authenticate({ ...arg, session_duration_minutes: 60 })`, { ...ids, code });
      const d = r.resolved;
      must(d?.member_session && d.session_token && d.session_jwt, 'resolved with member_session, session_token and session_jwt', r);
      must(d.member_session.member_id === b.member_id, 'a session of the member', d.member_session);
      must(d.member_session.authentication_factors.some((f) => f.delivery_method === 'sms'), 'with an SMS factor', d.member_session.authentication_factors);
      const cookies = await sdkCookies(page);
      must(cookies.stytch_session?.value === d.session_token, 'cookie stytch_session = session_token', Object.keys(cookies));
      const s = await page.evaluate(() => window.stytch.session.getSync());
      must(s?.member_session_id === d.member_session.member_session_id, "the SDK's state holds it", s);
      must(!cookies.stytch_intermediate_session_token, 'no intermediate session cookie is left', Object.keys(cookies));
      memberSessionId = d.member_session.member_session_id;
      return { member_session_id: memberSessionId, factors: d.member_session.authentication_factors.map((f) => f.type + ':' + (f.delivery_method ?? '')) };
    });
  }
  await stepUp('the seed otps.sms.send({ organization_id, member_id }) then otps.sms.authenticate step the attested session up to an SMS factor');
  await stepUp('a later step-up (send + authenticate again) works on the member session');
  await step('b2b: session.authenticate({ session_duration_minutes: 120 }) extends the same member session', async () => {
    const r = await call(page, `return stytch.session.authenticate({ session_duration_minutes: 120 })`);
    const d = r.resolved;
    must(d?.member_session?.member_session_id === memberSessionId, 'the same member session', r);
    const minutes = (Date.parse(d.member_session.expires_at) - Date.now()) / 60_000;
    must(minutes > 118 && minutes <= 121, 'it now expires in about 120 minutes', d.member_session.expires_at);
    return { expires_at: d.member_session.expires_at };
  });

  await step('b2b: session.revoke ends the member session and clears the cookies and state', async () => {
    const r = await call(page, `return stytch.session.revoke()`);
    must(r.resolved, 'resolved', r);
    const cookies = await sdkCookies(page);
    must(!cookies.stytch_session && !cookies.stytch_session_jwt, 'the session cookies are gone', Object.keys(cookies));
    must((await page.evaluate(() => window.stytch.session.getSync())) === null, 'logged out');
    return { member_session_id: memberSessionId };
  });
  // The member's phone is now verified, an active MFA factor: without a first factor even the
  // send is refused.
  {
    const { page } = await openContext();
    await step("b2b: once the member's phone is verified, the seed otps.sms.send with only the public token is refused and nothing is sent", async () => {
      const startup = waitApi(page, 'POST', '/b2b/sessions/authenticate');
      await load(page, url);
      must((await startup).status() === 401, 'the start-up b2b sessions/authenticate answers 401');
      const before = await lastMessageId(b.member_phone);
      const r = await clickSend(page);
      must(r.rejected?.name === 'StytchAPIError' && r.rejected.status_code >= 400 && r.rejected.status_code < 500, 'rejected with a 4xx StytchAPIError', r);
      await sleep(300);
      must((await lastMessageId(b.member_phone)) === before, 'no message to the member');
      return { error_type: r.rejected.error_type, status_code: r.rejected.status_code };
    });
  }
  await step('b2b: the page asked only otpd and its own origin, and every otpd answer granted its origin credentialed CORS', async () => checkHostsAndCors(tab, cfg.app_origin));
}

// An organization that requires MFA: attest answers an intermediate session, which the app's
// backend sets as the stytch_intermediate_session_token cookie; the SDK copies it into its
// B2B OTP calls, and the SMS code turns it into a member session.
async function b2bMfa() {
  const b = cfg.b2b_mfa;
  const ids = { organization_id: b.organization_id, member_id: b.member_id };
  const tab = await openContext();
  const { page, log } = tab;
  await step('b2b-mfa: with the attested intermediate session as a cookie, the seed otps.sms.send and otps.sms.authenticate turn it into a member session', async () => {
    must(b.cookies?.stytch_intermediate_session_token, 'the test passed an intermediate session', b.cookies);
    await page.setCookie({ name: 'stytch_intermediate_session_token', value: b.cookies.stytch_intermediate_session_token, url: cfg.app_origin, sameSite: 'Lax' });
    const startup = waitApi(page, 'POST', '/b2b/sessions/authenticate');
    await load(page, pageUrl(cfg.app_origin, 'b2b.html', cfg.public_token, ids));
    must((await startup).status() === 401, 'no member session yet: the start-up b2b sessions/authenticate answers 401');
    const before = await lastMessageId(b.member_phone);
    const sent = await clickSend(page);
    must(sent.resolved, 'the seed send resolves', sent);
    const req = api(log, 'POST', '/b2b/otps/sms/send')[0];
    must(JSON.parse(req.body).intermediate_session_token === b.cookies.stytch_intermediate_session_token, 'the SDK sent the intermediate session from its cookie', req.body);
    const code = await codeSentTo(b.member_phone, before);
    const r = await call(page, `return stytch.otps.sms.authenticate({ ...arg, session_duration_minutes: 60 })`, { ...ids, code });
    const d = r.resolved;
    must(d?.member_session?.member_id === b.member_id && d.session_token && d.session_jwt, 'a member session', r);
    const cookies = await sdkCookies(page);
    must(cookies.stytch_session?.value === d.session_token, 'cookie stytch_session = session_token', Object.keys(cookies));
    must(!cookies.stytch_intermediate_session_token, 'the intermediate session cookie is gone', Object.keys(cookies));
    const s = await page.evaluate(() => window.stytch.session.getSync());
    must(s?.member_session_id === d.member_session.member_session_id, "the SDK's state holds it", s);
    return { member_session_id: s.member_session_id, factors: d.member_session.authentication_factors.map((f) => f.type + ':' + (f.delivery_method ?? '')) };
  });
  await step('b2b-mfa: the page asked only otpd and its own origin, and every otpd answer granted its origin credentialed CORS', async () => checkHostsAndCors(tab, cfg.app_origin));
}

// --------------------------------------------------------------------- main ----
try {
  for (const s of scenarios) {
    try {
      await known[s]();
    } catch (e) {
      dumpCurrent();
      if (!(e instanceof StopScenario)) {
        failed += 1;
        emit({ step: `${s}: (driver error)`, ok: false, ms: 0, error: String(e?.stack ?? e).slice(0, 2000) });
      }
    }
  }
} finally {
  await browser.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
emit({ done: true, passed, failed, wall_ms: Date.now() - t0, launch_ms: launchMs, browser: browserVersion });
process.exit(failed === 0 ? 0 : 1);
