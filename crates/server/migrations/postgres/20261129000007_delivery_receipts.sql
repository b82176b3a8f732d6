-- Delivery receipts from providers (Twilio status callbacks): the provider's latest status for a
-- sent message, and the final states 'delivered' and 'undelivered'.
ALTER TABLE sms_outbox ADD COLUMN receipt_status TEXT;
ALTER TABLE sms_outbox ADD COLUMN receipt_at BIGINT;
CREATE INDEX sms_outbox_provider_message ON sms_outbox (provider, provider_message_id);
