-- Issue 27, round 4 (docs/performance.md, "Round 4"). Rows a request writes at high rate and
-- retention sweeps by age no longer lock their project's row.
--
-- A foreign key check locks the referenced row FOR KEY SHARE. Every send and authenticate of
-- a project inserts into some of these five tables, so every transaction locked the same
-- `projects` row, and each transaction that found it locked by another made a new MultiXact
-- (a shared lock's member list, kept in its own SLRU and WAL-logged): with 16 sends in flight
-- that was nearly every transaction. Measured with the cheap-cost probe (16 connections,
-- 20 pooled), dropping these five keys cut PostgreSQL's CPU per send 4-8%.
--
-- What the keys did and what does it now:
--   * on delete cascade: a project's rows in these tables go with it, by the trigger below
--     (before the project row, in the same transaction).
--   * no row without its project: every write is made by a request that authenticated
--     against the project first, and every read goes through the project too. A request in
--     flight at the instant its project is deleted can still write a row after the trigger
--     ran. No request can read that row (its project's secrets are gone with it) and its
--     table's retention sweep removes it by age like any other: passcodes after their expiry
--     (plus retention.code_age_hours), messages after retention.message_age_days, outbox rows
--     after retention.outbox_age_hours, spent GCRA buckets and windows older than two days.
--   A send to a new number racing the delete can now wait on the project row (its user's
--   key) while holding a limit row the trigger deletes: PostgreSQL's deadlock detector ends
--   one of the two, either a request that would fail anyway (its project is going) or the
--   delete, which can be run again.
-- Users, phone numbers, verified numbers, sessions and every other table keep their keys:
-- those rows live until someone deletes them.

alter table passcodes drop constraint passcodes_project_id_fkey;
alter table messages drop constraint messages_project_id_fkey;
alter table sandbox_outbox drop constraint sandbox_outbox_project_id_fkey;
alter table limit_gcra drop constraint limit_gcra_project_id_fkey;
alter table limit_windows drop constraint limit_windows_project_id_fkey;

create function otpd_project_deleted() returns trigger
language plpgsql as $$
begin
    delete from passcodes where project_id = old.id;
    delete from messages where project_id = old.id;
    delete from sandbox_outbox where project_id = old.id;
    delete from limit_gcra where project_id = old.id;
    delete from limit_windows where project_id = old.id;
    return old;
end $$;

create trigger projects_delete_unlocked_rows before delete on projects
    for each row execute function otpd_project_deleted();
