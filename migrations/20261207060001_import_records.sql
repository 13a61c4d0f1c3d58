-- `otpd import stytch`: one row per imported user, organization or member, so a rerun can tell
-- an unchanged record from a new or changed one without comparing every column, and so the
-- fields otpd does not act on (other factors, OAuth and SSO registrations, providers) stay
-- with the project as data.

create table import_records (
    project_id  text not null references projects (id) on delete cascade,
    kind        text not null,
    object_id   text not null,                     -- the Stytch id, as imported (user_id, organization_id, member_id)
    -- SHA-256 of the source object's JSON as read: equal on a rerun means nothing to do
    fingerprint bytea not null,
    -- the whole source object as read, including the fields otpd does not act on
    source      jsonb not null,
    imported_at timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    constraint import_records_pkey primary key (project_id, kind, object_id),
    constraint import_records_kind_check check (kind in ('user', 'organization', 'member'))
);
