-- A number's per-number limits in one row (docs/performance.md): its GCRA state and its
-- sends of the current UTC day live together in limit_gcra, so an admitted send writes one
-- row for them instead of two (the bucket, plus a day window in limit_windows with its own
-- indexes and foreign key check). Measured with pgbench on the benchmark machine, 16 clients:
-- 0.70-0.84 ms of PostgreSQL CPU per admission against 0.87-0.93 before.
--
-- Exactness is unchanged: both checks still run under the number's advisory lock, read the
-- one row and charge it in the same transaction. While the GCRA is on, every admitted send
-- counts in day_hits, also with the daily cap off (turned on mid-day, it counts the day).
-- A row whose tat has passed still holds today's count: retention keeps it until its day is
-- over (store::retention::delete_spent_buckets).
--
-- Rolling upgrade: otpd_admit_send keeps its signature, and every entry point (the previous
-- builds' included) calls it, so old and new replicas charge the same row once this migration
-- has run. Only retention differs: a previous build's pass deletes rows whose tat has passed
-- even when they hold today's count, which lets that number be sent to again before its cap
-- until the upgrade completes.

alter table limit_gcra
    add column day date,
    add column day_hits integer not null default 0;

-- Today's counts move over from the day windows (which nothing reads any more; retention
-- removes them with the other old windows).
insert into limit_gcra as g (project_id, key, tat, day, day_hits)
    select w.project_id, 'n:' || substr(w.key, 3), now(),
           (w.window_start at time zone 'UTC')::date, sum(w.hits)::integer
    from limit_windows w
    where w.key like 'd:%' and w.window_start = date_trunc('day', now(), 'UTC')
    group by w.project_id, w.key, w.window_start
    on conflict (project_id, key) do update
        set day = excluded.day, day_hits = excluded.day_hits;

-- As in 20261201030002_lean_admission.sql, with checks 1 and 2 on the number's one row.
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
    today     date;
    v_day     date;
    v_day_hits integer;
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
    if gcra_on or p_daily_cap > 0 then
        insert into limit_gcra as g (project_id, key, tat, day, day_hits)
            values (p_project, k_number, case when gcra_on then v_tat + step else t end, today, 1)
            on conflict (project_id, key) do update
                set tat = excluded.tat,
                    day = excluded.day,
                    day_hits = case when g.day = excluded.day then g.day_hits + 1 else 1 end;
    end if;
    insert into limit_windows (project_id, key, window_start, shard, hits)
        select p_project, k, w, s, 1 from (values
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
