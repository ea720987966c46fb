-- A connector's set-up ends `disconnected` (projected from connector.disconnected, published by the disconnect
-- command once its steps at the provider are done and its secrets destroyed): a set-up the disconnect stopped no
-- longer shows `connecting`, and `step`/`reason` name what could not be done at the provider (webhooks, revoke).
ALTER TABLE connector_setups DROP CONSTRAINT connector_setups_status_check;
ALTER TABLE connector_setups ADD CONSTRAINT connector_setups_status_check
    CHECK (status IN ('connecting', 'connected', 'failed', 'disconnected'));
