-- Issue 23: lookups take an organization's id, slug or external id, so no value may be both
-- one organization's handle and another's (a tenant choosing a slug equal to another's
-- external id redirected the backend's calls for it). Every handle is a row here, unique per
-- project; a trigger keeps the rows in step with each insert and update of an organization,
-- in the same statement, so two concurrent writes of one value can't both succeed.
create table organization_handles (
    project_id      text not null references projects (id) on delete cascade,
    -- an organization's id, slug or external id, as lookups match it
    handle          text not null,
    organization_id text not null references organizations (id) on delete cascade,
    constraint organization_handles_pkey primary key (project_id, handle)
);
create index organization_handles_org_idx on organization_handles (organization_id);

-- A value another organization already holds fails the write as a unique violation named
-- after the field that was set (organizations_slug_key or organizations_external_id_key),
-- which the API already answers as organization_slug_already_used /
-- organization_external_id_already_used.
create function otpd_organization_handles() returns trigger
language plpgsql as $$
declare
    v_other text;
begin
    if tg_op = 'UPDATE' then
        delete from organization_handles where organization_id = old.id;
    end if;
    for v_other in
        select distinct h from unnest(array[new.id, new.slug, new.external_id]) h
        where h is not null and h <> ''
    loop
        insert into organization_handles (project_id, handle, organization_id)
            values (new.project_id, v_other, new.id)
            on conflict on constraint organization_handles_pkey do nothing;
        if not found then
            raise exception 'organization handle already used by another organization'
                using errcode = 'unique_violation',
                      constraint = case when v_other = new.slug then 'organizations_slug_key'
                                        when v_other = new.external_id
                                            then 'organizations_external_id_key'
                                        else 'organization_handles_pkey' end;
        end if;
    end loop;
    return null;
end $$;

create trigger organizations_handles
    after insert or update of id, slug, external_id on organizations
    for each row execute function otpd_organization_handles();

-- Existing organizations: the oldest keeps a value two of them share (lookups preferred an
-- id, then a slug, over an external id; such a pair predates this rule and is left for an
-- operator to rename: the younger one's shadowed value is still stored, only not a handle).
insert into organization_handles (project_id, handle, organization_id)
    select o.project_id, h.handle, o.id
    from organizations o
    cross join lateral (select distinct x as handle
                        from unnest(array[o.id, o.slug, o.external_id]) x
                        where x is not null and x <> '') h
    order by o.created_at, o.id
    on conflict on constraint organization_handles_pkey do nothing;
