#!/usr/bin/env python3
"""otpd compatibility check with the official Stytch Python SDK's B2BClient (stytch==15.3.0).

Runs the SMS MFA flow unmodified: organization -> member -> sessions.attest (a trusted auth
token: the primary factor) -> otps.sms.send -> authenticate with the member session,
addressing the organization and member by id, by slug and by external id, and checks that
bad references raise the right StytchError; then the MFA-required path (an intermediate
session, the automatic SMS) and consumer sessions.attest. Same environment as compat.py,
whose checking and outbox helpers it reuses, plus:
  OTPD_TRUSTED_PROFILE_ID   a trusted auth token profile of the project
  OTPD_TRUSTED_KEY_FILE     the PEM private key whose public key the profile holds
  OTPD_TRUSTED_ISSUER, OTPD_TRUSTED_AUDIENCE   the profile's iss and aud
"""

import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jwt  # noqa: E402  (PyJWT, a dependency of the stytch package)
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


PROFILE_ID = os.environ.get("OTPD_TRUSTED_PROFILE_ID", "")
with open(os.environ.get("OTPD_TRUSTED_KEY_FILE", "/dev/null")) as f:
    TRUSTED_KEY = f.read()


def trusted_token(email):
    """A token as the backend's own identity system would mint it (RS256, iss/aud/exp/jti)."""
    now = int(time.time())
    claims = {"iss": os.environ["OTPD_TRUSTED_ISSUER"], "aud": os.environ["OTPD_TRUSTED_AUDIENCE"],
              "email": email, "jti": str(uuid.uuid4()), "iat": now, "exp": now + 300}
    return jwt.encode(claims, TRUSTED_KEY, algorithm="RS256")


def send_and_authenticate(b2b, org_ref, member_ref, phone, session_token, **auth_args):
    before = compat.last_message_id(phone)
    sent = b2b.otps.sms.send(organization_id=org_ref, member_id=member_ref, session_token=session_token)
    code, _ = compat.wait_for_message(phone, before, "sms")
    res = b2b.otps.sms.authenticate(organization_id=org_ref, member_id=member_ref, code=code,
                                    session_token=session_token, **auth_args)
    return sent, res


def mfa_required_flow(b2b, tag):
    """An organization requiring MFA: attest answers an intermediate session and sends the SMS
    to an enrolled member; the IST then completes the login through the SDK's otps.sms calls.

    The attest answer is read with requests: Stytch's Python AttestResponse model (15.3.0)
    declares member_session required, so it cannot hold the documented MFA answer
    (member_session null, intermediate_session_token, mfa_required)."""
    org = b2b.organizations.create(organization_name="MFA Org", organization_slug=f"mfa-{tag}",
                                   mfa_policy="REQUIRED_FOR_ALL").organization
    phone = random_us_number()
    m = b2b.organizations.members.create(organization_id=org.organization_id, email_address=f"mfa-{tag}@example.com",
                                         mfa_phone_number=phone, mfa_enrolled=True)
    before = compat.last_message_id(phone)
    r = requests.post(compat.BASE_URL + "v1/b2b/sessions/attest", auth=(compat.PROJECT_ID, compat.SECRET),
                      json={"profile_id": PROFILE_ID, "organization_id": org.organization_id,
                            "token": trusted_token(f"mfa-{tag}@example.com")},
                      verify=compat.CA_FILE or True)
    body = r.json()
    expect_eq((r.status_code, body["member_authenticated"], body["member_session"]), (200, False, None),
              "attest in an MFA organization answers no member session")
    expect_eq(body["mfa_required"]["secondary_auth_initiated"], "sms_otp", "the SMS went out automatically")
    ist = body["intermediate_session_token"]
    code, _ = compat.wait_for_message(phone, before, "sms")
    expect_stytch_error(lambda: b2b.otps.sms.authenticate(organization_id=org.organization_id,
                                                          member_id=m.member_id, code=code),
                        "no_session_arguments", 400, "SMS alone is no login")
    auth = b2b.otps.sms.authenticate(organization_id=org.organization_id, member_id=m.member_id, code=code,
                                     intermediate_session_token=ist)
    expect(auth.member_session is not None and len(auth.session_token) == 44, "the IST became a member session")
    expect_eq([f.type for f in auth.member_session.authentication_factors], ["trusted_auth_token", "otp"],
              "both factors on the member session")
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=org.organization_id, member_id=m.member_id,
                                                  intermediate_session_token=ist),
                        "intermediate_session_not_found", 404, "an IST is single use")
    ok("MFA required: attest -> IST + automatic SMS -> otps.sms.authenticate(intermediate_session_token)")


def consumer_attest(tag):
    client = stytch.Client(project_id=compat.PROJECT_ID, secret=compat.SECRET, custom_base_url=compat.BASE_URL,
                           **({"sync_session": _session()} if _session() else {}))
    email = f"attest-{tag}@example.com"
    user = client.users.create(email=email)
    res = client.sessions.attest(profile_id=PROFILE_ID, token=trusted_token(email), session_duration_minutes=30)
    expect_eq(res.user_id, user.user_id, "consumer attest finds the user by email")
    expect(res.session is not None and res.session.authentication_factors[0].type == "trusted_auth_token",
           "consumer attest session factor", repr(res.session))
    again = client.sessions.authenticate(session_token=res.session_token)
    expect_eq(again.user.user_id, user.user_id, "the attested session authenticates")
    token = trusted_token(email)
    client.sessions.attest(profile_id=PROFILE_ID, token=token)
    expect_stytch_error(lambda: client.sessions.attest(profile_id=PROFILE_ID, token=token),
                        "invalid_token", 401, "a token is accepted once")
    ok("consumer sessions.attest: user by email, trusted_auth_token session, replay refused")


