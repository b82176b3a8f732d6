-- Retention (`retention_days`): rows in a final state are kept that long after they ended, then
-- the housekeeping purge deletes them a batch at a time. These indexes let each batch find its
-- rows without scanning the table.
CREATE INDEX sessions_ended ON sessions (COALESCE(revoked_at, expires_at));
CREATE INDEX sms_codes_expiry ON sms_codes (expires_at);
-- Only messages whose text is gone can be final; the rest (few) stay out of the index.
CREATE INDEX sms_outbox_done ON sms_outbox (state, updated_at) WHERE payload IS NULL;
CREATE INDEX used_confirm_keys_expiry ON used_confirm_keys (expires_at);
-- Rows kept for their retention would otherwise be read on every poll of the outbox worker: the
-- texts it drops are looked for among the messages that still have one.
CREATE INDEX sms_outbox_texts ON sms_outbox (expires_at) WHERE payload IS NOT NULL;
