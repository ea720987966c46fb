"""Agents: the catalog of specialists (data), trigger rules, crew building and the run workflow."""
