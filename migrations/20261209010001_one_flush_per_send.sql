-- Issue 27, round 3 (docs/performance.md, "Round 3: one WAL flush per send"). Same
-- signatures as before, so old and new replicas call the same functions during a rolling
-- upgrade.
--
-- 1. One WAL flush per send instead of three. A send committed three times (the admission,
--    the fake provider's outbox row, the code with its message record), and each synchronous
--    commit waits for its own WAL flush: on this VM's disk ~100-250 us of PostgreSQL CPU per
--    flush (fdatasync through ext4 and virtio), more than any statement of the send. The
--    admission now commits asynchronously (its commit record is in the WAL at once, flushed by
--    the WAL writer within 3 x wal_writer_delay). The code's commit stays synchronous, and the
--    WAL is flushed in order, so when a send answers success its admission, the user it made
--    and the outbox row are durable too: nothing a caller was told can vanish in a crash. What
--    a database crash can lose is the charge of a send still in flight, whose code is not
--    stored (that send fails) although its message may be out; a refusal's pause row
--    likewise. An otpd crash loses nothing (the commit is in PostgreSQL's WAL buffers).
--    Authenticate is unchanged: a counted attempt is flushed before its answer.
--
-- 2. The admission probes the number's phone row once (the owner, and whether it is an
--    unverified attachment, lapsed or not) instead of three times, and skips the counter
--    upsert when no counted rule is on (the benchmark's projects, and a project with the
--    pumping rules off).
--
-- 3. Counters a correct code adds (otpd_record_success: conversions and answered new
--    numbers) go to any row of their window that no other transaction holds, else to one of
--    this backend's own (otpd_window_hit). A counter row locked by another authenticate was
--    held until that transaction's WAL flush, and 8 rows chosen by backend pid made 16-40
--    pooled backends wait on each other (2.6-3.5 ms of a 3.6-4.4 ms finish statement). Sums
--    are unchanged: every hit lands in exactly one row, and readers sum a window's rows.
--
-- 4. otpd_gcra_refund becomes PL/pgSQL: as an SQL function called from PL/pgSQL its UPDATE was
--    parsed and planned on every call; PL/pgSQL keeps the plan.
--
-- 5. Fewer statements per authenticate: a key's first GCRA charge (every method's first guess
--    within its hour) is one insert instead of insert, select for update and update; and a
--    correct code (otpd_authenticated) reads the phone and its user once and writes only what
--    changes.

create or replace function otpd_gcra_refund(p_project text, p_key text, p_interval_ms bigint)
returns void
language plpgsql as $$
begin
    update limit_gcra set tat = tat - make_interval(secs => p_interval_ms / 1000.0)
        where project_id = p_project and key = p_key;
end $$;

create function otpd_window_hit(p_project text, p_key text, p_window timestamptz)
returns void
language plpgsql as $$
begin
    update limit_windows w set hits = w.hits + 1
        where w.ctid = (select c.ctid from limit_windows c
                        where c.project_id = p_project and c.key = p_key
                          and c.window_start = p_window
                        limit 1 for update skip locked);
    if found then
        return;
    end if;
    -- Every row of the window is held (or there is none): this backend's own row. Shards
    -- 0-7 are the previous builds' (pid % 8); this range keeps clear of them.
    insert into limit_windows (project_id, key, window_start, shard, hits)
        values (p_project, p_key, p_window, (8 + pg_backend_pid() % 4096)::smallint, 1)
        on conflict (project_id, key, window_start, shard)
            do update set hits = limit_windows.hits + 1;
end $$;

-- As in 20261201030002_lean_admission.sql, with the counters through otpd_window_hit.
create or replace function otpd_record_success(p_project text, p_number text, p_country text)
returns void
language plpgsql as $$
declare
    minute timestamptz;
begin
    insert into limit_verified_numbers (project_id, number) values (p_project, p_number)
        on conflict do nothing;
    if found then
        minute := date_trunc('minute', clock_timestamp());
        perform otpd_window_hit(p_project, 'cv:' || p_country, minute);
        perform otpd_window_hit(p_project, 'pa', minute);
    end if;
