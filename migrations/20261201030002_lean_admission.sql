-- A lean admission (docs/performance.md): no lock for a check that is off, and no lock at all
-- for the project-wide and per-country counters, which become sharded counters.
--
-- Before, every admission took advisory locks on its number, block, country and project until
-- commit, so one project's sends were serialized across all replicas behind one commit flush
-- each, even with those checks off. Now:
-- - the number's lock is taken only when a per-number limit is on, the block's only when prefix
--   velocity is on and the number is new: those stay exact (a limit per number or per block);
-- - the project's lock only for a send to a new number while the pending-sends budget is on,
--   which keeps that budget exact (it is the whole defence against a burst); returning users'
--   sends, and every send of a project with the budget off, take no project-wide lock;
-- - the counters (conversion breaker, pending sends, daily budgets) are charged with atomic
--   upserts into one of 8 shards (the backend's pid modulo 8) and read without a lock, so
--   concurrent admissions don't queue behind one hot row until each other's commit. Outside
--   the project lock above, an aggregate check may let through as many extra sends as are
--   admitted at the same instant (in flight between their read and their commit).

alter table limit_windows add column shard smallint not null default 0;
alter table limit_windows drop constraint limit_windows_pkey;
alter table limit_windows add primary key (project_id, key, window_start, shard);

-- One row of a sharded counter: the calling backend's shard, so one connection never waits
-- for another's commit unless their pids collide modulo 8.
create function otpd_shard() returns smallint
language sql volatile as $$ select (pg_backend_pid() % 8)::smallint $$;

create or replace function otpd_admit_send(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    p_pending_floor integer, p_pending_per_auth integer,
    out reason text, out retry_after_ms bigint)
language plpgsql as $$
declare
    t         timestamptz;
    day       timestamptz;
    minute    timestamptz;
    next_day  bigint;
    k_number  text := 'n:' || p_number;
    k_day     text := 'd:' || p_number;
    k_block   text := 'b:' || p_block;
    k_sent    text := 'cs:' || p_country;
    k_ok      text := 'cv:' || p_country;
    k_cday    text := 'cd:' || p_country;
    k_pday    text := 'pd';
    gcra_on   boolean := p_burst > 0 and p_interval_ms > 0;
    block_on  boolean := p_block_max > 0 and p_block_window_s > 0;
    pending_on boolean := p_pending_floor > 0 and p_conv_grace_s > 0;
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => greatest(p_burst - 1, 0) * p_interval_ms / 1000.0);
    grace     interval := make_interval(secs => p_conv_grace_s);
    v_shard   smallint := otpd_shard();
    v_known   boolean;
    v_tat     timestamptz;
    v_hits    bigint;
    v_ok      bigint;
