-- 0017 A claim can be voided: withdrawn by the practice, before or after it went out.
--
-- Alone in its migration because a new enum value cannot be used in the transaction that adds
-- it; 0018 gives it its arrows and its rules.

alter type claim_status add value if not exists 'voided';
