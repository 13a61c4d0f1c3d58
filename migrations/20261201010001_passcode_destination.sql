-- Each code is bound to the number it was sent to, so a B2B code can verify only that number
-- (a member's number can change between the send and the authenticate).
-- E.164; null only for codes issued before this column existed (they expire within minutes).
alter table passcodes add column destination text;