begin
    reason := null;
    retry_after_ms := 0;

    v_known := exists (select 1 from limit_verified_numbers
                       where project_id = p_project and number = p_number);

    -- Locks only for the exact per-key checks that are on (number, then block: no deadlocks).
    if gcra_on or p_daily_cap > 0 then
        perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_number, 0));
    end if;
    if block_on and not v_known then
        perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_block, 0));
    end if;
    -- The pending-sends budget (issue 12's fast pumping signal) stays exact: sends to new
    -- numbers of one project take turns while it is on. Returning users' sends don't.
    if pending_on and not v_known then
        perform pg_advisory_xact_lock(hashtextextended(p_project || '|pn', 0));
    end if;

    t := clock_timestamp();
    day := date_trunc('day', t, 'UTC');
    minute := date_trunc('minute', t);
    next_day := ceil(extract(epoch from (day + interval '1 day' - t)) * 1000)::bigint;

    -- 1. per-number burst and rate (GCRA)
    if gcra_on then
        select greatest(tat, t) into v_tat from limit_gcra
            where project_id = p_project and key = k_number;
        v_tat := coalesce(v_tat, t);
        if v_tat - t > tolerance then
            reason := 'rate_limit';
            retry_after_ms := ceil(extract(epoch from (v_tat - t - tolerance)) * 1000)::bigint;
            return;
        end if;
    end if;

    -- 2. per-number daily cap (UTC day)
    if p_daily_cap > 0 then
        select coalesce(sum(hits), 0) into v_hits from limit_windows
            where project_id = p_project and key = k_day and window_start = day;
        if v_hits >= p_daily_cap then
            reason := 'daily_cap';
            retry_after_ms := next_day;
            return;
        end if;
    end if;

    if not v_known then
        -- 3. prefix velocity
        if block_on then
            select coalesce(sum(hits), 0) into v_hits from limit_windows
                where project_id = p_project and key = k_block
                  and window_start > t - make_interval(secs => p_block_window_s);
            if v_hits >= p_block_max then
                reason := 'prefix_velocity';
                select ceil(extract(epoch from (min(window_start) + make_interval(secs => p_block_window_s) - t)) * 1000)::bigint
                    into retry_after_ms from limit_windows
                    where project_id = p_project and key = k_block
                      and window_start > t - make_interval(secs => p_block_window_s);
                retry_after_ms := greatest(coalesce(retry_after_ms, 60000), 1000);
                return;
            end if;
        end if;

        -- 4. conversion breaker
        if p_conv_min_sends > 0 and p_conv_window_s > 0 then
            select coalesce(sum(hits), 0) into v_hits from limit_windows
                where project_id = p_project and key = k_sent
                  and window_start > t - make_interval(secs => p_conv_window_s)
                  and window_start <= t - grace;
            if v_hits >= p_conv_min_sends then
                select coalesce(sum(hits), 0) into v_ok from limit_windows
                    where project_id = p_project and key = k_ok
                      and window_start > t - make_interval(secs => p_conv_window_s);
                if v_ok * 100 < p_conv_min_pct::bigint * v_hits then
                    reason := 'conversion';
                    retry_after_ms := 60000;
                    return;
                end if;
            end if;
        end if;

        -- 5. pending sends to new numbers
        if pending_on then
            select coalesce(sum(hits) filter (where key = 'pn'), 0),
                   coalesce(sum(hits) filter (where key = 'pa'), 0)
                into v_hits, v_ok from limit_windows
                where project_id = p_project and key in ('pn', 'pa')
                  and window_start > t - grace;
            if v_hits - v_ok >= p_pending_floor + greatest(p_pending_per_auth, 0)::bigint * v_ok then
                reason := 'pending_sends';
                select ceil(extract(epoch from (min(window_start) + grace - t)) * 1000)::bigint
                    into retry_after_ms from limit_windows
                    where project_id = p_project and key = 'pn' and window_start > t - grace;
                retry_after_ms := greatest(coalesce(retry_after_ms, 60000), 1000);
                return;
            end if;
        end if;

        -- 6a. daily budget per country (new numbers only)
        if p_country_budget > 0 then
            select coalesce(sum(hits), 0) into v_hits from limit_windows
                where project_id = p_project and key = k_cday and window_start = day;
            if v_hits >= p_country_budget then
                reason := 'budget';
                retry_after_ms := next_day;
                return;
            end if;
        end if;
    end if;

    -- 6b. daily budget per project
    if p_project_budget > 0 then
        select coalesce(sum(hits), 0) into v_hits from limit_windows
            where project_id = p_project and key = k_pday and window_start = day;
        if v_hits >= p_project_budget then
            reason := 'budget';
            retry_after_ms := next_day;
            return;
        end if;
    end if;

    -- Admitted: charge what is on. Per-key rows in shard 0 (under their lock), aggregate
    -- rows in this backend's shard; always in this order.
    if gcra_on then
        insert into limit_gcra (project_id, key, tat) values (p_project, k_number, v_tat + step)
            on conflict (project_id, key) do update set tat = excluded.tat;
    end if;
    insert into limit_windows (project_id, key, window_start, shard, hits)
        select p_project, k, w, s, 1 from (values
            (k_day, day, 0::smallint, p_daily_cap > 0),
            (k_block, minute, 0::smallint, block_on and not v_known),
            (k_sent, minute, v_shard, p_conv_min_sends > 0 and p_conv_window_s > 0 and not v_known),
            ('pn', minute, v_shard, pending_on and not v_known),
            (k_cday, day, v_shard, p_country_budget > 0),
            (k_pday, day, v_shard, p_project_budget > 0)
        ) as c (k, w, s, on_)
        where on_
        on conflict (project_id, key, window_start, shard)
            do update set hits = limit_windows.hits + 1;
end $$;

-- A correct code, in one statement with everything that follows from it: the guess is given
-- back, and the first success of a number makes it verified and counts as a conversion and an
-- answered pending send (sharded).
create or replace function otpd_record_success(p_project text, p_number text, p_country text)
returns void
language plpgsql as $$
declare
    minute timestamptz := date_trunc('minute', clock_timestamp());
    v_shard smallint := otpd_shard();
begin
    insert into limit_verified_numbers (project_id, number) values (p_project, p_number)
        on conflict do nothing;
    if found then
        insert into limit_windows (project_id, key, window_start, shard, hits) values
            (p_project, 'cv:' || p_country, minute, v_shard, 1),
            (p_project, 'pa', minute, v_shard, 1)
            on conflict (project_id, key, window_start, shard)
                do update set hits = limit_windows.hits + 1;
    end if;
end $$;

-- The previous version's entry points, kept working for its replicas during a rolling upgrade.
create or replace function otpd_admit_send(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    out reason text, out retry_after_ms bigint)
language sql as $$
    select * from otpd_admit_send(p_project, p_number, p_block, p_country, p_burst, p_interval_ms,
        p_daily_cap, p_block_max, p_block_window_s, p_conv_min_sends, p_conv_min_pct,
        p_conv_window_s, p_conv_grace_s, p_project_budget, p_country_budget, 0, 0);
$$;

create or replace function otpd_record_conversion(p_project text, p_country text)
returns void
language sql as $$
    insert into limit_windows (project_id, key, window_start, shard, hits)
        values (p_project, 'cv:' || p_country, date_trunc('minute', clock_timestamp()), otpd_shard(), 1)
        on conflict (project_id, key, window_start, shard) do update set hits = limit_windows.hits + 1;
$$;

-- One authenticate attempt, in one statement: charges the method's wrong-guess budget (GCRA,
-- before anything is checked) and, when that allows it, counts an attempt against the newest
-- code and returns its hash and the hash of the code it superseded (unused and unexpired).
-- wait_ms > 0: the guess budget refused (nothing counted). found = false: no code was sent.
create function otpd_begin_attempt(
    p_project text, p_method text, p_guess_key text, p_burst integer, p_interval_ms bigint,
    out wait_ms bigint, out found_code boolean, out used boolean, out expired boolean,
    out code_id uuid, out code_hash text, out superseded_hash text)
