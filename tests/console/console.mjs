// Drives Debian's Chromium (puppeteer-core, no browser download) through the staging console
// the way a tester uses it, and prints one JSON line of what it saw for tests/api/console.rs:
//   {"appeared_ms": …, "clipboard": "…", "foreign_requests": […], "screenshots": […], …}
// Any failed expectation exits 1 with the reason. Env: OTPD_BASE_URL, OTPD_PROJECT_ID,
// OTPD_SECRET, OTPD_OTHER_PROJECT_ID, OTPD_OTHER_SECRET, OTPD_OPERATOR_TOKEN,
// OTPD_CONSOLE_CHROMIUM, OTPD_CONSOLE_ARTIFACTS (a directory for the screenshots).
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// ES `import` ignores NODE_PATH (where tests/browser/install.sh put puppeteer-core).
const require = createRequire(import.meta.url);
const puppeteer = require('puppeteer-core');

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('OTPD_BASE_URL').replace(/\/$/, '');
const origin = new URL(base).origin;
const project = { id: env('OTPD_PROJECT_ID'), secret: env('OTPD_SECRET') };
const other = { id: env('OTPD_OTHER_PROJECT_ID'), secret: env('OTPD_OTHER_SECRET') };
const operatorToken = env('OTPD_CONSOLE_OPERATOR_TOKEN');
const artifacts = env('OTPD_CONSOLE_ARTIFACTS');
mkdirSync(artifacts, { recursive: true });

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
}

