-- Retention purges the fake provider's outbox by age across all projects; the existing
-- index is per recipient and can't serve that scan.
create index sandbox_outbox_created_idx on sandbox_outbox (created_at);
