"""What the ad platforms' mappings share (not a provider itself: no PROVIDER, no provider.toml): `mapping.py`, the
readings of a status, a currency and a date that Meta Ads, Pinterest and Snapchat do alike, and the upserts of the
ads entities by id (Google Ads too). Each platform's field names and units stay in its own mapping.py."""
