-- Intermediate sessions (Stytch's intermediate_session_token): what a primary factor leaves
-- when the organization still wants MFA. Single use, ten minutes, bound to one member of one
-- organization.

create table intermediate_sessions (
    -- HMAC-SHA256 of the opaque token under a key derived from the pepper (its own purpose,
    -- not the session-token key); the token itself is never stored
    token_hash      bytea primary key,
    project_id      text not null references projects (id) on delete cascade,
    organization_id text not null references organizations (id) on delete cascade,
    member_id       text not null references members (id) on delete cascade,
    -- Stytch authentication_factors already met (the primary factor), carried into the
    -- member session the IST becomes
    factors         jsonb not null default '[]'::jsonb,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null,
    -- set once, by the authenticate that turns it into a member session
    consumed_at     timestamptz
);
create index intermediate_sessions_expires_idx on intermediate_sessions (expires_at);
