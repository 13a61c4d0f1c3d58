-- B2B: organizations and their members, enough for SMS MFA.

create table organizations (
    id            text primary key,                 -- organization-<env>-<uuid>
    project_id    text not null references projects (id) on delete cascade,
    name          text not null,
    slug          text not null,
    external_id   text,
    logo_url      text not null default '',
    -- REQUIRED_FOR_ALL makes every successful SMS MFA enroll the member
    mfa_policy    text not null default 'OPTIONAL',
    trusted_metadata jsonb not null default '{}'::jsonb,
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    constraint organizations_mfa_policy_check check (mfa_policy in ('OPTIONAL', 'REQUIRED_FOR_ALL')),
    constraint organizations_slug_key unique (project_id, slug),
    constraint organizations_external_id_key unique (project_id, external_id)
);

create table members (
    id                        text primary key,     -- member-<env>-<uuid>
    project_id                text not null references projects (id) on delete cascade,
    organization_id           text not null references organizations (id) on delete cascade,
    email_address             text not null,
    name                      text not null default '',
    external_id               text,
    status                    text not null default 'active',
    -- '' when the member has no MFA phone yet (Stytch's models require a string)
    mfa_phone_number          text not null default '',
    -- true once a code sent to that number was authenticated; a verified number can't be
    -- redirected by a send
    mfa_phone_number_verified boolean not null default false,
    mfa_enrolled              boolean not null default false,
    default_mfa_method        text not null default '',
    trusted_metadata          jsonb not null default '{}'::jsonb,
    untrusted_metadata        jsonb not null default '{}'::jsonb,
    created_at                timestamptz not null default now(),
    updated_at                timestamptz not null default now(),
    constraint members_default_mfa_method_check check (default_mfa_method in ('', 'sms_otp', 'totp')),
    constraint members_email_key unique (organization_id, email_address),
    constraint members_external_id_key unique (organization_id, external_id)
);
create index members_project_idx on members (project_id);