end $$;

-- As in 20261208010001_human_speed_admission.sql, but with the backend's shard computed in
-- place and no counter upsert when no counted rule is on.
create or replace function otpd_admit_send(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    p_pending_floor integer, p_pending_per_auth integer,
    p_pending_rate integer, p_pending_burst integer, p_pending_pause_s integer,
    p_pending_typing_s integer,
    out reason text, out retry_after_ms bigint)
language plpgsql as $$
declare
    t         timestamptz;
    day       timestamptz;
    minute    timestamptz;
    tenth     timestamptz;
    next_day  bigint;
    k_number  text := 'n:' || p_number;
    k_block   text := 'b:' || p_block;
    k_sent    text := 'cs:' || p_country;
    k_ok      text := 'cv:' || p_country;
    k_cday    text := 'cd:' || p_country;
    k_pday    text := 'pd';
    gcra_on   boolean := p_burst > 0 and p_interval_ms > 0;
    block_on  boolean := p_block_max > 0 and p_block_window_s > 0;
    conv_on   boolean := p_conv_min_sends > 0 and p_conv_window_s > 0;
    pending_on boolean := p_pending_floor > 0 and p_conv_grace_s > 0;
    gate_on   boolean := p_pending_floor > 0 and p_conv_grace_s > 0
                         and p_pending_rate > 0 and p_pending_burst > 0;
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => greatest(p_burst - 1, 0) * p_interval_ms / 1000.0);
    grace     interval := make_interval(secs => p_conv_grace_s);
    typing    interval := make_interval(secs => greatest(p_pending_typing_s, 0));
    v_shard   smallint := (pg_backend_pid() % 8)::smallint;
    v_known   boolean;
    v_tat     timestamptz;
    v_hits    bigint;
    v_ok      bigint;
    v_old     bigint;
    v_pause   timestamptz;
    v_gate    timestamptz;
    g_step    interval;
    g_tol     interval;
    today     date;
    v_day     date;
    v_day_hits integer;
