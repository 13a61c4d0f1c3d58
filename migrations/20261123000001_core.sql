-- Core schema: projects and their API secrets, consumer users with phone numbers,
-- passcodes (hashes only), sent messages and the fake provider's outbox.

create table projects (
    id          text primary key,                 -- project-test-<uuid> / project-live-<uuid>
    name        text not null,
    live        boolean not null,                  -- decides id prefixes and whether sandbox values work
    settings    jsonb not null default '{}'::jsonb, -- brand, countries, autofill, limits (see domain::ProjectSettings)
    created_at  timestamptz not null default now()
);

create table project_secrets (
    id          text primary key,                  -- secret-id-<env>-<uuid>: what an operator revokes
    project_id  text not null references projects (id) on delete cascade,
    -- HMAC-SHA256 of the secret under a key derived from the server pepper; the secret itself is never stored
    secret_hash bytea not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz
);
create index project_secrets_active_idx on project_secrets (project_id) where revoked_at is null;

create table users (
    id                 text primary key,            -- user-<env>-<uuid>
    project_id         text not null references projects (id) on delete cascade,
    status             text not null default 'active',
    first_name         text not null default '',
    middle_name        text not null default '',
    last_name          text not null default '',
    external_id        text,
    trusted_metadata   jsonb not null default '{}'::jsonb,
    untrusted_metadata jsonb not null default '{}'::jsonb,
    created_at         timestamptz not null default now(),
    constraint users_status_check check (status in ('active', 'pending')),
    constraint users_external_id_key unique (project_id, external_id)
);

create table emails (
    id          text primary key,                   -- email-<env>-<uuid>
    project_id  text not null references projects (id) on delete cascade,
    user_id     text not null references users (id) on delete cascade,
    email       text not null,
    verified    boolean not null default false,
    created_at  timestamptz not null default now(),
    constraint emails_project_email_key unique (project_id, email)
);
create index emails_user_idx on emails (user_id);

create table phone_numbers (
    id           text primary key,                  -- phone-number-<env>-<uuid>
    project_id   text not null references projects (id) on delete cascade,
    user_id      text not null references users (id) on delete cascade,
    phone_number text not null,                     -- E.164
    verified     boolean not null default false,
    created_at   timestamptz not null default now(),
    -- a number identifies at most one user in a project (login_or_create relies on it)
    constraint phone_numbers_project_phone_key unique (project_id, phone_number)
);
create index phone_numbers_user_idx on phone_numbers (user_id);

create table passcodes (
    id           uuid primary key,
    -- insertion order; the newest row for a method is its only live code (older ones are superseded)
    seq          bigserial not null,
    project_id   text not null references projects (id) on delete cascade,
    method_id    text not null,                     -- phone_id for consumer, member id for B2B
    channel      text not null,
    code_hash    text not null,                     -- argon2id PHC string, peppered
    attempts     integer not null default 0,        -- incremented before the hash is checked
    max_attempts integer not null,
    expires_at   timestamptz not null,
    consumed_at  timestamptz,
    created_at   timestamptz not null default now(),
    constraint passcodes_channel_check check (channel in ('sms', 'whatsapp'))
);
create index passcodes_method_idx on passcodes (project_id, method_id, seq desc);
create index passcodes_expires_idx on passcodes (expires_at);

create table messages (
    id                  uuid primary key,
    project_id          text not null references projects (id) on delete cascade,
    channel             text not null,
    to_number           text not null,
    provider            text not null,
    provider_message_id text,
    status              text not null,
    segments            integer not null,
    encoding            text not null,
    created_at          timestamptz not null default now()
);
create index messages_created_idx on messages (created_at);

-- Only the fake provider writes here: staging reads codes back through /v1/sandbox/messages.
create table sandbox_outbox (
    id          uuid primary key,
    project_id  text not null references projects (id) on delete cascade,
    to_number   text not null,
    channel     text not null,
    body        text not null,
    created_at  timestamptz not null default now()
);
create index sandbox_outbox_to_idx on sandbox_outbox (project_id, to_number, created_at desc);
