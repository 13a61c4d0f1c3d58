-- Retention purges delivery receipts by age; a receipt may now also wait here for a message
-- row that commits after it arrived.
create index delivery_receipts_received_idx on delivery_receipts (received_at);
