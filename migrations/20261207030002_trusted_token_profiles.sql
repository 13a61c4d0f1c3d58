-- Trusted auth token profiles (Stytch's sessions.attest): whose JWTs a project accepts as a
-- primary factor, and the token ids already used (each token is accepted once).

create table trusted_token_profiles (
    id             text primary key,             -- trusted-auth-token-profile-<env>-<uuid>
    project_id     text not null references projects (id) on delete cascade,
    issuer         text not null,                -- the JWT's `iss` must equal this
    audience       text not null,                -- the JWT's `aud` must contain this
    -- exactly one key source: a JWKS URL fetched (and cached) by otpd, or public keys given
    -- as PEM, stored as [{"n", "e"}] (base64url RSA modulus and exponent)
    jwks_url       text,
    public_keys    jsonb,
    email_claim    text not null default 'email', -- claim holding the person's email
    token_id_claim text not null default 'jti',   -- claim holding the token's unique id
    -- Stytch's "Allow JIT provisioning": attest may create a consumer user for an unknown email
    jit_provisioning boolean not null default false,
    created_at     timestamptz not null default now(),
    constraint trusted_token_profiles_one_key_source
        check ((jwks_url is null) <> (public_keys is null))
);
create index trusted_token_profiles_project_idx on trusted_token_profiles (project_id);

create table trusted_token_uses (
    profile_id text not null references trusted_token_profiles (id) on delete cascade,
    token_id   text not null,
    -- the token's own `exp`: after it the token is refused anyway, so the row can go
    expires_at timestamptz not null,
    constraint trusted_token_uses_pkey primary key (profile_id, token_id)
);
create index trusted_token_uses_expires_idx on trusted_token_uses (expires_at);
