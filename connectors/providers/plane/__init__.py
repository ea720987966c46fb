"""Plane (project management): webhook.py (X-Plane-Signature, event and action topics), mapping.py (projects,
issues, cycles -> entities), api.py (the sync's pages, `create_issue` and `update_issue`). PROVIDER is what the
registry finds."""

from connectors.providers.plane.webhook import PlaneProvider

PROVIDER = PlaneProvider()

__all__ = ["PROVIDER", "PlaneProvider"]
