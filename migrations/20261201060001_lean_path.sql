-- The lean request path (docs/performance.md): after the project is authenticated, a send is
-- two round trips and an authenticate two.
--
-- send:         1. otpd_admit_send_for: the admission, which also finds the number's owner
--                  and, for login_or_create, makes it;
--               2. (after the hash and the provider) the code and the message record, in
--                  one statement (store::passcodes::record_issued).
-- authenticate: 1. otpd_begin_phone_attempt: the phone and its owner, the guess budget and
--                  the counted attempt;
--               2. otpd_authenticate_finish: the single use, the phone verified, the
--                  success recorded, and the user as it is afterwards.

-- The numbers a user has: verified ones, ones added by users.create/update, and ones attached
-- by send(user_id) still inside their window. The one definition of that rule.
create view live_phone_numbers as
    select * from phone_numbers
    where verified or attach_expires_at is null or attach_expires_at > now();

-- The owner of a number in a project. A number attached by send(user_id) and not verified in
-- time is detached first, so it has no owner any more and login_or_create can give it to
-- whoever proves possession next.
create function otpd_phone_owner(p_project text, p_number text,
    out phone_id text, out user_id text)
language plpgsql as $$
begin
    delete from phone_numbers s
        where s.project_id = p_project and s.phone_number = p_number and not s.verified
          and s.attach_expires_at <= now();
    select p.id, p.user_id into phone_id, user_id
        from phone_numbers p where p.project_id = p_project and p.phone_number = p_number;
end $$;

-- Users with their live phones and their emails, as the API shows them.
create function otpd_users(p_project text, p_ids text[])
returns table (id text, status text, first_name text, middle_name text, last_name text,
               external_id text, trusted_metadata jsonb, untrusted_metadata jsonb,
               roles text[], created_at timestamptz, phones jsonb, emails jsonb)
language sql stable as $$
    select u.id, u.status, u.first_name, u.middle_name, u.last_name, u.external_id,
           u.trusted_metadata, u.untrusted_metadata, u.roles, u.created_at,
           coalesce((select jsonb_agg(jsonb_build_object(
                                'id', p.id, 'phone_number', p.phone_number, 'verified', p.verified)
                             order by p.created_at, p.id)
                     from live_phone_numbers p where p.user_id = u.id), '[]'::jsonb),
           coalesce((select jsonb_agg(jsonb_build_object(
                                'id', e.id, 'email', e.email, 'verified', e.verified)
                             order by e.created_at, e.id)
                     from emails e where e.user_id = u.id), '[]'::jsonb)
    from users u
    where u.project_id = p_project and u.id = any(p_ids)
$$;

-- One send's admission (otpd_admit_send, which charges every counter only when it admits),
-- and, when admitted, the number's owner; with p_new_user, a number without an owner gets a
-- new user and phone (otpd_create_phone_user: a concurrent call that won the number answers
-- with the winner's ids). A refused send creates nothing.
create function otpd_admit_send_for(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    p_pending_floor integer, p_pending_per_auth integer,
    p_new_user text, p_new_phone text, p_new_status text,
    out reason text, out retry_after_ms bigint,
    out phone_id text, out user_id text, out created boolean)
language plpgsql as $$
begin
    created := false;
    select o.phone_id, o.user_id into phone_id, user_id from otpd_phone_owner(p_project, p_number) o;
    select a.reason, a.retry_after_ms into reason, retry_after_ms
        from otpd_admit_send(p_project, p_number, p_block, p_country, p_burst, p_interval_ms,
            p_daily_cap, p_block_max, p_block_window_s, p_conv_min_sends, p_conv_min_pct,
            p_conv_window_s, p_conv_grace_s, p_project_budget, p_country_budget,
            p_pending_floor, p_pending_per_auth) a;
    if reason is not null or phone_id is not null or p_new_user is null then
        return;
    end if;
    select c.user_id, c.phone_id, c.created into user_id, phone_id, created
        from otpd_create_phone_user(p_project, p_new_user, p_new_phone, p_new_status, p_number) c;
end $$;

-- The first round trip of a consumer authenticate: the phone (if the user still has it) and
-- its owner, then, unless it is p_no_code_number (the sandbox number of a test project, whose
-- code is fixed), the guess charged and the attempt counted (otpd_begin_attempt). Without a
-- phone every attempt field is null and nothing is charged.
create function otpd_begin_phone_attempt(
    p_project text, p_method text, p_guess_key text, p_burst integer, p_interval_ms bigint,
    p_no_code_number text,
    out user_id text, out phone_number text,
    out wait_ms bigint, out found_code boolean, out used boolean, out expired boolean,
    out code_id uuid, out code_hash text, out superseded_hash text)
language plpgsql as $$
begin
    select p.user_id, p.phone_number into user_id, phone_number
        from live_phone_numbers p where p.project_id = p_project and p.id = p_method;
    if user_id is null or phone_number = p_no_code_number then
        return;
    end if;
    select a.wait_ms, a.found_code, a.used, a.expired, a.code_id, a.code_hash, a.superseded_hash
        into wait_ms, found_code, used, expired, code_id, code_hash, superseded_hash
        from otpd_begin_attempt(p_project, p_method, p_guess_key, p_burst, p_interval_ms) a;
end $$;

-- The second round trip of a consumer authenticate whose code matched: otpd_authenticated
-- (single use, phone verified, pending user active, guess refunded, success recorded), then
-- the user as it is afterwards. One row: used = false with nulls when a concurrent attempt
-- used the code first; no row when the user is gone.
create function otpd_authenticate_finish(
    p_code uuid, p_project text, p_method text, p_number text, p_country text,
    p_guess_key text, p_interval_ms bigint)
returns table (used boolean, id text, status text, first_name text, middle_name text,
               last_name text, external_id text, trusted_metadata jsonb,
               untrusted_metadata jsonb, roles text[], created_at timestamptz,
               phones jsonb, emails jsonb)
language plpgsql as $$
declare
    v_user text;
begin
    if not otpd_authenticated(p_code, p_project, p_method, p_number, p_country, p_guess_key,
                              p_interval_ms) then
        used := false;
        return next;
        return;
    end if;
    select p.user_id into v_user from phone_numbers p
        where p.project_id = p_project and p.id = p_method;
    return query select true, u.* from otpd_users(p_project, array[v_user]) u;
end $$;

