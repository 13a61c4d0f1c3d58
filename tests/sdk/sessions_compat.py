#!/usr/bin/env python3
"""otpd sessions with the official Stytch Python SDK (stytch==15.3.0), unmodified.

Same environment as compat.py (whose helpers it reuses). Consumer flow: login_or_create →
otps.authenticate with session_duration_minutes → sessions.authenticate (token) →
sessions.authenticate_jwt verified locally with the JWKS the SDK fetches from otpd →
a send with session_token adds a number to the signed-in user → revoke →
sessions.authenticate fails with session_not_found.

Exits 0 and prints "python sdk sessions: N checks passed" on success.
"""

import sys

import requests
from stytch.core.response_base import StytchError

import compat
from compat import (
    CheckFailed,
    expect,
    expect_eq,
    expect_stytch_error,
    make_client,
    ok,
    random_us_number,
    wait_for_message,
)

SANDBOX_SESSION_TOKEN = "WJtR5BCy38Szd5AfoDpf0iqFKEt4EE5JhjlWUY7l3FtY"


def main():
    client = make_client(compat.SECRET)
    P = random_us_number()
    N = random_us_number()

    res = client.otps.sms.login_or_create(phone_number=P)
    user_id, phone_id = res.user_id, res.phone_id
    code, _ = wait_for_message(P, None, "sms")
    res = client.otps.authenticate(
        method_id=phone_id, code=code, session_duration_minutes=60,
        session_custom_claims={"plan": "pro"},
    )
    token, jwt, session = res.session_token, res.session_jwt, res.session
    expect(len(token) == 44, "session_token length", token)
    expect(jwt.count(".") == 2, "session_jwt is a JWT", jwt)
    expect(session is not None and session.session_id.startswith("session-test-"), "session", repr(session))
    expect_eq(session.user_id, user_id, "session.user_id")
    expect_eq(session.custom_claims, {"plan": "pro"}, "session.custom_claims")
    factor = session.authentication_factors[0]
    expect_eq((factor.type.value, factor.delivery_method.value), ("otp", "sms"), "factor")
    expect_eq(factor.phone_number_factor.phone_number, P, "factor phone")
    delta = (session.expires_at - session.started_at).total_seconds()
    expect(abs(delta - 3600) <= 2, "session lasts 60 minutes", str(delta))
    ok("otps.authenticate(session_duration_minutes=60) -> token, JWT, session with the OTP factor")

    res = client.sessions.authenticate(session_token=token)
    expect_eq(res.session.session_id, session.session_id, "sessions.authenticate(token) session_id")
    expect_eq(res.user.user_id, user_id, "sessions.authenticate(token) user")
    expect(res.session_jwt.count(".") == 2, "sessions.authenticate returns a fresh JWT")
    ok("sessions.authenticate(session_token) -> the session, its user, a fresh JWT")

    local = client.sessions.authenticate_jwt_local(session_jwt=jwt)
    expect(local is not None, "authenticate_jwt_local verified the JWT with otpd's JWKS")
    expect_eq(local.session_id, session.session_id, "authenticate_jwt_local session_id")
    expect_eq(local.user_id, user_id, "authenticate_jwt_local user_id")
    expect_eq(local.custom_claims, {"plan": "pro"}, "authenticate_jwt_local custom_claims")
    res = client.sessions.authenticate_jwt(session_jwt=jwt)
    # request_id "" is the SDK's mark of a local (not remote) verification.
    expect_eq(res.request_id, "", "authenticate_jwt verified locally")
    expect_eq(res.session.session_id, session.session_id, "authenticate_jwt session_id")
    ok("sessions.authenticate_jwt -> verified locally with the JWKS fetched from otpd")

    res = client.sessions.get(user_id=user_id)
    expect_eq([s.session_id for s in res.sessions], [session.session_id], "sessions.get")
    ok("sessions.get(user_id) -> the live session")

    res = client.otps.sms.send(phone_number=N, session_token=token)
    expect_eq(res.user_id, user_id, "send with session_token: user_id")
    code_n, _ = wait_for_message(N, None, "sms")
    res = client.otps.authenticate(method_id=res.phone_id, code=code_n, session_token=token)
    expect_eq(res.session.session_id, session.session_id, "authenticate with session_token: same session")
    expect_eq(len(res.session.authentication_factors), 2, "the session has both phone factors")
    numbers = sorted(p.phone_number for p in client.users.get(user_id=user_id).phone_numbers)
    expect_eq(numbers, sorted([P, N]), "the signed-in user has both numbers")
    ok("otps.sms.send(session_token) + authenticate -> number added to the signed-in user")

    res = client.sessions.revoke(session_token=token)
    expect_eq(res.status_code, 200, "sessions.revoke status_code")
    expect_stytch_error(
        lambda: client.sessions.authenticate(session_token=token),
        "session_not_found", 404, "sessions.authenticate after revoke",
    )
    expect_stytch_error(
        lambda: client.sessions.authenticate(session_jwt=jwt),
        "session_not_found", 404, "sessions.authenticate(JWT) after revoke",
    )
    ok("sessions.revoke -> sessions.authenticate raises session_not_found 404")

    res = client.sessions.authenticate(session_token=SANDBOX_SESSION_TOKEN)
    expect_eq(res.status_code, 200, "sandbox session token")
    ok("Stytch's sandbox session_token authenticates in a test project")

    print(f"python sdk sessions: {compat.PASSED} checks passed", flush=True)


if __name__ == "__main__":
    try:
        main()
    except CheckFailed as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
    except StytchError as e:
        print(f"FAIL: unexpected StytchError: {e!r} body={e.details.original_json}", file=sys.stderr)
        sys.exit(1)
    except requests.exceptions.SSLError as e:
        print(f"FAIL: TLS verification failed: {e}", file=sys.stderr)
        sys.exit(1)
    except Exception as e:  # pydantic.ValidationError etc.
        import traceback
        traceback.print_exc()
        print(f"FAIL: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
