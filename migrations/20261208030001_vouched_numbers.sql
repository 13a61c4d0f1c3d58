-- Issue 24 item 3: numbers a backend vouched for are judged as known, not as a stranger's
-- sign-up. A number becomes known to the abuse rules (a row here, which is all the admission
-- reads) in one of three ways, recorded so operators can tell them apart:
--   'verified' a code sent to it was authenticated in the project (otpd_record_success), or
--              it was a verified phone when the table was made;
--   'vouched'  the backend put it on a user or member with the project secret
--              (users.create, send with a user id or a /v1 session, members.create/update,
--              B2B sms/send on /v1), never through the public-token surface;
--   'imported' `otpd import stytch` wrote it on an imported user or member, verified or not.
-- Being known changes only how the limits judge the number (the pumping signals skip it and
-- its first authentication is no conversion); it never makes a phone verified or owned.
--
-- `source` records how the row was first made: `insert … on conflict do nothing` everywhere,
-- so a verified number stays 'verified', and a vouched one that later authenticates stays
-- 'vouched' (otpd_record_success finds the row and counts no conversion, as intended).
-- Rows the import wrote before this migration were verified phones and keep 'verified'.
--
-- Rolling upgrade: a previous build inserts (project_id, number) only, which the default
-- makes a 'verified' row, exactly what it meant.
alter table limit_verified_numbers
    add column source text not null default 'verified',
    add constraint limit_verified_numbers_source_check
        check (source in ('verified', 'vouched', 'imported'));

comment on column limit_verified_numbers.source is
    'how the number became known: verified (authenticated here), vouched (put on a user or member with the project secret), imported';
comment on column limit_verified_numbers.verified_at is
    'when the number became known to the abuse rules, whatever the source';
