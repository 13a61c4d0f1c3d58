#!/usr/bin/env python3
"""otpd compatibility check with the official Stytch Python SDK (stytch==15.3.0).

Drives a running otpd through `stytch.Client(custom_base_url=...)` exactly as an
application would, and asserts on what the application observes.

Environment:
  OTPD_BASE_URL      https://127.0.0.1:PORT/   (custom_base_url must be https)
  OTPD_PROJECT_ID    project id  (HTTP Basic user)
  OTPD_SECRET        project secret (HTTP Basic password)
  REQUESTS_CA_BUNDLE CA bundle trusted for the server's certificate. requests
                     honours it on its own (the SDK's default requests.Session
                     has trust_env=True). If only SSL_CERT_FILE is set, it is
                     passed to the SDK explicitly through a requests.Session
                     with verify=SSL_CERT_FILE (the sync_session= constructor
                     argument), because requests ignores SSL_CERT_FILE.
  OTPD_OUTBOX_TIMEOUT seconds to wait for a message in the fake outbox (default 10)

Exits 0 and prints "python sdk compat: N checks passed" on success; on the first
mismatch prints "FAIL: ..." to stderr and exits 1.
"""

import asyncio
import base64
import json
import os
import random
import re
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import aiohttp
import requests
import stytch
from stytch.core.response_base import StytchError

SANDBOX_PHONE = "+10000000000"
SANDBOX_CODE = "000000"
CODE_RE = re.compile(r"\d{6}")


class CheckFailed(Exception):
    pass


# ------------------------------------------------------------------ config --

def env(name):
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"FAIL: environment variable {name} is not set")
    return value


BASE_URL = env("OTPD_BASE_URL")
if not BASE_URL.startswith("https://"):
    raise SystemExit(f"FAIL: OTPD_BASE_URL must be an https:// URL, got {BASE_URL!r}")
if not BASE_URL.endswith("/"):
    BASE_URL += "/"
PROJECT_ID = env("OTPD_PROJECT_ID")
SECRET = env("OTPD_SECRET")
OUTBOX_TIMEOUT = float(os.environ.get("OTPD_OUTBOX_TIMEOUT", "10"))

# CA trust: the file the SDK's requests session and our urllib calls verify against.
CA_FILE = (
    os.environ.get("REQUESTS_CA_BUNDLE")
    or os.environ.get("CURL_CA_BUNDLE")
    or os.environ.get("SSL_CERT_FILE")
    or None
)


def make_client(secret):
    kwargs = {}
    if not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")) and CA_FILE:
        # requests does not read SSL_CERT_FILE: hand the SDK a session that verifies against it.
        session = requests.Session()
        session.verify = CA_FILE
        kwargs["sync_session"] = session
    return stytch.Client(
        project_id=PROJECT_ID, secret=secret, custom_base_url=BASE_URL, **kwargs
    )


# ------------------------------------------------------------------ checks --

PASSED = 0


def ok(what):
    global PASSED
    PASSED += 1
    print(f"ok {PASSED:2d} - {what}", flush=True)


def expect(cond, what, detail=""):
    if not cond:
        raise CheckFailed(f"{what}" + (f": {detail}" if detail else ""))


def expect_eq(actual, expected, what):
    if actual != expected:
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def expect_stytch_error(fn, error_type, status, what):
    """Run fn; it must raise StytchError with the given error_type and status_code."""
    try:
        res = fn()
    except StytchError as e:
        d = e.details
        if d.error_type != error_type or d.status_code != status:
            raise CheckFailed(
                f"{what}: expected StytchError {error_type}/{status}, got "
                f"{d.error_type}/{d.status_code} ({d.error_message}; body={d.original_json})"
            )
        expect(d.request_id != "", what, "error has empty request_id")
        return e
    raise CheckFailed(f"{what}: expected StytchError {error_type}/{status}, call succeeded: {res!r}")


def random_us_number(used=set()):
    # +1 201 2XY-ZZZZ: area code 201 (NJ), exchange 2[2-9]x (never the N11 "211"),
    # a valid US number for libphonenumber and not in the 555-01xx fiction range.
    while True:
        n = "+12012" + random.choice("23456789") + "".join(random.choice("0123456789") for _ in range(5))
        if n not in used:
            used.add(n)
            return n


# ------------------------------------------------------------------ outbox --

