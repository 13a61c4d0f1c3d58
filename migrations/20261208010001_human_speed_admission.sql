-- Issue 24: people who type their codes at human speed (15-45 s after the send, some never)
-- are not refused, while a burst of never-answered sends is still stopped within its first
-- few dozen. docs/abuse.md, "Sends to new numbers: a rate gate and overdue answers", gives
-- the reasoning and the numbers.
--
-- The pending-sends budget judged every send to a new number against the answers at once, so
-- a fresh project's launch met its floor (28) before anyone could have typed a code: at 5
-- sign-ups/s and 15-45 s of typing, 75 sends are out before the first answer can arrive.
-- It becomes two rules, both for new numbers only, both under the project's pending lock
-- (exact across replicas, as before):
--   * a rate gate: a GCRA bucket per project (limit_gcra key 'pr') of p_pending_rate sends a
--     second, p_pending_burst back to back, plus p_pending_per_auth sends per new number
--     answered in the grace window (spread over the window). The first send over it pauses
--     sends to new numbers for p_pending_pause_s (key 'pp', its tat = the pause's end), and
--     refills the bucket for after the pause. People arrive at a rate; pumping arrives as a
--     burst.
--   * overdue answers: only sends older than p_pending_typing_s (people still typing) are
--     judged: unanswered = those sends - new numbers answered in the window, refused at
--     p_pending_floor + p_pending_per_auth * answered, as the old rule did for every send.
-- To tell the young sends from the old, 'pn' is now counted in 10-second buckets (a minute
-- bucket made a send count for 60-120 s). 'pa' keeps minute buckets.
--
-- Rolling upgrade: new overloads take the four new inputs; the previous otpd_admit_send
-- (which the previous builds' otpd_admit_send_for calls) runs the new rules with their
-- defaults, so old and new replicas judge the same state the same way. 'pn' rows written by
-- an old build in a minute bucket are summed like any other.

create function otpd_admit_send(
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
    pending_on boolean := p_pending_floor > 0 and p_conv_grace_s > 0;
    gate_on   boolean := p_pending_floor > 0 and p_conv_grace_s > 0
                         and p_pending_rate > 0 and p_pending_burst > 0;
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => greatest(p_burst - 1, 0) * p_interval_ms / 1000.0);
    grace     interval := make_interval(secs => p_conv_grace_s);
    typing    interval := make_interval(secs => greatest(p_pending_typing_s, 0));
    v_shard   smallint := otpd_shard();
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

        -- 5. sends to new numbers: a pause, overdue answers, then the rate gate. One read of
        -- the window: young and old sends (a bucket is old once all of it is older than the
        -- typing time), and new numbers answered.
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
                -- p_pending_rate a second, plus p_pending_per_auth per answer spread over
                -- the window.
                g_step := make_interval(secs => 1.0 / (p_pending_rate
                    + greatest(p_pending_per_auth, 0)::numeric * v_ok / p_conv_grace_s));
                g_tol := g_step * (p_pending_burst - 1);
                select g.tat into v_gate from limit_gcra g
                    where g.project_id = p_project and g.key = 'pr';
                v_gate := greatest(coalesce(v_gate, t), t);
                if v_gate - t > g_tol then
                    -- Over the rate: new numbers pause, and the bucket is full after it.
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
    insert into limit_windows (project_id, key, window_start, shard, hits)
        select p_project, k, w, s, 1 from (values
            (k_block, minute, 0::smallint, block_on and not v_known),
            (k_sent, minute, v_shard, p_conv_min_sends > 0 and p_conv_window_s > 0 and not v_known),
            ('pn', tenth, v_shard, pending_on and not v_known),
            (k_cday, day, v_shard, p_country_budget > 0),
            (k_pday, day, v_shard, p_project_budget > 0)
        ) as c (k, w, s, on_)
        where on_
        on conflict (project_id, key, window_start, shard)
            do update set hits = limit_windows.hits + 1;
end $$;

-- The previous signature (called by the previous builds' otpd_admit_send_for): the same rules
-- with the new inputs at their defaults.
create or replace function otpd_admit_send(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    p_pending_floor integer, p_pending_per_auth integer,
    out reason text, out retry_after_ms bigint)
language sql as $$
    select a.reason, a.retry_after_ms
    from otpd_admit_send(p_project, p_number, p_block, p_country, p_burst, p_interval_ms,
        p_daily_cap, p_block_max, p_block_window_s, p_conv_min_sends, p_conv_min_pct,
        p_conv_window_s, p_conv_grace_s, p_project_budget, p_country_budget,
        p_pending_floor, p_pending_per_auth, 10, 20, 60, 60) a
$$;

-- As in 20261207020002_attached_numbers.sql, with the four new inputs passed on.
create function otpd_admit_send_for(
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
begin
    created := false;
    select o.phone_id, o.user_id into phone_id, user_id from otpd_phone_owner(p_project, p_number) o;
    select not p.verified and p.attach_expires_at is not null into attached
        from phone_numbers p where p.id = phone_id;
    attached := coalesce(attached, false);
    select a.reason, a.retry_after_ms into reason, retry_after_ms
        from otpd_admit_send(p_project, p_number, p_block, p_country, p_burst, p_interval_ms,
            p_daily_cap, p_block_max, p_block_window_s, p_conv_min_sends, p_conv_min_pct,
            p_conv_window_s, p_conv_grace_s, p_project_budget, p_country_budget,
            p_pending_floor, p_pending_per_auth, p_pending_rate, p_pending_burst,
            p_pending_pause_s, p_pending_typing_s) a;
    if reason is not null then
        return;
    end if;
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
