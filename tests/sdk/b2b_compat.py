#!/usr/bin/env python3
"""otpd compatibility check with the official Stytch Python SDK's B2BClient (stytch==15.3.0).

Runs the SMS MFA flow unmodified: organization -> member -> otps.sms.send -> authenticate,
addressing the organization and member by id, by slug and by external id, and checks that
bad references raise the right StytchError. Same environment as compat.py, whose checking
and outbox helpers it reuses.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import requests  # noqa: E402
import stytch  # noqa: E402

import compat  # noqa: E402
from compat import CheckFailed, expect, expect_eq, expect_stytch_error, ok, random_us_number  # noqa: E402


def make_b2b_client():
    kwargs = {}
    if not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")) and compat.CA_FILE:
        session = requests.Session()
        session.verify = compat.CA_FILE
        kwargs["sync_session"] = session
    return stytch.B2BClient(
        project_id=compat.PROJECT_ID, secret=compat.SECRET, custom_base_url=compat.BASE_URL, **kwargs
    )


def send_and_authenticate(b2b, org_ref, member_ref, phone, **auth_args):
    before = compat.last_message_id(phone)
    sent = b2b.otps.sms.send(organization_id=org_ref, member_id=member_ref)
    code, _ = compat.wait_for_message(phone, before, "sms")
    res = b2b.otps.sms.authenticate(organization_id=org_ref, member_id=member_ref, code=code, **auth_args)
    return sent, res


def main():
    b2b = make_b2b_client()
    tag = "%06d" % random.randrange(1_000_000)
    slug, org_ext, member_ext = f"sdk-org-{tag}", f"org-ext-{tag}", f"emp-{tag}"

    org = b2b.organizations.create(
        organization_name="SDK Org", organization_slug=slug, organization_external_id=org_ext
    ).organization
    expect(org.organization_id.startswith("organization-test-"), "organization id shape", org.organization_id)
    got = b2b.organizations.get(organization_id=org.organization_id).organization
    expect_eq(got.organization_slug, slug, "organizations.get slug")
    ok("organizations.create + organizations.get")

    phone = random_us_number()
    created = b2b.organizations.members.create(
        organization_id=org.organization_id, email_address=f"{tag}@example.com", external_id=member_ext
    )
    member_id = created.member_id
    expect_eq(created.member.mfa_phone_number, "", "new member has no MFA phone")
    fetched = b2b.organizations.members.get(organization_id=org.organization_id, member_id=member_id)
    expect_eq(fetched.member.email_address, f"{tag}@example.com", "members.get email")
    ok("organizations.members.create + members.get")

    before = compat.last_message_id(phone)
    sent = b2b.otps.sms.send(organization_id=org.organization_id, member_id=member_id, mfa_phone_number=phone)
    expect_eq(sent.member.mfa_phone_number, phone, "send links the MFA phone")
    code, _ = compat.wait_for_message(phone, before, "sms")
    auth = b2b.otps.sms.authenticate(
        organization_id=org.organization_id, member_id=member_id, code=code, set_mfa_enrollment="enroll"
    )
    expect_eq(auth.member_id, member_id, "authenticate member_id")
    expect(auth.member.mfa_phone_number_verified, "phone verified after MFA")
    expect(auth.member.mfa_enrolled, "member enrolled")
    ok("otps.sms.send + otps.sms.authenticate by ids (enroll)")

    # Stytch always starts a member session (60 minutes by default).
    ms = auth.member_session
    expect(ms is not None and ms.member_session_id.startswith("member-session-test-"), "member_session", repr(ms))
    expect_eq((ms.member_id, ms.organization_id, ms.organization_slug),
              (member_id, org.organization_id, slug), "member_session owner")
    expect(abs((ms.expires_at - ms.started_at).total_seconds() - 3600) <= 2, "member session lasts 60 minutes")
    expect(len(auth.session_token) == 44 and auth.session_jwt.count(".") == 2, "session token and JWT")
    res = b2b.sessions.authenticate(session_token=auth.session_token)
    expect_eq(res.member_session.member_session_id, ms.member_session_id, "b2b.sessions.authenticate(token)")
    expect_eq(res.member.member_id, member_id, "b2b.sessions.authenticate member")
    local = b2b.sessions.authenticate_jwt_local(session_jwt=auth.session_jwt)
    expect(local is not None, "b2b authenticate_jwt_local verified with otpd's JWKS")
    expect_eq((local.member_session_id, local.organization_slug), (ms.member_session_id, slug),
              "b2b authenticate_jwt_local session")
    listed = b2b.sessions.get(organization_id=org.organization_id, member_id=member_id)
    expect_eq([s.member_session_id for s in listed.member_sessions], [ms.member_session_id], "b2b.sessions.get")
    b2b.sessions.revoke(member_session_id=ms.member_session_id)
    expect_stytch_error(lambda: b2b.sessions.authenticate(session_token=auth.session_token),
                        "session_not_found", 404, "b2b.sessions.authenticate after revoke")
    ok("member session: b2b.sessions.authenticate, local JWT, get, revoke -> session_not_found")

    _, res = send_and_authenticate(b2b, slug, member_ext, phone)
    expect_eq(res.member_id, member_id, "by slug + member external id")
    ok("MFA flow by organization slug and member external_id")

    _, res = send_and_authenticate(b2b, org_ext, member_id, phone, set_mfa_enrollment="unenroll")
    expect(not res.member.mfa_enrolled, "unenrolled")
    ok("MFA flow by organization external_id (unenroll)")

    before = compat.last_message_id(phone)
    b2b.otps.sms.send(organization_id=slug, member_id=member_id)
    code, _ = compat.wait_for_message(phone, before, "sms")
    wrong = code[:5] + ("0" if code[5] == "9" else str(int(code[5]) + 1))
    expect_stytch_error(
        lambda: b2b.otps.sms.authenticate(organization_id=slug, member_id=member_id, code=wrong),
        "otp_code_not_found", 404, "wrong code")
    b2b.otps.sms.authenticate(organization_id=slug, member_id=member_id, code=code)
    expect_stytch_error(
        lambda: b2b.otps.sms.authenticate(organization_id=slug, member_id=member_id, code=code),
        "unable_to_auth_otp_code", 401, "reused code")
    ok("wrong code 404, reused code 401")

    expect_stytch_error(lambda: b2b.organizations.get(organization_id=f"missing-{tag}"),
                        "organization_not_found", 404, "unknown organization")
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=slug, member_id=f"missing-{tag}"),
                        "member_not_found", 404, "unknown member")
    other = b2b.organizations.create(organization_name="Other", organization_slug=f"other-{tag}").organization
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=other.organization_id, member_id=member_id),
                        "member_not_found", 404, "member of another organization")
    lonely = b2b.organizations.members.create(organization_id=slug, email_address=f"lonely-{tag}@example.com")
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=slug, member_id=lonely.member_id),
                        "member_phone_number_not_found", 400, "member without phone")
    expect_stytch_error(
        lambda: b2b.otps.sms.send(organization_id=slug, member_id=member_id, mfa_phone_number=random_us_number()),
        "member_phone_number_already_verified", 400, "verified phone can't be redirected")
    ok("bad references get the right 4xx")

    print(f"python b2b sdk compat: {compat.PASSED} checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
