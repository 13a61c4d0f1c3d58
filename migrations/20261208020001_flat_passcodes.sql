-- Flat at 5 M stored passcodes (docs/performance.md, "Flat at 5 M stored passcodes"). The
-- other half of it is in the code: passcodes, message records and the fake provider's outbox
-- rows get time-ordered (version 7) ids (store::row_id), so their primary keys grow at the
-- right edge instead of taking a random page of an index as large as the table's history.
--
-- 1. Room on each new page for the versions an authenticate writes (the attempt counted,
--    then the code used; neither changes an indexed column), so both are HOT updates on the
--    row's own page: no new entries in the table's three indexes, and no second page to dirty.
--    Filled to 100%, the page of a just-sent code often had no room (15% of these updates
--    at 5 M rows were not HOT), and such an update wrote its new version on another page with
--    an entry in every index.
alter table passcodes set (fillfactor = 70);
-- The same for a number's first verification (verified = true, not indexed).
alter table phone_numbers set (fillfactor = 85);

-- 2. A correct code writes only what changes: the phone is verified and a pending user made
--    active only when they aren't yet (an UPDATE that sets a column to its own value still
--    writes a whole new row version: for every returning user's sign-in, and for every new
--    user of login_or_create, who is active from the start). Otherwise as in
--    20261201030002_lean_admission.sql (same signature).
create or replace function otpd_authenticated(
    p_code uuid, p_project text, p_method text, p_number text, p_country text,
    p_guess_key text, p_interval_ms bigint)
returns boolean
language plpgsql as $$
begin
    update passcodes p set consumed_at = now()
        where p.id = p_code
          and p.consumed_at is null
          and p.expires_at > now()
          and not exists (select 1 from passcodes n
                          where n.project_id = p.project_id and n.method_id = p.method_id
                            and n.seq > p.seq);
    if not found then
        return false;
    end if;
    -- as store::users::mark_phone_verified: the phone is verified, a pending user active
    update phone_numbers set verified = true
        where project_id = p_project and id = p_method and not verified;
    update users u set status = 'active'
        from phone_numbers p
        where p.project_id = p_project and p.id = p_method and u.id = p.user_id
          and u.status <> 'active';
    perform otpd_record_success(p_project, p_number, p_country, p_guess_key, p_interval_ms);
    return true;
end $$;
