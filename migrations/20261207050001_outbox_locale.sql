-- The staging console shows which locale's text each fake-provider message was sent in.

-- The locale of the text actually sent (a long localized message falls back to English);
-- null on rows written before this column existed.
alter table sandbox_outbox add column locale text;