begin
    reason := null;
    retry_after_ms := 0;

    v_known := exists (select 1 from limit_verified_numbers
                       where project_id = p_project and number = p_number);

    -- Locks only for the exact per-key checks that are on (number, then block, then the
    -- project's new-number lock: no deadlocks).
    if gcra_on or p_daily_cap > 0 then
        perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_number, 0));
    end if;
    if block_on and not v_known then
        perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_block, 0));
    end if;
    if pending_on and not v_known then
        perform pg_advisory_xact_lock(hashtextextended(p_project || '|pn', 0));
    end if;

    t := clock_timestamp();
    day := date_trunc('day', t, 'UTC');
    minute := date_trunc('minute', t);
    tenth := date_bin('10 seconds', t, timestamptz '2000-01-01 00:00:00+00');
    today := (t at time zone 'UTC')::date;
    next_day := ceil(extract(epoch from (day + interval '1 day' - t)) * 1000)::bigint;

    -- 1. per-number burst and rate (GCRA)
    if gcra_on or p_daily_cap > 0 then
        select g.tat, g.day, g.day_hits into v_tat, v_day, v_day_hits from limit_gcra g
            where g.project_id = p_project and g.key = k_number;
    end if;
    if gcra_on then
        v_tat := greatest(coalesce(v_tat, t), t);
        if v_tat - t > tolerance then
            reason := 'rate_limit';
            retry_after_ms := ceil(extract(epoch from (v_tat - t - tolerance)) * 1000)::bigint;
            return;
        end if;
    end if;

    -- 2. per-number daily cap (UTC day)
    if p_daily_cap > 0 and v_day = today then
        if v_day_hits >= p_daily_cap then
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
        if conv_on then
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

        -- 5. sends to new numbers: a pause, overdue answers, then the rate gate.
        if pending_on then
            if gate_on then
                select g.tat into v_pause from limit_gcra g
                    where g.project_id = p_project and g.key = 'pp';
                if v_pause > t then
                    reason := 'new_number_rate';
                    retry_after_ms := greatest(ceil(extract(epoch from (v_pause - t)) * 1000)::bigint, 1000);
                    return;
                end if;
            end if;
            select coalesce(sum(hits) filter (where key = 'pn' and (p_pending_typing_s <= 0
                       or window_start + interval '10 seconds' <= t - typing)), 0),
                   coalesce(sum(hits) filter (where key = 'pa'), 0)
                into v_old, v_ok from limit_windows
                where project_id = p_project and key in ('pn', 'pa')
                  and window_start > t - grace;
            if v_old - v_ok >= p_pending_floor + greatest(p_pending_per_auth, 0)::bigint * v_ok then
                reason := 'pending_sends';
                select ceil(extract(epoch from (min(window_start) + grace - t)) * 1000)::bigint
                    into retry_after_ms from limit_windows
                    where project_id = p_project and key = 'pn' and window_start > t - grace;
                retry_after_ms := greatest(coalesce(retry_after_ms, 60000), 1000);
                return;
            end if;
            if gate_on then
                g_step := make_interval(secs => 1.0 / (p_pending_rate
                    + greatest(p_pending_per_auth, 0)::numeric * v_ok / p_conv_grace_s));
                g_tol := g_step * (p_pending_burst - 1);
                select g.tat into v_gate from limit_gcra g
                    where g.project_id = p_project and g.key = 'pr';
                v_gate := greatest(coalesce(v_gate, t), t);
                if v_gate - t > g_tol then
                    insert into limit_gcra as g (project_id, key, tat)
                        values (p_project, 'pp', t + make_interval(secs => greatest(p_pending_pause_s, 1))),
                               (p_project, 'pr', t)
                        on conflict (project_id, key) do update set tat = excluded.tat;
                    reason := 'new_number_rate';
                    retry_after_ms := greatest(p_pending_pause_s, 1)::bigint * 1000;
                    return;
                end if;
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
    if gcra_on or p_daily_cap > 0 then
        insert into limit_gcra as g (project_id, key, tat, day, day_hits)
            values (p_project, k_number, case when gcra_on then v_tat + step else t end, today, 1)
            on conflict (project_id, key) do update
                set tat = excluded.tat,
                    day = excluded.day,
                    day_hits = case when g.day = excluded.day then g.day_hits + 1 else 1 end;
    end if;
    if gate_on and not v_known then
        insert into limit_gcra as g (project_id, key, tat)
            values (p_project, 'pr', v_gate + g_step)
            on conflict (project_id, key) do update set tat = excluded.tat;
    end if;
    if ((block_on or conv_on or pending_on) and not v_known)
            or p_country_budget > 0 or p_project_budget > 0 then
        insert into limit_windows (project_id, key, window_start, shard, hits)
            select p_project, k, w, s, 1 from (values
                (k_block, minute, 0::smallint, block_on and not v_known),
                (k_sent, minute, v_shard, conv_on and not v_known),
                ('pn', tenth, v_shard, pending_on and not v_known),
                (k_cday, day, v_shard, p_country_budget > 0),
                (k_pday, day, v_shard, p_project_budget > 0)
            ) as c (k, w, s, on_)
            where on_
            on conflict (project_id, key, window_start, shard)
                do update set hits = limit_windows.hits + 1;
    end if;
end $$;

-- As in 20261208010001_human_speed_admission.sql, with (1) and (2) above.
create or replace function otpd_admit_send_for(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    p_pending_floor integer, p_pending_per_auth integer,
    p_pending_rate integer, p_pending_burst integer, p_pending_pause_s integer,
    p_pending_typing_s integer,
    p_new_user text, p_new_phone text, p_new_status text,
    out reason text, out retry_after_ms bigint,
    out phone_id text, out user_id text, out created boolean, out attached boolean)
language plpgsql as $$
declare
    v_verified boolean;
    v_expires  timestamptz;
