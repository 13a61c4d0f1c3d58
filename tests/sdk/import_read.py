#!/usr/bin/env python3
"""After `otpd import stytch`: the official Python SDK (stytch==15.3.0) reads imported objects
by their Stytch ids, unmodified, and sees the values the source had. Same environment as
compat.py, plus OTPD_IMPORT_EXPECTED: a JSON file {"users": [...], "organizations": [...],
"members": [...]} of source objects (as the source's API returned them) to read back.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stytch  # noqa: E402

import compat  # noqa: E402
from compat import expect_eq, ok  # noqa: E402


def main():
    with open(os.environ["OTPD_IMPORT_EXPECTED"]) as f:
        expected = json.load(f)
    consumer = stytch.Client(
        project_id=compat.PROJECT_ID, secret=compat.SECRET, custom_base_url=compat.BASE_URL
    )
    b2b = stytch.B2BClient(
        project_id=compat.PROJECT_ID, secret=compat.SECRET, custom_base_url=compat.BASE_URL
    )
    for u in expected["users"]:
        got = consumer.users.get(user_id=u["user_id"])
        expect_eq(got.user_id, u["user_id"], "users.get user_id")
        expect_eq(got.external_id, u.get("external_id"), "external_id")
        expect_eq(got.trusted_metadata, u["trusted_metadata"], "trusted_metadata")
        expect_eq(got.name.first_name, u["name"]["first_name"], "name")
        expect_eq(
            [(p.phone_id, p.phone_number, p.verified) for p in got.phone_numbers],
            [(p["phone_id"], p["phone_number"], p["verified"]) for p in u["phone_numbers"]],
            "phone_numbers",
        )
        expect_eq([e.email_id for e in got.emails], [e["email_id"] for e in u["emails"]], "emails")
    ok(f"users.get: {len(expected['users'])} imported users by their ids")
    for o in expected["organizations"]:
        got = b2b.organizations.get(organization_id=o["organization_id"]).organization
        expect_eq(got.organization_slug, o["organization_slug"], "slug")
        expect_eq(got.mfa_policy, o["mfa_policy"], "mfa_policy")
    ok("organizations.get: every imported organization")
    for m in expected["members"]:
        got = b2b.organizations.members.get(
            organization_id=m["organization_id"], member_id=m["member_id"]
        ).member
        expect_eq(got.mfa_phone_number, m["mfa_phone_number"], "mfa_phone_number")
        expect_eq(got.mfa_phone_number_verified, m["mfa_phone_number_verified"], "verified")
        expect_eq(got.mfa_enrolled, m["mfa_enrolled"], "mfa_enrolled")
    ok("organizations.members.get: every imported member")
    orgs = b2b.organizations.search(limit=10)
    expect_eq(len(orgs.organizations), len(expected["organizations"]), "organizations.search")
    members = b2b.organizations.members.search(
        organization_ids=[o["organization_id"] for o in expected["organizations"]], limit=5
    )
    expect_eq(len(members.members), 5, "members.search page")
    expect_eq(members.results_metadata.total, len(expected["members"]), "members.search total")
    expect_eq(bool(members.results_metadata.next_cursor), True, "members.search next_cursor")
    for mem in members.members:
        expect_eq(mem.organization_id in members.organizations, True, "members.search organizations map")
    ok("organizations.search and organizations.members.search parse in the SDK models")
    print("import_read: all checks passed")


if __name__ == "__main__":
    main()
