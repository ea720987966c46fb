"""Commands: requests written by the gateway to `bz:commands` and carried out by the command runner group."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from events.types import UtcTime


class Command(Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="type"):
    id: str
    tenant_id: str
    issued_at: UtcTime
    issued_by: str = ""  # api key id or JWT subject
    correlation_id: str | None = None

    @property
    def type(self) -> str:
        return type(self).__struct_config__.tag


class ConnectConnector(Command, frozen=True, kw_only=True, tag="connector.connect.v1"):
    connector_id: str
    provider: str
    config: dict[str, Any] = {}
    secrets_path: str | None = None  # a Vault path, never the secret itself


class DisconnectConnector(Command, frozen=True, kw_only=True, tag="connector.disconnect.v1"):
    """The connector is marked `disconnected` already (its webhooks refused, its secrets destroyed): stop its syncs
    and schedule; with `erase`, also erase everything that came from it."""

    connector_id: str
    erase: bool = False


class StartSync(Command, frozen=True, kw_only=True, tag="connector.sync.v1"):
    connector_id: str
    resources: list[str] = []  # empty: every resource the connector syncs
    full: bool = False  # ignore the saved cursors


class ScheduleSyncs(Command, frozen=True, kw_only=True, tag="connector.schedule.v1"):
    """Change a connector's sync schedule: unset fields keep their value."""

    connector_id: str
    interval_s: int | None = None
    paused: bool | None = None


class RunConnectorAction(Command, frozen=True, kw_only=True, tag="connector.action.v1"):
    """One provider action (provider.toml's [[actions]]), its input already checked against the input_schema."""

    connector_id: str
    action: str
    input: dict[str, Any] = {}


class RunAgent(Command, frozen=True, kw_only=True, tag="agent.run.v1"):
    agent: str
    prompt: str = ""
    inputs: dict[str, Any] = {}


class DecideAgentRun(Command, frozen=True, kw_only=True, tag="agent.run.decide.v1"):
    """A person's decision on a run awaiting approval (POST /v1/agent-runs/{id}/approve or /reject); the decider is
    `issued_by`. The run workflow issues the proposed actions only when approved."""

    run_id: str
    approved: bool
    reason: str = ""


class Replay(Command, frozen=True, kw_only=True, tag="stream.replay.v1"):
    group: str
    from_id: str
    to_id: str = "+"
    tenant: str | None = None
    types: list[str] = []


COMMAND_TYPES: tuple[type[Command], ...] = (
    ConnectConnector,
    DisconnectConnector,
    StartSync,
    ScheduleSyncs,
    RunConnectorAction,
    RunAgent,
    DecideAgentRun,
    Replay,
)
