"""The composition root: settings, local servers and the `bizosaas` command wire the packages together."""
