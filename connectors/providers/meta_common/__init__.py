"""What Meta's provider packages share (not a provider itself: no PROVIDER, no provider.toml): the Graph API's
webhook signature, GET verification check and the webhook Provider built on them (`hub.py`), and its error reading
and cursor paging (`graph.py`). WhatsApp Business and Meta Ads use both."""