def _session():
    if not (os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")) and compat.CA_FILE:
        session = requests.Session()
        session.verify = compat.CA_FILE
        return session
    return None


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

    # The primary factor happens in the backend's own identity system; attest brings it here.
    att = b2b.sessions.attest(profile_id=PROFILE_ID, token=trusted_token(f"{tag}@example.com"),
                              organization_id=org.organization_id)
    expect_eq(att.member_id, member_id, "attest finds the member by email")
    token = att.session_token
    ms = att.member_session
    expect(ms.member_session_id.startswith("member-session-test-"), "attest member_session", repr(ms))
    ok("b2b.sessions.attest -> member session")

    before = compat.last_message_id(phone)
    sent = b2b.otps.sms.send(organization_id=org.organization_id, member_id=member_id, mfa_phone_number=phone)
    expect_eq(sent.member.mfa_phone_number, phone, "send links the MFA phone (enrollment needs no session)")
    code, _ = compat.wait_for_message(phone, before, "sms")
    expect_stytch_error(lambda: b2b.otps.sms.authenticate(organization_id=org.organization_id, member_id=member_id,
                                                          code=code),
                        "no_session_arguments", 400, "SMS without a session or IST")
    auth = b2b.otps.sms.authenticate(
        organization_id=org.organization_id, member_id=member_id, code=code, set_mfa_enrollment="enroll",
        session_token=token,
    )
    expect_eq(auth.member_id, member_id, "authenticate member_id")
    expect(auth.member.mfa_phone_number_verified, "phone verified after MFA")
    expect(auth.member.mfa_enrolled, "member enrolled")
    ok("otps.sms.send + otps.sms.authenticate(session_token) by ids (enroll)")

    # The attested member session got the SMS factor (60 minutes by default).
    ms = auth.member_session
    expect(ms is not None and ms.member_session_id == att.member_session.member_session_id,
           "the factor went onto the attested session", repr(ms))
    expect_eq((ms.member_id, ms.organization_id, ms.organization_slug),
              (member_id, org.organization_id, slug), "member_session owner")
    expect_eq(sorted(f.type for f in ms.authentication_factors), ["otp", "trusted_auth_token"], "factors")
    expect(abs((ms.expires_at - ms.started_at).total_seconds() - 3600) <= 2, "member session lasts 60 minutes")
    expect(auth.session_token == token and auth.session_jwt.count(".") == 2, "session token and JWT")
    res = b2b.sessions.authenticate(session_token=auth.session_token)
    expect_eq(res.member_session.member_session_id, ms.member_session_id, "b2b.sessions.authenticate(token)")
    expect_eq(res.member.member_id, member_id, "b2b.sessions.authenticate member")
    local = b2b.sessions.authenticate_jwt_local(session_jwt=auth.session_jwt)
    expect(local is not None, "b2b authenticate_jwt_local verified with otpd's JWKS")
    expect_eq((local.member_session_id, local.organization_slug), (ms.member_session_id, slug),
              "b2b authenticate_jwt_local session")
    listed = b2b.sessions.get(organization_id=org.organization_id, member_id=member_id)
    expect_eq([s.member_session_id for s in listed.member_sessions], [ms.member_session_id], "b2b.sessions.get")
    ok("member session: b2b.sessions.authenticate, local JWT, get")

    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=slug, member_id=member_id),
                        "no_session_arguments", 400, "a verified member's send needs their session")
    _, res = send_and_authenticate(b2b, slug, member_ext, phone, token)
    expect_eq(res.member_id, member_id, "by slug + member external id")
    ok("MFA flow by organization slug and member external_id")

    _, res = send_and_authenticate(b2b, org_ext, member_id, phone, token, set_mfa_enrollment="unenroll")
    expect(not res.member.mfa_enrolled, "unenrolled")
    ok("MFA flow by organization external_id (unenroll)")

    before = compat.last_message_id(phone)
    b2b.otps.sms.send(organization_id=slug, member_id=member_id, session_token=token)
    code, _ = compat.wait_for_message(phone, before, "sms")
    wrong = code[:5] + ("0" if code[5] == "9" else str(int(code[5]) + 1))
    expect_stytch_error(
        lambda: b2b.otps.sms.authenticate(organization_id=slug, member_id=member_id, code=wrong, session_token=token),
        "otp_code_not_found", 404, "wrong code")
    b2b.otps.sms.authenticate(organization_id=slug, member_id=member_id, code=code, session_token=token)
    expect_stytch_error(
        lambda: b2b.otps.sms.authenticate(organization_id=slug, member_id=member_id, code=code, session_token=token),
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
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=slug, member_id=lonely.member_id,
                                                  mfa_phone_number=random_us_number(), session_token=token),
                        "session_not_found", 404, "another member's session")
    err = expect_stytch_error(
        lambda: b2b.otps.sms.send(organization_id=slug, member_id=member_id, mfa_phone_number=random_us_number(),
                                  session_token=token),
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

    b2b.sessions.revoke(member_session_id=ms.member_session_id)
    expect_stytch_error(lambda: b2b.sessions.authenticate(session_token=token),
                        "session_not_found", 404, "b2b.sessions.authenticate after revoke")
    expect_stytch_error(lambda: b2b.otps.sms.send(organization_id=slug, member_id=member_id, session_token=token),
                        "session_not_found", 404, "a revoked session proves nothing")
    ok("revoke -> session_not_found, also as an MFA proof")

    mfa_required_flow(b2b, tag)
    consumer_attest(tag)

    fidelity(b2b, tag, org.organization_id, member_id, phone)

    print(f"python b2b sdk compat: {compat.PASSED} checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
