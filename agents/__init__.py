"""Agents: the catalog of specialists (data), trigger rules, crew building and the run workflow.

CrewAI's telemetry and tracing are switched off here, before any module of this package can import crewai (only
agents/crew.py and agents/tools.py do): they phone home, and hang every run ~10 s at exit (STACK.md). Set for the
whole process, deliberately: no part of the platform wants them."""

import os

for _name, _value in (
    ("CREWAI_DISABLE_TELEMETRY", "true"),
    ("OTEL_SDK_DISABLED", "true"),
    ("CREWAI_TRACING_ENABLED", "false"),
):
    os.environ[_name] = _value
