// After `otpd import stytch`: the official Node SDK (stytch@14.2.0) reads imported objects by
// their Stytch ids, unmodified, and sees the values the source had. Same environment as
// compat.mjs, plus OTPD_IMPORT_EXPECTED: a JSON file {"users", "organizations", "members"} of
// source objects. Prints "import_read.mjs: N checks passed" on success.

import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const stytch = require("stytch");

let BASE_URL = process.env.OTPD_BASE_URL;
if (!BASE_URL.endsWith("/")) BASE_URL += "/";
const cfg = {
  project_id: process.env.OTPD_PROJECT_ID,
  secret: process.env.OTPD_SECRET,
  custom_base_url: BASE_URL,
};
const expected = JSON.parse(fs.readFileSync(process.env.OTPD_IMPORT_EXPECTED, "utf8"));
let checks = 0;

// Key order is not part of a JSON object's value (the expected file's keys are sorted).
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
  }
  return v;
}

function eq(actual, want, what) {
  const a = JSON.stringify(canon(actual));
  const w = JSON.stringify(canon(want));
  if (a !== w) {
    console.error(`FAIL: ${what}: got ${a}, want ${w}`);
    process.exit(1);
  }
  checks += 1;
}

const consumer = new stytch.Client(cfg);
const b2b = new stytch.B2BClient(cfg);
for (const u of expected.users) {
  const got = await consumer.users.get({ user_id: u.user_id });
  eq(got.user_id, u.user_id, "users.get user_id");
  eq(got.phone_numbers, u.phone_numbers, "phone_numbers");
  eq(got.emails, u.emails, "emails");
  eq(got.name, u.name, "name");
  eq(got.external_id, u.external_id, "external_id");
  eq(got.created_at, u.created_at, "created_at");
}
for (const o of expected.organizations) {
  const got = (await b2b.organizations.get({ organization_id: o.organization_id })).organization;
  eq(got, o, `organizations.get ${o.organization_id}`);
}
for (const m of expected.members) {
  const got = await b2b.organizations.members.get({
    organization_id: m.organization_id,
    member_id: m.member_id,
  });
  eq(got.member, m, `members.get ${m.member_id}`);
}
console.log(`import_read.mjs: ${checks} checks passed`);
