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


def fidelity(b2b, tag, org_id, member_id, phone):
    # Stytch's error names for taken values.
    expect_stytch_error(lambda: b2b.organizations.create(organization_name="X", organization_slug=f"sdk-org-{tag}"),
                        "organization_slug_already_used", 400, "taken slug")
    expect_stytch_error(lambda: b2b.organizations.create(organization_name="X", organization_slug=f"x-{tag}",
                                                         organization_external_id=f"org-ext-{tag}"),
                        "organization_external_id_already_used", 400, "taken organization external id")
    expect_stytch_error(lambda: b2b.organizations.members.create(organization_id=org_id, email_address=f"{tag}@example.com"),
                        "duplicate_member_email", 400, "taken member email")
    expect_stytch_error(lambda: b2b.organizations.members.create(organization_id=org_id, email_address=f"x{tag}@example.com",
                                                                 external_id=f"emp-{tag}"),
                        "duplicate_member_external_id", 400, "taken member external id")
    expect_stytch_error(lambda: b2b.organizations.members.create(organization_id=org_id, email_address=f"y{tag}@example.com",
                                                                 mfa_phone_number=phone),
                        "duplicate_member_phone_number", 400, "taken member phone number")
    ok("organization_slug_already_used, organization_external_id_already_used, duplicate_member_email/_external_id/_phone_number")

    # organizations.create settings and organizations.update: write, read back, compare.
    created = b2b.organizations.create(
        organization_name="Settings Co", organization_slug=f"set-{tag}", email_allowed_domains=["example.com"],
        email_invites="RESTRICTED", auth_methods="RESTRICTED", allowed_auth_methods=["magic_link", "sso"],
        mfa_methods="ALL_ALLOWED", trusted_metadata={"crm": 1},
    ).organization
    got = b2b.organizations.get(organization_id=created.organization_id).organization
    expect_eq((got.email_allowed_domains, got.email_invites, got.auth_methods, got.allowed_auth_methods,
               got.trusted_metadata),
              (["example.com"], "RESTRICTED", "RESTRICTED", ["magic_link", "sso"], {"crm": 1}),
              "organizations.create settings read back")
    ok("organizations.create: settings stored and read back")
    res = b2b.organizations.update(
        organization_id=created.organization_id, organization_name="Settings Co 2",
        organization_slug=f"set2-{tag}", organization_external_id=f"set-ext-{tag}",
        organization_logo_url="https://example.com/logo.png", trusted_metadata={"crm": 2},
        mfa_policy="REQUIRED_FOR_ALL", mfa_methods="RESTRICTED", allowed_mfa_methods=["totp"],
    )
    expect_eq(res.organization.organization_name, "Settings Co 2", "organizations.update response name")
    got = b2b.organizations.get(organization_id=f"set-ext-{tag}").organization
    expect_eq((got.organization_name, got.organization_slug, got.organization_logo_url, got.trusted_metadata,
               got.mfa_policy, got.mfa_methods, got.allowed_mfa_methods, got.email_invites),
              ("Settings Co 2", f"set2-{tag}", "https://example.com/logo.png", {"crm": 2},
               "REQUIRED_FOR_ALL", "RESTRICTED", ["totp"], "RESTRICTED"),
              "organizations.get after organizations.update")
    ok("organizations.update: name, slug, external id, logo, metadata, mfa_policy, mfa_methods read back")
    m = b2b.organizations.members.create(organization_id=got.organization_id, email_address=f"r{tag}@example.com")
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=got.organization_id, member_id=m.member_id,
                                                  mfa_phone_number=random_us_number()),
                        "operation_restricted_by_organization_mfa_methods", 403, "SMS MFA restricted")
    expect_stytch_error(lambda: b2b.organizations.update(organization_id=got.organization_id, organization_slug=slug_of(tag)),
                        "organization_slug_already_used", 400, "organizations.update to a taken slug")
    ok("mfa_methods RESTRICTED without sms_otp refuses otps.sms.send; update to a taken slug refused")

    # members: every field written and read back, or refused naming the field.
    res = b2b.organizations.members.update(
        organization_id=org_id, member_id=member_id, name="Renamed", email_address=f"new-{tag}@example.com",
        trusted_metadata={"level": 3}, untrusted_metadata={"ui": "compact"}, roles=["reviewer"],
        default_mfa_method="sms_otp",
    )
    got = b2b.organizations.members.get(organization_id=org_id, member_id=member_id).member
    for view in (res.member, got):
        expect_eq((view.name, view.email_address, view.trusted_metadata, view.untrusted_metadata,
                   [r.role_id for r in view.roles], view.default_mfa_method),
                  ("Renamed", f"new-{tag}@example.com", {"level": 3}, {"ui": "compact"}, ["reviewer"], "sms_otp"),
                  "members.update fields read back")
    ok("members.update: name, email, metadata, roles, default_mfa_method read back")
    err = expect_stytch_error(lambda: b2b.organizations.members.create(
        organization_id=org_id, email_address=f"bg{tag}@example.com", is_breakglass=True),
        "bad_request", 400, "is_breakglass is refused, not dropped")
    expect("is_breakglass" in err.details.error_message, "error names is_breakglass", err.details.error_message)
    ok("members.create(is_breakglass=True) -> bad_request naming the field")


def slug_of(tag):
    return f"sdk-org-{tag}"


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
    err = expect_stytch_error(
        lambda: b2b.otps.sms.send(organization_id=slug, member_id=member_id, mfa_phone_number=random_us_number()),
        "bad_request", 400, "a different number can't be used while the member has one")
    expect(err.details.error_message.startswith("mfa_phone_number"), "error names mfa_phone_number",
           err.details.error_message)
    expect_stytch_error(
        lambda: b2b.organizations.members.update(organization_id=slug, member_id=member_id,
                                                 mfa_phone_number=random_us_number()),
        "bad_request", 400, "members.update can't replace a verified number")
    expect_eq(b2b.organizations.members.get(organization_id=slug, member_id=member_id).member.mfa_phone_number,
              phone, "verified number kept")
    ok("bad references get the right 4xx; a member's number is not silently replaced")

    fidelity(b2b, tag, org.organization_id, member_id, phone)

    print(f"python b2b sdk compat: {compat.PASSED} checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
