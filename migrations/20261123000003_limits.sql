-- Abuse protection that must hold across replicas: per-number GCRA buckets, windowed
-- counters (daily caps, prefix velocity, conversion, budgets), and the one function that
-- admits a send, so every check costs a single round trip and is decided atomically.

-- Generic cell rate algorithm state: `tat` is the theoretical arrival time of the next
-- request. A row whose tat is in the past is the same as no row (retention deletes those).
create table limit_gcra (
    project_id  text not null references projects (id) on delete cascade,
    key         text not null,               -- 'n:<e164>' sends, 'g:<method id>' wrong guesses
    tat         timestamptz not null,
    primary key (project_id, key)
);
create index limit_gcra_tat_idx on limit_gcra (tat);

-- Fixed windows (a UTC day) and one-minute buckets summed into rolling windows.
create table limit_windows (
    project_id    text not null references projects (id) on delete cascade,
    key           text not null,             -- see otpd_admit_send for the key shapes
    window_start  timestamptz not null,
    hits          integer not null,
    primary key (project_id, key, window_start)
);
create index limit_windows_start_idx on limit_windows (window_start);

-- One GCRA step: charges the bucket if it conforms. Returns 0 when admitted, else the
-- milliseconds until it would conform. A burst or interval of 0 disables the limit.
create function otpd_gcra(p_project text, p_key text, p_burst integer, p_interval_ms bigint)
returns bigint
language plpgsql as $$
declare
    t         timestamptz := clock_timestamp();
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => (p_burst - 1) * p_interval_ms / 1000.0);
    v_tat     timestamptz;
begin
    if p_burst <= 0 or p_interval_ms <= 0 then
        return 0;
    end if;
    insert into limit_gcra (project_id, key, tat) values (p_project, p_key, t)
        on conflict (project_id, key) do nothing;
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

-- Gives back one unit of a GCRA bucket (a correct guess is not a wrong guess).
create function otpd_gcra_refund(p_project text, p_key text, p_interval_ms bigint)
returns void
language sql as $$
    update limit_gcra set tat = tat - make_interval(secs => p_interval_ms / 1000.0)
        where project_id = p_project and key = p_key;
$$;

-- Admits one send or says why not. Every check is read under row locks taken in a fixed
-- order (number, block, country, project: no deadlocks), and only when all pass are the
-- counters charged, so a refused send costs nothing and N concurrent sends on any number of
-- replicas are admitted exactly as if they came one by one. A limit of 0 is off.
-- Returns (reason, retry_after_ms); reason is null when the send is admitted.
create function otpd_admit_send(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
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
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => greatest(p_burst - 1, 0) * p_interval_ms / 1000.0);
    v_tat     timestamptz;
    v_hits    bigint;
    v_ok      bigint;
begin
    reason := null;
    retry_after_ms := 0;

    -- Serialize per key; advisory locks also cover keys that have no row yet.
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_number, 0));
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_block, 0));
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_sent, 0));
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_pday, 0));

    -- The clock is read after the locks, so time spent waiting for them doesn't count.
    t := clock_timestamp();
    day := date_trunc('day', t, 'UTC');
    minute := date_trunc('minute', t);
    next_day := ceil(extract(epoch from (day + interval '1 day' - t)) * 1000)::bigint;

    -- 1. per-number burst and rate (GCRA)
    if p_burst > 0 and p_interval_ms > 0 then
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

    -- 3. prefix velocity: sends into the number's block in the rolling window
    if p_block_max > 0 and p_block_window_s > 0 then
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

    -- 4. conversion breaker: of the sends old enough to have been answered, too few were
    --    authenticated. Sends refused here aren't counted, so old sends age out and the
    --    breaker closes by itself within the window (or an operator clears it).
    if p_conv_min_sends > 0 and p_conv_window_s > 0 then
        select coalesce(sum(hits), 0) into v_hits from limit_windows
            where project_id = p_project and key = k_sent
              and window_start > t - make_interval(secs => p_conv_window_s)
              and window_start <= t - make_interval(secs => p_conv_grace_s);
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

    -- 5. daily budgets per country and per project
    if p_country_budget > 0 then
        select coalesce(sum(hits), 0) into v_hits from limit_windows
            where project_id = p_project and key = k_cday and window_start = day;
        if v_hits >= p_country_budget then
            reason := 'budget';
            retry_after_ms := next_day;
            return;
        end if;
    end if;
    if p_project_budget > 0 then
        select coalesce(sum(hits), 0) into v_hits from limit_windows
            where project_id = p_project and key = k_pday and window_start = day;
        if v_hits >= p_project_budget then
            reason := 'budget';
            retry_after_ms := next_day;
            return;
        end if;
    end if;

    -- Admitted: charge everything.
    if p_burst > 0 and p_interval_ms > 0 then
        insert into limit_gcra (project_id, key, tat) values (p_project, k_number, v_tat + step)
            on conflict (project_id, key) do update set tat = excluded.tat;
    end if;
    insert into limit_windows (project_id, key, window_start, hits) values
        (p_project, k_day, day, 1),
        (p_project, k_block, minute, 1),
        (p_project, k_sent, minute, 1),
        (p_project, k_cday, day, 1),
        (p_project, k_pday, day, 1)
        on conflict (project_id, key, window_start) do update set hits = limit_windows.hits + 1;
end $$;

-- Counts an authenticated code toward its country's conversion rate.
create function otpd_record_conversion(p_project text, p_country text)
returns void
language sql as $$
    insert into limit_windows (project_id, key, window_start, hits)
        values (p_project, 'cv:' || p_country, date_trunc('minute', clock_timestamp()), 1)
        on conflict (project_id, key, window_start) do update set hits = limit_windows.hits + 1;
$$;