async function api(creds, path, body) {
  const res = await fetch(base + path, {
    method: body ? 'POST' : 'GET',
    headers: {
      Authorization: 'Basic ' + Buffer.from(`${creds.id}:${creds.secret}`).toString('base64'),
      'Content-Type': 'application/json',
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await res.json();
  expect(res.ok, `${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

const send = (creds, channel, phone, extra = {}) =>
  api(creds, `/v1/otps/${channel}/login_or_create`, { phone_number: phone, ...extra });

async function lastCode(creds, phone) {
  const out = await api(creds, `/v1/sandbox/messages?to=${encodeURIComponent(phone)}&limit=1`);
  const m = /\d{6,}/.exec(out.messages[0].body);
  return m[0];
}

const numbers = {
  first: '+12015550101',
  live: '+12015550102',
  whatsapp: '+12015550103',
  otherProject: '+12015550104',
};

const result = { foreign_requests: [], screenshots: [] };
const browser = await puppeteer.launch({
  executablePath: env('OTPD_CONSOLE_CHROMIUM'),
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});
try {
  const context = browser.defaultBrowserContext();
  await context.overridePermissions(origin, ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:')) return;
    if (new URL(url).origin !== origin) result.foreign_requests.push(url);
  });
  const consoleErrors = [];
  // A refused sign-in's 401 is logged by Chromium as a failed load: expected here.
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !msg.text().includes('401')) consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  page.on('response', (res) => {
    if (res.status() >= 400 && res.status() !== 401) consoleErrors.push(`${res.status()} ${res.url()}`);
  });

  // Messages exist before anyone signs in: one for this project, one for another.
  await send(project, 'sms', numbers.first, { locale: 'ru' });
  await send(other, 'sms', numbers.otherProject);

  await page.goto(`${base}/sandbox/`, { waitUntil: 'load' });
  const cookiesAtStart = await page.cookies();

  const signIn = async (fields) => {
    for (const [sel, value] of Object.entries(fields)) {
      await page.$eval(sel, (el) => { el.value = ''; });
      await page.type(sel, value);
    }
    await page.click('#signin-form button[type=submit]');
  };
  const visibleMessages = () =>
    page.$$eval('#messages li h3', (hs) => hs.map((h) => h.textContent));

  // A wrong secret and a wrong operator token see nothing.
  await signIn({ '#project-id': project.id, '#secret': 'wrong-secret' });
  await page.waitForFunction(() => document.querySelector('#signin-error').textContent.includes('refused'), { timeout: 5000 });
  expect(await page.$eval('#outbox', (el) => el.hidden), 'outbox hidden after a wrong secret');
  expect((await visibleMessages()).length === 0, 'no message shown after a wrong secret');
  await signIn({ '#project-id': '', '#operator-token': 'not-the-operator-token-0123456789abcdef' });
  await page.waitForFunction(() => document.querySelector('#signin-error').textContent.includes('refused'), { timeout: 5000 });
  expect((await visibleMessages()).length === 0, 'no message shown after a wrong operator token');
  result.wrong_credentials_saw = (await visibleMessages()).length;
  result.page_text_after_wrong = await page.$eval('body', (b, n) => b.innerText.includes(n), numbers.first);

  // The project's own credentials: its message, not the other project's.
  await signIn({ '#project-id': project.id, '#secret': project.secret });
  await page.waitForSelector('#outbox:not([hidden]) #messages li', { timeout: 5000 });
  let shown = await visibleMessages();
  expect(shown.some((t) => t.includes(numbers.first)), `own message shown: ${shown}`);
  expect(!shown.some((t) => t.includes(numbers.otherProject)), `other project's message hidden: ${shown}`);
  result.project_saw_other_project = shown.some((t) => t.includes(numbers.otherProject));

  // Live: a send shows up without a reload.
  await page.evaluate(() => { window.__sameDocument = true; });
  await send(project, 'sms', numbers.live, { enable_autofill: true });
  const sent = Date.now();
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('#messages li h3')].some((h) => h.textContent.includes(n)),
    { timeout: 5000, polling: 20 },
    numbers.live,
  );
  result.appeared_ms = Date.now() - sent;
  result.same_document = await page.evaluate(() => window.__sameDocument === true);
  shown = await visibleMessages();
  expect(shown[0].includes(numbers.live), `newest first: ${shown}`);

  // The copy button puts the code on the clipboard.
  const expectedCode = await lastCode(project, numbers.live);
  await page.click('#messages li:first-child button.copy');
  await page.waitForFunction(() => document.querySelector('#messages li:first-child button.copy').textContent === 'Copied', { timeout: 3000 });
  result.clipboard = await page.evaluate(() => navigator.clipboard.readText());
  result.expected_code = expectedCode;
  result.shown_code = await page.$eval('#messages li:first-child .code-value', (el) => el.textContent);

  // Filters: by number, then by channel.
  await send(project, 'whatsapp', numbers.whatsapp);
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('#messages li h3')].some((h) => h.textContent.includes(n)),
    { timeout: 5000 }, numbers.whatsapp,
  );
  // Typed slowly, across several polls: a half-typed number must never be sent.
  await page.type('#f-to', numbers.first, { delay: 80 });
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (n) => { const hs = [...document.querySelectorAll('#messages li h3')]; return hs.length > 0 && hs.every((h) => h.textContent.includes(n)); },
    { timeout: 5000 }, numbers.first,
  );
  result.filtered_by_number = await visibleMessages();
  await page.$eval('#f-to', (el) => { el.value = ''; });
  await page.select('#f-channel', 'whatsapp');
  await page.waitForFunction(
    () => { const hs = [...document.querySelectorAll('#messages li h3')]; return hs.length > 0 && hs.every((h) => h.textContent.startsWith('WhatsApp')); },
    { timeout: 5000 },
  );
  result.filtered_by_channel = await visibleMessages();
  await page.select('#f-channel', '');
  await page.waitForFunction(() => document.querySelectorAll('#messages li').length >= 3, { timeout: 5000 });

  // The rendered facts of the Russian message: locale, UCS-2 and its length.
  result.facts = await page.$$eval('#messages li', (lis) => lis.map((li) => li.querySelector('.facts').innerText));

  // The operator token: every project; the project filter narrows to one.
  await page.click('#signout');
  await signIn({ '#project-id': '', '#secret': '', '#operator-token': operatorToken });
  await page.waitForSelector('#outbox:not([hidden]) #messages li', { timeout: 5000 });
  await page.waitForFunction(() => document.querySelectorAll('#messages li').length >= 4, { timeout: 5000 });
  shown = await visibleMessages();
  result.operator_saw_other_project = shown.some((t) => t.includes(numbers.otherProject));
  await page.type('#f-project', other.id);
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (n) => { const hs = [...document.querySelectorAll('#messages li h3')]; return hs.length === 1 && hs[0].textContent.includes(n); },
    { timeout: 5000 }, numbers.otherProject,
  );
  result.filtered_by_project = await visibleMessages();
  await page.$eval('#f-project', (el) => { el.value = ''; });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('#messages li').length >= 4, { timeout: 5000 });

  // Screenshots at desktop and phone width (a test artifact; the test checks they render).
  const desktop = join(artifacts, 'console-desktop.png');
  await page.screenshot({ path: desktop, fullPage: true });
  // Width only: switching puppeteer's isMobile reloads the page, which signs the tester out.
  await page.setViewport({ width: 390, height: 844 });
  expect((await page.$$('#outbox:not([hidden]) #messages li')).length >= 4, 'still signed in at phone width');
  const phone = join(artifacts, 'console-phone.png');
  await page.screenshot({ path: phone, fullPage: true });
  result.phone_overflows = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  result.screenshots = [desktop, phone];

  result.cookies = (await page.cookies()).length + cookiesAtStart.length;
  result.console_errors = consoleErrors;
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
