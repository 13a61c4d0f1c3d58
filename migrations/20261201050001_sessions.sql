-- Sessions (Stytch's consumer sessions and B2B member sessions) and the per-project RS256
-- keys that sign their JWTs.

create table signing_keys (
    kid          text primary key,                 -- jwk-<env>-<uuid>, the JWT header's `kid`
    project_id   text not null references projects (id) on delete cascade,
    -- the public key as the JWKS publishes it: base64url modulus and exponent
    public_n     text not null,
    public_e     text not null,
    -- AES-256-GCM (nonce || ciphertext || tag) of the PKCS#1 DER private key, under a key
    -- derived from the server pepper with HKDF; the kid is the associated data
    private_sealed bytea not null,
    created_at   timestamptz not null default now(),
    -- set by rotation; a retired key still verifies (and stays in the JWKS) until every JWT it
    -- signed has expired
    retired_at   timestamptz
);
-- at most one signing (current) key per project: concurrent lazy creation ends with one
create unique index signing_keys_one_current on signing_keys (project_id) where retired_at is null;

create table sessions (
    id               text primary key,             -- session-<env>-<uuid> / member-session-<env>-<uuid>
    project_id       text not null references projects (id) on delete cascade,
    user_id          text references users (id) on delete cascade,
    member_id        text references members (id) on delete cascade,
    organization_id  text references organizations (id) on delete cascade,
    -- HMAC-SHA256 of the opaque session token under a key derived from the pepper; the
    -- token itself is never stored
    token_hash       bytea not null,
    started_at       timestamptz not null default now(),
    last_accessed_at timestamptz not null default now(),
    expires_at       timestamptz not null,
    revoked_at       timestamptz,
    attributes       jsonb not null default '{}'::jsonb,   -- {ip_address, user_agent}
    custom_claims    jsonb not null default '{}'::jsonb,   -- reserved claims refused on input
    factors          jsonb not null default '[]'::jsonb,   -- Stytch authentication_factors
    constraint sessions_token_hash_key unique (token_hash),
    constraint sessions_owner_check check (
        (user_id is not null and member_id is null and organization_id is null)
        or (user_id is null and member_id is not null and organization_id is not null))
);
create index sessions_user_idx on sessions (user_id) where user_id is not null;
create index sessions_member_idx on sessions (member_id) where member_id is not null;
create index sessions_expires_idx on sessions (expires_at);
