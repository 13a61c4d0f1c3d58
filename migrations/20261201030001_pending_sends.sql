-- Burst pumping (docs/abuse.md, "Pending sends to new numbers"): a project-wide budget of
-- sends to numbers that never authenticated in the project and are still waiting for their
-- code to be typed, allowed as a floor plus a multiple of the new numbers that did type
-- theirs back in the same window. Numbers already verified in the project are exempt from
-- every aggregate pumping signal, so returning users are never collateral of a pause.
--
-- The previous otpd_admit_send/otpd_record_conversion stay (other signatures) so replicas of
-- the previous version keep working during a rolling upgrade; nothing new calls them.

-- Numbers that authenticated at least once in the project (consumer phones and B2B MFA
-- phones alike). Kept while the project exists, like its users.
create table limit_verified_numbers (
    project_id   text not null references projects (id) on delete cascade,
    number       text not null,               -- E.164
    verified_at  timestamptz not null default now(),
    primary key (project_id, number)
);

insert into limit_verified_numbers (project_id, number)
    select project_id, phone_number from phone_numbers where verified
    on conflict do nothing;
insert into limit_verified_numbers (project_id, number)
    select project_id, mfa_phone_number from members
    where mfa_phone_number_verified and mfa_phone_number <> ''
    on conflict do nothing;

-- Admits one send or says why not (see 20261123000003_limits.sql for the locking scheme,
-- unchanged). New here: the number's verified status, read once; for a number never
-- verified in the project, the pending-sends budget. Window keys added: 'pn' (sends to new
-- numbers, per minute) and 'pa' (new numbers authenticated, per minute), both project-wide.
-- Sends to verified numbers are counted only by the per-number limits and the daily budgets,
-- and only the project budget can refuse them.
create function otpd_admit_send(
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
    step      interval := make_interval(secs => p_interval_ms / 1000.0);
    tolerance interval := make_interval(secs => greatest(p_burst - 1, 0) * p_interval_ms / 1000.0);
    grace     interval := make_interval(secs => p_conv_grace_s);
    v_known   boolean;
    v_tat     timestamptz;
    v_hits    bigint;
    v_ok      bigint;
begin
    reason := null;
    retry_after_ms := 0;

    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_number, 0));
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_block, 0));
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_sent, 0));
    perform pg_advisory_xact_lock(hashtextextended(p_project || '|' || k_pday, 0));

    t := clock_timestamp();
    day := date_trunc('day', t, 'UTC');
    minute := date_trunc('minute', t);
    next_day := ceil(extract(epoch from (day + interval '1 day' - t)) * 1000)::bigint;

    v_known := exists (select 1 from limit_verified_numbers
                       where project_id = p_project and number = p_number);

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

    if not v_known then
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

        -- 4. conversion breaker over the sends older than the grace (unchanged rule; it now
        --    counts new numbers only, on both sides)
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

        -- 5. pending sends: the sends the breaker can't judge yet (younger than the grace).
        --    Unanswered = sent - answered in the window; allowed while
        --    unanswered < floor + per_auth * answered.
        if p_pending_floor > 0 and p_conv_grace_s > 0 then
            select coalesce(sum(hits) filter (where key = 'pn'), 0),
                   coalesce(sum(hits) filter (where key = 'pa'), 0)
                into v_hits, v_ok from limit_windows
                where project_id = p_project and key in ('pn', 'pa')
                  and window_start > t - grace;
            if v_hits - v_ok >= p_pending_floor + greatest(p_pending_per_auth, 0)::bigint * v_ok then
                reason := 'pending_sends';
                -- when the oldest bucket leaves the window
                select ceil(extract(epoch from (min(window_start) + grace - t)) * 1000)::bigint
                    into retry_after_ms from limit_windows
                    where project_id = p_project and key = 'pn' and window_start > t - grace;
                retry_after_ms := greatest(coalesce(retry_after_ms, 60000), 1000);
                return;
            end if;
        end if;

        -- 6a. daily budget per country (verified numbers are counted, never refused)
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

    -- 6b. daily budget per project: the operator's hard ceiling, for every number
    if p_project_budget > 0 then
        select coalesce(sum(hits), 0) into v_hits from limit_windows
            where project_id = p_project and key = k_pday and window_start = day;
        if v_hits >= p_project_budget then
            reason := 'budget';
            retry_after_ms := next_day;
            return;
        end if;
    end if;

    -- Admitted: charge everything that applies.
    if p_burst > 0 and p_interval_ms > 0 then
        insert into limit_gcra (project_id, key, tat) values (p_project, k_number, v_tat + step)
            on conflict (project_id, key) do update set tat = excluded.tat;
    end if;
    if v_known then
        insert into limit_windows (project_id, key, window_start, hits) values
            (p_project, k_day, day, 1),
            (p_project, k_cday, day, 1),
            (p_project, k_pday, day, 1)
            on conflict (project_id, key, window_start) do update set hits = limit_windows.hits + 1;
    else
        insert into limit_windows (project_id, key, window_start, hits) values
            (p_project, k_day, day, 1),
            (p_project, k_block, minute, 1),
            (p_project, k_sent, minute, 1),
            (p_project, 'pn', minute, 1),
            (p_project, k_cday, day, 1),
            (p_project, k_pday, day, 1)
            on conflict (project_id, key, window_start) do update set hits = limit_windows.hits + 1;
    end if;
end $$;

-- A correct code: the first for its number in the project makes the number verified and
-- counts as one conversion (country breaker) and one answered pending send (project-wide).
-- A returning user's login changes neither.
create function otpd_record_success(p_project text, p_number text, p_country text)
returns void
language plpgsql as $$
declare
    minute timestamptz := date_trunc('minute', clock_timestamp());
begin
    insert into limit_verified_numbers (project_id, number) values (p_project, p_number)
        on conflict do nothing;
    if found then
        insert into limit_windows (project_id, key, window_start, hits) values
            (p_project, 'cv:' || p_country, minute, 1),
            (p_project, 'pa', minute, 1)
            on conflict (project_id, key, window_start) do update set hits = limit_windows.hits + 1;
    end if;
end $$;
