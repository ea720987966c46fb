-- The outbound dispatcher claims each subscription's oldest due attempts (as many as it has room for, per
-- subscription: consumers/outbound_claims.py), not the tenant's oldest overall: one walk of this index per
-- subscription, so a claim spreads over the endpoints even when the queue holds one endpoint's attempts first.
CREATE INDEX hook_attempts_due_per_hook ON hook_attempts (tenant_id, hook_id, next_attempt_at) WHERE status = 'pending';
