-- Cursor pagination for syncs (connectors/sync.py, pagination = "cursor": Stripe's `starting_after`): the run in
-- progress keeps the cursor its next page starts after (NULL: the first page), as `run_pages` counts pages done.
ALTER TABLE sync_checkpoints ADD COLUMN run_after text;
