-- Issue 23: a concealed send (conceal_unknown_numbers) stores a decoy code under the phone id
-- it answers, which is no phone's. Wrong codes against that id must count attempts and turn
-- 401 after the last one, as a real number's do, so authenticate counts attempts against a
-- method's codes also when the method is no live phone. As in 20261201060001_lean_path.sql
-- otherwise (same signature: every build's call still matches).
create or replace function otpd_begin_phone_attempt(
    p_project text, p_method text, p_guess_key text, p_burst integer, p_interval_ms bigint,
    p_no_code_number text,
    out user_id text, out phone_number text,
    out wait_ms bigint, out found_code boolean, out used boolean, out expired boolean,
    out code_id uuid, out code_hash text, out superseded_hash text)
language plpgsql as $$
begin
    select p.user_id, p.phone_number into user_id, phone_number
        from live_phone_numbers p where p.project_id = p_project and p.id = p_method;
    if user_id is null then
        -- No phone: only a method with codes (a concealed send's decoy) is charged.
        if not exists (select 1 from passcodes c
                       where c.project_id = p_project and c.method_id = p_method) then
            return;
        end if;
    elsif phone_number = p_no_code_number then
        return;
    end if;
    select a.wait_ms, a.found_code, a.used, a.expired, a.code_id, a.code_hash, a.superseded_hash
        into wait_ms, found_code, used, expired, code_id, code_hash, superseded_hash
        from otpd_begin_attempt(p_project, p_method, p_guess_key, p_burst, p_interval_ms) a;
end $$;
