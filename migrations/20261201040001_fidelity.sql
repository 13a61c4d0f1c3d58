-- Stytch fidelity: roles, organization settings, member phone numbers unique per organization,
-- and the 5-minute window in which a phone attached by send(user_id) must be verified.

-- Role ids as the caller set them (users.update / members.update); otpd has no RBAC of its own.
alter table users add column roles text[] not null default '{}';
alter table members add column roles text[] not null default '{}';

-- Organization settings otpd stores and returns (Stytch's names and values); of these only
-- mfa_methods / allowed_mfa_methods change what otpd does.
alter table organizations add column settings jsonb not null default '{}'::jsonb;

-- Set when otps.*.send(user_id=...) attaches a new number: unless verified before this
-- moment, the number is detached (Stytch keeps such a number only if verified in 5 minutes).
alter table phone_numbers add column attach_expires_at timestamptz;
create index phone_numbers_attach_expires_idx on phone_numbers (attach_expires_at)
    where attach_expires_at is not null;

-- Stytch enforces one member per MFA phone number in an organization. Rows that would break
-- the new rule keep the number on one member (a verified one first, then the oldest); the
-- others lose the number and must enroll again.
with ranked as (
    select id, row_number() over (
               partition by organization_id, mfa_phone_number
               order by mfa_phone_number_verified desc, created_at, id) as n
    from members
    where mfa_phone_number <> ''
)
update members m
   set mfa_phone_number = '', mfa_phone_number_verified = false, updated_at = now()
  from ranked r
 where m.id = r.id and r.n > 1;
create unique index members_phone_key on members (organization_id, mfa_phone_number)
    where mfa_phone_number <> '';
