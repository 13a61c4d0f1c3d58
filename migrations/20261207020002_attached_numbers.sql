-- Issue 23: a number attached by send(user_id) and not yet verified is owned only for the
-- user who attached it. Before, during its 5-minute window the holder's login_or_create
-- answered the attacher's user and the holder's code verified the number onto that account.
--
-- otpd_admit_send_for now also says whether the owner it found is such an attachment
-- (`attached`), so `send` without a user id treats the number as one without a user, and an
-- admitted login_or_create ends the attachment and gives the number to a user of its own
-- (Stytch keeps an attached number only if the attaching flow authenticates it in time; the
-- holder's sign-up ends that flow). A refused send changes nothing.
--
-- Rolling upgrade: the inputs are unchanged and the new output column comes last, so a
-- previous build's call (which names its columns) still works, and gets the fix.
drop function otpd_admit_send_for(
    text, text, text, text, integer, bigint, integer, integer, integer, integer, integer,
    integer, integer, integer, integer, integer, integer, text, text, text);

create function otpd_admit_send_for(
    p_project text, p_number text, p_block text, p_country text,
    p_burst integer, p_interval_ms bigint, p_daily_cap integer,
    p_block_max integer, p_block_window_s integer,
    p_conv_min_sends integer, p_conv_min_pct integer, p_conv_window_s integer, p_conv_grace_s integer,
    p_project_budget integer, p_country_budget integer,
    p_pending_floor integer, p_pending_per_auth integer,
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
            p_pending_floor, p_pending_per_auth) a;
    if reason is not null then
        return;
    end if;
    if attached and p_new_user is not null then
        -- The holder's sign-up: the attachment ends (unless verified meanwhile, when the
        -- delete finds nothing and the verified owner is answered below).
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