language plpgsql as $$
declare
    v_seq bigint;
begin
    wait_ms := otpd_gcra(p_project, p_guess_key, p_burst, p_interval_ms);
    found_code := false;
    used := false;
    expired := false;
    if wait_ms > 0 then
        return;
    end if;
    select true, consumed_at is not null, expires_at <= now(), id, seq
        into found_code, used, expired, code_id, v_seq
        from passcodes
        where project_id = p_project and method_id = p_method
        order by seq desc limit 1;
    if not coalesce(found_code, false) then
        found_code := false;
        used := false;
        expired := false;
        code_id := null;
        return;
    end if;
    update passcodes p set attempts = p.attempts + 1
        where p.id = code_id
          and p.consumed_at is null
          and p.expires_at > now()
          and p.attempts < p.max_attempts
        returning p.code_hash into code_hash;
    if code_hash is null then
        code_id := null;
        return;
    end if;
    select o.code_hash into superseded_hash from passcodes o
        where o.project_id = p_project and o.method_id = p_method and o.seq < v_seq
          and o.consumed_at is null and o.expires_at > now()
        order by o.seq desc limit 1;
end $$;

-- A correct consumer code, in one statement: uses the code (if it is still live and still the
-- newest; false for every caller but one), marks the phone verified, gives the guess back and
-- records the success (otpd_record_success).
create function otpd_authenticated(
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
    with v as (
        update phone_numbers set verified = true
        where project_id = p_project and id = p_method returning user_id)
    update users set status = 'active' from v where users.id = v.user_id;
    perform otpd_record_success(p_project, p_number, p_country, p_guess_key, p_interval_ms);
    return true;
end $$;

-- otpd_record_success with the guess refund (for B2B, whose code is used in its own
-- transaction with the member's update): one statement after a success.
create function otpd_record_success(
    p_project text, p_number text, p_country text, p_guess_key text, p_interval_ms bigint)
returns void
language plpgsql as $$
begin
    if p_interval_ms > 0 then
        perform otpd_gcra_refund(p_project, p_guess_key, p_interval_ms);
    end if;
    if p_number is not null then
        perform otpd_record_success(p_project, p_number, p_country);
    end if;
end $$;

-- login_or_create for a number without a user, in one statement: the user (with default
-- profile) and its phone, or, when a concurrent call won the number, nothing new and the
-- winner's ids. created says which.
create function otpd_create_phone_user(
    p_project text, p_user text, p_phone text, p_status text, p_e164 text,
    out user_id text, out phone_id text, out created boolean)
language plpgsql as $$
begin
    insert into users (id, project_id, status) values (p_user, p_project, p_status);
    insert into phone_numbers (id, project_id, user_id, phone_number)
        values (p_phone, p_project, p_user, p_e164)
        on conflict on constraint phone_numbers_project_phone_key do nothing;
    if found then
        user_id := p_user;
        phone_id := p_phone;
        created := true;
        return;
    end if;
    delete from users where id = p_user;
    select p.user_id, p.id into user_id, phone_id from phone_numbers p
        where p.project_id = p_project and p.phone_number = p_e164;
    created := false;
end $$;