_ssl_ctx = ssl.create_default_context(cafile=CA_FILE) if CA_FILE else ssl.create_default_context()
_auth_header = "Basic " + base64.b64encode(f"{PROJECT_ID}:{SECRET}".encode()).decode()


def outbox(to):
    """Newest message sent to `to` (E.164) by the fake provider, or None."""
    url = BASE_URL + "v1/sandbox/messages?" + urllib.parse.urlencode(
        {"to": to, "limit": "1"}, quote_via=urllib.parse.quote
    )
    req = urllib.request.Request(url, headers={"Authorization": _auth_header, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, context=_ssl_ctx, timeout=10) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        raise CheckFailed(f"GET {url} -> HTTP {e.code}: {e.read()[:500]!r}")
    expect_eq(status, 200, f"outbox GET {url} status")
    try:
        doc = json.loads(body)
    except ValueError:
        raise CheckFailed(f"outbox GET {url}: body is not JSON: {body[:200]!r}")
    msgs = doc.get("messages")
    expect(isinstance(msgs, list), "outbox response has a messages array", repr(doc)[:300])
    if not msgs:
        return None
    m = msgs[0]
    expect_eq(m.get("to"), to, "outbox message 'to'")
    return m


def last_message_id(to):
    m = outbox(to)
    return m["message_id"] if m else None


def wait_for_message(to, previous_id, channel):
    """Poll the outbox until a message newer than `previous_id` arrives; return (code, message)."""
    deadline = time.monotonic() + OUTBOX_TIMEOUT
    while True:
        m = outbox(to)
        if m is not None and m.get("message_id") != previous_id:
            break
        if time.monotonic() > deadline:
            raise CheckFailed(f"no new {channel} message for {to} in the outbox after {OUTBOX_TIMEOUT}s")
        time.sleep(0.1)
    expect_eq(m.get("channel"), channel, f"outbox channel for {to}")
    match = CODE_RE.search(m.get("body", ""))
    expect(match is not None, f"outbox message for {to} contains a 6-digit code", repr(m.get("body")))
    return match.group(0), m


# --------------------------------------------------------- users.update/search --

def user_view(u):
    """What users.update wrote, as read back."""
    return {
        "name": (u.name.first_name, u.name.middle_name, u.name.last_name) if u.name else None,
        "trusted_metadata": u.trusted_metadata,
        "untrusted_metadata": u.untrusted_metadata,
        "external_id": u.external_id,
        "roles": u.roles,
    }


def fidelity(client):
    tag = "%08d" % random.randrange(100_000_000)
    # Every field users.create sends is stored and read back.
    n1, n2, n3 = random_us_number(), random_us_number(), random_us_number()
    created = client.users.create(
        phone_number=n1, name={"first_name": "Ada", "last_name": "Lovelace"},
        trusted_metadata={"tier": "gold"}, untrusted_metadata={"theme": "dark"},
        external_id=f"crm-{tag}", roles=["admin"], attributes={"ip_address": "203.0.113.7"},
    )
    u1 = created.user_id
    got = client.users.get(user_id=f"crm-{tag}")
    expect_eq(user_view(got), {
        "name": ("Ada", "", "Lovelace"), "trusted_metadata": {"tier": "gold"},
        "untrusted_metadata": {"theme": "dark"}, "external_id": f"crm-{tag}", "roles": ["admin"],
    }, "users.create fields read back")
    ok("users.create: name, metadata, external_id, roles stored and read back")
    expect_stytch_error(
        lambda: client.users.create(phone_number=random_us_number(), external_id=f"crm-{tag}"),
        "duplicate_user_external_id", 400, "users.create with a taken external_id")
    ok("taken external_id -> StytchError duplicate_user_external_id 400")

    # users.update: write, read back, compare.
    res = client.users.update(
        user_id=u1, name={"first_name": "Augusta", "middle_name": "Ada"},
        trusted_metadata={"tier": "platinum", "n": 2}, untrusted_metadata={},
        external_id=f"crm2-{tag}", roles=["admin", "billing"],
        attributes={"ip_address": "203.0.113.7", "user_agent": "compat.py"},
    )
    expect_eq(res.status_code, 200, "users.update status_code")
    expect_eq(res.user_id, u1, "users.update user_id")
    expect_eq([p.phone_number for p in res.phone_numbers], [n1], "users.update phone_numbers")
    want = {
        "name": ("Augusta", "Ada", "Lovelace"), "trusted_metadata": {"tier": "platinum", "n": 2},
        "untrusted_metadata": {}, "external_id": f"crm2-{tag}", "roles": ["admin", "billing"],
    }
    expect_eq(user_view(res.user), want, "users.update response user")
    expect_eq(user_view(client.users.get(user_id=u1)), want, "users.get after users.update")
    ok("users.update: name, metadata, external_id, roles written and read back")
    expect_stytch_error(lambda: client.users.update(user_id=f"nobody-{tag}", roles=[]),
                        "user_not_found", 404, "users.update of an unknown user")
    ok("users.update of an unknown external id -> user_not_found 404")

    # users.search: cursor pagination and AND/OR operands.
    u2 = client.users.create(phone_number=n2, create_user_as_pending=True).user_id
    u3 = client.users.create(phone_number=n3).user_id
    mine = [u1, u2, u3]
    ids_q = {"operator": "AND", "operands": [{"filter_name": "user_id", "filter_value": mine}]}
    page1 = client.users.search(limit=2, query=ids_q)
    expect_eq(page1.results_metadata.total, 3, "users.search total")
    expect_eq(len(page1.results), 2, "users.search page 1 size")
    expect(page1.results_metadata.next_cursor, "users.search page 1 has a next_cursor")
    page2 = client.users.search(limit=2, query=ids_q, cursor=page1.results_metadata.next_cursor)
    expect_eq(len(page2.results), 1, "users.search page 2 size")
    expect_eq(page2.results_metadata.next_cursor, None, "users.search last page next_cursor")
    expect_eq(sorted(u.user_id for u in page1.results + page2.results), sorted(mine), "users.search pages")
    ok("users.search: limit 2 over 3 users -> two pages by cursor, total 3, last next_cursor null")
    res = client.users.search(query={"operator": "OR", "operands": [
        {"filter_name": "phone_number", "filter_value": [n1]},
        {"filter_name": "user_id", "filter_value": [u3]},
    ]})
    expect_eq(sorted(u.user_id for u in res.results), sorted([u1, u3]), "users.search OR")
    res = client.users.search(query={"operator": "AND", "operands": [
        {"filter_name": "user_id", "filter_value": mine},
        {"filter_name": "status", "filter_value": "pending"},
    ]})
    expect_eq([u.user_id for u in res.results], [u2], "users.search AND status=pending")
    res = client.users.search(query={"operator": "AND", "operands": [
        {"filter_name": "phone_number_fuzzy", "filter_value": n3[-7:]},
        {"filter_name": "phone_verified", "filter_value": False},
        {"filter_name": "created_at_between", "filter_value": {
            "greater_than": "2020-01-01T00:00:00Z", "less_than": "2100-01-01T00:00:00Z"}},
    ]})
    expect_eq([u.user_id for u in res.results], [u3], "users.search AND fuzzy + verified + created_at")
    ok("users.search: OR (phone_number | user_id), AND (status, phone_number_fuzzy, phone_verified, created_at_between)")
    expect_stytch_error(lambda: client.users.search(query={"operator": "AND", "operands": [
        {"filter_name": "email_address", "filter_value": ["a@b.co"]}]}),
        "bad_request", 400, "users.search with a filter otpd lacks")
    ok("users.search with an unsupported filter -> bad_request 400")

    # Locales: the SDK enum's values reach the template.
    for locale, word in [("de-DE", "Code"), ("ja", "認証コード"), ("cs", "kod")]:
        n = random_us_number()
        client.users.create(phone_number=n)
        prev = last_message_id(n)
        client.otps.sms.send(phone_number=n, locale=locale)
        _, m = wait_for_message(n, prev, "sms")
        expect(word in m["body"], f"locale {locale} message", repr(m["body"]))
    ok("otps.sms.send(locale=de-DE / ja / cs) -> message in that language")


async def fidelity_async():
    """The same users.update / users.search through the SDK's async client."""
    ctx = ssl.create_default_context(cafile=CA_FILE) if CA_FILE else ssl.create_default_context()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        client = stytch.Client(project_id=PROJECT_ID, secret=SECRET, custom_base_url=BASE_URL,
                               async_session=session)
        n = random_us_number()
        created = await client.users.create_async(phone_number=n)
        res = await client.users.update_async(user_id=created.user_id, name={"first_name": "Async"},
                                              trusted_metadata={"via": "aiohttp"}, roles=["viewer"])
        expect_eq(res.user.name.first_name, "Async", "users.update_async name")
        got = await client.users.get_async(user_id=created.user_id)
        expect_eq((got.trusted_metadata, got.roles), ({"via": "aiohttp"}, ["viewer"]),
                  "users.get_async after update_async")
        res = await client.users.search_async(limit=1, query={"operator": "OR", "operands": [
            {"filter_name": "phone_number", "filter_value": [n]}]})
        expect_eq([u.user_id for u in res.results], [created.user_id], "users.search_async")
        expect_eq(res.results_metadata.total, 1, "users.search_async total")
    ok("async client: users.update_async, users.get_async, users.search_async")


# ------------------------------------------------------------------- flows --

def main():
    client = make_client(SECRET)
    P = random_us_number()
    Q = random_us_number()
    R = random_us_number()
    print(f"# base_url={BASE_URL} ca={CA_FILE} P={P} Q={Q} R={R}", flush=True)

    # a. users.create
    res = client.users.create(phone_number=P)
    expect_eq(res.status_code, 201, "users.create status_code")
    user_id, phone_id = res.user_id, res.phone_id
    expect(user_id.startswith("user-test-"), "users.create user_id prefix", user_id)
    expect(phone_id.startswith("phone-number-test-"), "users.create phone_id prefix", phone_id)
    expect_eq(res.email_id, "", "users.create email_id")
    expect_eq(res.user.user_id, user_id, "users.create user.user_id")
    expect_eq(len(res.user.phone_numbers), 1, "users.create number of phone_numbers")
    expect_eq(res.user.phone_numbers[0].phone_number, P, "users.create phone_numbers[0].phone_number")
    expect_eq(res.user.phone_numbers[0].phone_id, phone_id, "users.create phone_numbers[0].phone_id")
    expect_eq(res.user.phone_numbers[0].verified, False, "users.create phone verified")
    ok(f"users.create({P}) -> 201 {user_id} {phone_id}, unverified")

    # b. otps.sms.send + otps.authenticate
    prev = last_message_id(P)
    res = client.otps.sms.send(phone_number=P)
    expect_eq(res.status_code, 200, "otps.sms.send status_code")
    expect_eq(res.user_id, user_id, "otps.sms.send user_id")
    expect_eq(res.phone_id, phone_id, "otps.sms.send phone_id")
    code1, msg = wait_for_message(P, prev, "sms")
    ok(f"otps.sms.send -> same user/phone, sms code in outbox")

    res = client.otps.authenticate(method_id=phone_id, code=code1)
    expect_eq(res.status_code, 200, "otps.authenticate status_code")
    expect_eq(res.user_id, user_id, "otps.authenticate user_id")
    expect_eq(res.method_id, phone_id, "otps.authenticate method_id")
    expect_eq(res.session_token, "", "otps.authenticate session_token")
    expect_eq(res.session_jwt, "", "otps.authenticate session_jwt")
    expect_eq(res.session, None, "otps.authenticate session")
    expect_eq(res.user.phone_numbers[0].verified, True, "otps.authenticate user.phone_numbers[0].verified")
    ok("otps.authenticate(sms code) -> 200, no session, phone verified")

    # c. the consumed code again
    expect_stytch_error(
        lambda: client.otps.authenticate(method_id=phone_id, code=code1),
        "unable_to_auth_otp_code", 401, "reusing a consumed code",
    )
    ok("reused code -> StytchError unable_to_auth_otp_code 401")

    # d. wrong code, then the right one
    prev = msg["message_id"]
    res = client.otps.sms.send(phone_number=P)
    expect_eq(res.phone_id, phone_id, "second otps.sms.send phone_id")
    code2, msg = wait_for_message(P, prev, "sms")
    wrong = code2[:-1] + str((int(code2[-1]) + 1) % 10)
    expect_stytch_error(
        lambda: client.otps.authenticate(method_id=phone_id, code=wrong),
        "otp_code_not_found", 404, "authenticating with a wrong code",
    )
    ok("wrong code -> StytchError otp_code_not_found 404")
    res = client.otps.authenticate(method_id=phone_id, code=code2)
    expect_eq(res.user_id, user_id, "otps.authenticate after a wrong attempt: user_id")
    ok("right code after a wrong attempt -> 200")

    # e. login_or_create for a new number
    prev_q = last_message_id(Q)
    expect_eq(prev_q, None, f"outbox for fresh number {Q} is empty")
    res = client.otps.sms.login_or_create(phone_number=Q)
    expect_eq(res.status_code, 200, "otps.sms.login_or_create status_code")
    expect_eq(res.user_created, True, "otps.sms.login_or_create(new) user_created")
    q_user, q_phone = res.user_id, res.phone_id
    expect(q_user.startswith("user-test-"), "login_or_create user_id prefix", q_user)
    expect(q_phone.startswith("phone-number-test-"), "login_or_create phone_id prefix", q_phone)
    _, msg = wait_for_message(Q, None, "sms")
    ok(f"otps.sms.login_or_create({Q}) -> user_created=True")
    res = client.otps.sms.login_or_create(phone_number=Q)
    expect_eq(res.user_created, False, "otps.sms.login_or_create(again) user_created")
    expect_eq(res.user_id, q_user, "otps.sms.login_or_create(again) user_id")
    expect_eq(res.phone_id, q_phone, "otps.sms.login_or_create(again) phone_id")
    code_q, msg = wait_for_message(Q, msg["message_id"], "sms")
    ok("otps.sms.login_or_create(same number) -> user_created=False, same user")
    res = client.otps.authenticate(method_id=q_phone, code=code_q)
    expect_eq(res.user_id, q_user, "otps.authenticate(login_or_create code) user_id")
    expect_eq(res.user.phone_numbers[0].verified, True, "login_or_create user phone verified")
    ok("otps.authenticate(login_or_create code) -> 200")

    # f. WhatsApp
    prev = last_message_id(P)
    res = client.otps.whatsapp.send(phone_number=P)
    expect_eq(res.user_id, user_id, "otps.whatsapp.send user_id")
    expect_eq(res.phone_id, phone_id, "otps.whatsapp.send phone_id")
    code_w, _ = wait_for_message(P, prev, "whatsapp")
    res = client.otps.authenticate(method_id=phone_id, code=code_w)
    expect_eq(res.user_id, user_id, "otps.authenticate(whatsapp code) user_id")
    ok("otps.whatsapp.send -> whatsapp message, authenticate 200")
    res = client.otps.whatsapp.login_or_create(phone_number=R)
    expect_eq(res.user_created, True, "otps.whatsapp.login_or_create(new) user_created")
    r_user, r_phone = res.user_id, res.phone_id
    code_r, _ = wait_for_message(R, None, "whatsapp")
    res = client.otps.authenticate(method_id=r_phone, code=code_r)
    expect_eq(res.user_id, r_user, "otps.authenticate(whatsapp login_or_create code) user_id")
    ok(f"otps.whatsapp.login_or_create({R}) -> user_created=True, whatsapp message, authenticate 200")

    # g. invalid phone number
    expect_stytch_error(
        lambda: client.otps.sms.send(phone_number="+1234"),
        "invalid_phone_number", 400, "otps.sms.send(+1234)",
    )
    expect_stytch_error(
        lambda: client.otps.sms.login_or_create(phone_number="+1234"),
        "invalid_phone_number", 400, "otps.sms.login_or_create(+1234)",
    )
    ok("invalid phone number +1234 -> StytchError invalid_phone_number 400 (send, login_or_create)")

    # h. wrong secret
    bad = make_client(SECRET + "-wrong")
    expect_stytch_error(
        lambda: bad.users.get(user_id=user_id),
        "unauthorized_credentials", 401, "users.get with a wrong secret",
    )
    expect_stytch_error(
        lambda: bad.otps.sms.send(phone_number=P),
        "unauthorized_credentials", 401, "otps.sms.send with a wrong secret",
    )
    ok("wrong secret -> StytchError unauthorized_credentials 401")

    # i. users.get / delete_phone_number / delete
    res = client.users.get(user_id=user_id)
    expect_eq(res.status_code, 200, "users.get status_code")
    expect_eq(res.user_id, user_id, "users.get user_id")
    expect_eq(res.status, "active", "users.get status")
    expect_eq(res.emails, [], "users.get emails")
    expect_eq(res.is_locked, False, "users.get is_locked")
    phones = [(p.phone_id, p.phone_number, p.verified) for p in res.phone_numbers]
    expect_eq(phones, [(phone_id, P, True)], "users.get phone_numbers")
    ok("users.get -> flattened user, verified phone present")
    res = client.users.delete_phone_number(phone_id=phone_id)
    expect_eq(res.status_code, 200, "users.delete_phone_number status_code")
    expect_eq(res.user_id, user_id, "users.delete_phone_number user_id")
    expect_eq(res.user.phone_numbers, [], "users.delete_phone_number user.phone_numbers")
    res = client.users.get(user_id=user_id)
    expect_eq(res.phone_numbers, [], "users.get after delete_phone_number: phone_numbers")
    ok("users.delete_phone_number -> phone gone")
    res = client.users.delete(user_id=user_id)
    expect_eq(res.status_code, 200, "users.delete status_code")
    expect_eq(res.user_id, user_id, "users.delete user_id")
    expect_stytch_error(
        lambda: client.users.get(user_id=user_id),
        "user_not_found", 404, "users.get after users.delete",
    )
    ok("users.delete -> users.get raises user_not_found 404")

    # j. sandbox number: users.create accepts it, send needs no prior user (test projects)
    expect_eq(last_message_id(SANDBOX_PHONE), None, "outbox for sandbox number before")
    res = client.users.create(phone_number=SANDBOX_PHONE)
    expect_eq(res.status_code, 201, "users.create(sandbox) status_code")
    expect_eq(res.user.phone_numbers[0].phone_number, SANDBOX_PHONE, "users.create(sandbox) phone")
    client.users.delete(user_id=res.user_id)
    ok(f"users.create({SANDBOX_PHONE}) -> 201 in a test project")
    res = client.otps.sms.send(phone_number=SANDBOX_PHONE)
    expect_eq(res.status_code, 200, "sandbox otps.sms.send without a user: status_code")
    sandbox_phone_id = res.phone_id
    expect(sandbox_phone_id.startswith("phone-number-test-"), "sandbox send phone_id", sandbox_phone_id)
    res = client.otps.authenticate(method_id=sandbox_phone_id, code=SANDBOX_CODE)
    expect_eq(res.status_code, 200, "sandbox authenticate after send status_code")
    res = client.otps.whatsapp.send(phone_number=SANDBOX_PHONE)
    expect_eq(res.phone_id, sandbox_phone_id, "sandbox otps.whatsapp.send phone_id")
    ok(f"otps.sms.send / whatsapp.send({SANDBOX_PHONE}) without a prior user -> 200; {SANDBOX_CODE} authenticates")
    res = client.otps.sms.login_or_create(phone_number=SANDBOX_PHONE)
    expect_eq(res.status_code, 200, "sandbox login_or_create status_code")
    expect_eq(res.phone_id, sandbox_phone_id, "sandbox login_or_create phone_id")
    res = client.otps.authenticate(method_id=res.phone_id, code=SANDBOX_CODE)
    expect_eq(res.status_code, 200, "sandbox authenticate status_code")
    expect_eq(last_message_id(SANDBOX_PHONE), None, "outbox for sandbox number after")
    ok(f"sandbox {SANDBOX_PHONE} login_or_create + authenticate({SANDBOX_CODE}) -> 200, nothing sent")

    fidelity(client)
    asyncio.run(fidelity_async())

    print(f"python sdk compat: {PASSED} checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"python sdk compat: {PASSED} checks passed, 1 failed", file=sys.stderr)
        sys.exit(1)
    except StytchError as e:
        print(f"FAIL: unexpected StytchError: {e!r} body={e.details.original_json}", file=sys.stderr)
        print(f"python sdk compat: {PASSED} checks passed, 1 failed", file=sys.stderr)
        sys.exit(1)
    except requests.exceptions.SSLError as e:
        print(f"FAIL: TLS verification failed (is REQUESTS_CA_BUNDLE set to the server's CA?): {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # pydantic.ValidationError etc.: the server's response shape is wrong
        import traceback
        traceback.print_exc()
        print(f"FAIL: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        print(f"python sdk compat: {PASSED} checks passed, 1 failed", file=sys.stderr)
        sys.exit(1)
