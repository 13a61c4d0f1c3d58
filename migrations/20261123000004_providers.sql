-- Delivery receipts: provider status callbacks (Twilio's StatusCallback), deduplicated on
-- provider + message id + status, and the latest non-regressing status on the message.

alter table messages add column error_code text;
alter table messages add column status_updated_at timestamptz;
create index messages_provider_message_idx on messages (provider, provider_message_id)
    where provider_message_id is not null;

-- Every callback we accepted once: a retried callback is a no-op.
create table delivery_receipts (
    provider            text not null,
    provider_message_id text not null,
    status              text not null,
    error_code          text,
    received_at         timestamptz not null default now(),
    primary key (provider, provider_message_id, status)
);

-- How far along a status is; a callback only moves a message forward, so a late "sent"
-- never overwrites "delivered". Final states share one rank: the first final one wins.
create function otpd_delivery_rank(status text) returns integer
    language sql immutable as $$
    select case status
        when 'queued' then 0 when 'accepted' then 0 when 'scheduled' then 0 when 'unknown' then 0
        when 'sending' then 1 when 'buffered' then 1
        when 'sent' then 2
        when 'delivered' then 3 when 'undelivered' then 3 when 'failed' then 3
        when 'canceled' then 3 when 'expired' then 3 when 'rejected' then 3
        when 'read' then 4
        else 0
    end
$$;
