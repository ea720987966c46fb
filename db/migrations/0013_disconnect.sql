-- Disconnecting a connector keeps its row (status 'disconnected': webhook_target and the sync activities take active
-- connectors only) and the records it imported; `DELETE /v1/connectors/{id}?erase=true` erases what came from it,
-- recorded here like a tenant or person erasure, with the connector as its selector.
ALTER TABLE erasures DROP CONSTRAINT erasures_scope_check,
                     ADD CONSTRAINT erasures_scope_check CHECK (scope IN ('tenant', 'person', 'connector'));
ALTER TABLE erasures DROP CONSTRAINT erasures_selector_check,
                     ADD CONSTRAINT erasures_selector_check
                         CHECK (selector IN ('tenant', 'email', 'external_id', 'connector'));
