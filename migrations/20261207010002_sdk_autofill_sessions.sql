-- `autofill_session_duration_minutes` of a frontend-SDK send: the session length for an
-- authenticate of that code that names none (an autofilled one). One row per phone, replaced
-- by the next such send, taken (deleted) by the authenticate that uses it; rows older than
-- the longest code (10 minutes) are purged by the writes themselves, a batch at a time.

create table sdk_autofill_sessions (
    project_id  text not null references projects (id) on delete cascade,
    method_id   text not null,                   -- the phone_id the code was sent to
    minutes     integer not null,
    created_at  timestamptz not null default now(),
    constraint sdk_autofill_sessions_pkey primary key (project_id, method_id),
    constraint sdk_autofill_sessions_minutes_check check (minutes between 5 and 527040)
);
create index sdk_autofill_sessions_created_idx on sdk_autofill_sessions (created_at);