begin
    -- (1): this transaction's commit does not wait for its WAL flush; see the top.
    perform set_config('synchronous_commit', 'off', true);
    created := false;
    attached := false;
    -- The owner. An attachment by send(user_id) not verified within its 5 minutes is no
    -- owner: it is detached.
    select p.id, p.user_id, p.verified, p.attach_expires_at
        into phone_id, user_id, v_verified, v_expires
        from phone_numbers p where p.project_id = p_project and p.phone_number = p_number;
    if phone_id is not null and not v_verified and v_expires <= now() then
        delete from phone_numbers p
            where p.id = phone_id and not p.verified and p.attach_expires_at <= now();
        phone_id := null;
        user_id := null;
    elsif phone_id is not null then
        attached := not v_verified and v_expires is not null;
    end if;
    select a.reason, a.retry_after_ms into reason, retry_after_ms
        from otpd_admit_send(p_project, p_number, p_block, p_country, p_burst, p_interval_ms,
            p_daily_cap, p_block_max, p_block_window_s, p_conv_min_sends, p_conv_min_pct,
            p_conv_window_s, p_conv_grace_s, p_project_budget, p_country_budget,
            p_pending_floor, p_pending_per_auth, p_pending_rate, p_pending_burst,
            p_pending_pause_s, p_pending_typing_s) a;
    if reason is not null then
        return;
    end if;
    -- login_or_create by the number's holder ends another user's unverified attachment.
    if attached and p_new_user is not null then
        delete from phone_numbers p where p.id = phone_id and not p.verified;
        phone_id := null;
        user_id := null;
        attached := false;
    end if;
    if phone_id is not null or p_new_user is null then
        return;
    end if;
    select c.user_id, c.phone_id, c.created into user_id, phone_id, created
        from otpd_create_phone_user(p_project, p_new_user, p_new_phone, p_new_status, p_number) c;
end $$;

-- As in 20261123000003_limits.sql, with (5): a key without a bucket is charged by its insert.
create or replace function otpd_gcra(p_project text, p_key text, p_burst integer, p_interval_ms bigint)
returns bigint
language plpgsql as $$
declare
    t         timestamptz;
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => (p_burst - 1) * p_interval_ms / 1000.0);
    v_tat     timestamptz;
begin
    if p_burst <= 0 or p_interval_ms <= 0 then
        return 0;
    end if;
    -- An empty bucket always conforms (burst >= 1): charge it as it is made.
    insert into limit_gcra (project_id, key, tat) values (p_project, p_key, clock_timestamp() + step)
        on conflict (project_id, key) do nothing;
    if found then
        return 0;
    end if;
    select tat into v_tat from limit_gcra
        where project_id = p_project and key = p_key for update;
    -- The clock is read after the lock: time spent waiting must not count against us.
    t := clock_timestamp();
    v_tat := greatest(v_tat, t);
    if v_tat - t > tolerance then
        return ceil(extract(epoch from (v_tat - t - tolerance)) * 1000)::bigint;
    end if;
    update limit_gcra set tat = v_tat + step where project_id = p_project and key = p_key;
    return 0;
end $$;

-- As in 20261208020001_flat_passcodes.sql (same signature; otpd_authenticate_finish calls it),
-- with (5): the phone and its user read once, and a row written only when it changes.
create or replace function otpd_authenticated(
    p_code uuid, p_project text, p_method text, p_number text, p_country text,
    p_guess_key text, p_interval_ms bigint)
returns boolean
language plpgsql as $$
declare
    v_user     text;
    v_verified boolean;
    v_status   text;
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
    -- as store::users::mark_phone_verified: the phone verified, a pending user made active
    select ph.user_id, ph.verified, u.status into v_user, v_verified, v_status
        from phone_numbers ph left join users u on u.id = ph.user_id
        where ph.project_id = p_project and ph.id = p_method;
    if not v_verified then
        update phone_numbers ph set verified = true
            where ph.project_id = p_project and ph.id = p_method and not ph.verified;
    end if;
    if v_status <> 'active' then
        update users u set status = 'active' where u.id = v_user and u.status <> 'active';
    end if;
    perform otpd_record_success(p_project, p_number, p_country, p_guess_key, p_interval_ms);
    return true;
end $$;
