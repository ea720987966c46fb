"""What the four Google provider packages share (not a provider itself: no PROVIDER, no provider.toml): the OAuth2
client and error reading of Google's APIs (`client.py`)."""
