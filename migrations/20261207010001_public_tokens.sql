-- Public tokens for the frontend surface (/sdk/v1): Stytch's `public-token-<env>-<uuid>`,
-- each with the browser origins allowed to call with it (Stytch's "authorized domains").

create table public_tokens (
    -- public by design (it ships in every page of the app), so it is stored as is
    token       text primary key,
    project_id  text not null references projects (id) on delete cascade,
    -- normalized `scheme://host[:port]` values, compared exactly with a request's Origin
    origins     text[] not null,
    created_at  timestamptz not null default now(),
    revoked_at  timestamptz,
    constraint public_tokens_origins_not_empty check (cardinality(origins) > 0)
);
create index public_tokens_project_idx on public_tokens (project_id);
-- CORS preflights carry no credentials: they are answered from "any live token allows this origin"
create index public_tokens_live_origins_idx on public_tokens using gin (origins) where revoked_at is null;
