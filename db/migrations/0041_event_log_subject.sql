-- A record's history (GET /v1/records/{kind}/{id}/history, the portal's record page): the events about one subject
-- of one connector, newest first. Without this index the page scanned the tenant's whole archive.
CREATE INDEX IF NOT EXISTS event_log_subject ON event_log (tenant_id, source, subject_kind, subject_id, occurred_at);
