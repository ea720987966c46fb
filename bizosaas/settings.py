"""Every setting, read from the environment in one place, each with a safe development default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from consumers.base import RuntimeConfig
from gateway.config import GatewayConfig


@dataclass(frozen=True, kw_only=True)
class Settings(GatewayConfig, RuntimeConfig):
    """Every setting of every process. Each component declares its own settings with their defaults
    (gateway.config.GatewayConfig, which is also rag.config.RagConfig; consumers.base.RuntimeConfig) and receives
    this object as it is; the fields below belong to the composition root alone. Each default is written once."""

    database_admin_url: str = field(  # the owner: migrations and operator commands
        default="postgresql://postgres@127.0.0.1:5432/bizosaas", repr=False
    )
    host: str = "127.0.0.1"
    port: int = 8001
    gateway_processes: int = 1  # `bizosaas gateway` worker processes sharing the port (SO_REUSEPORT); --processes
    stream_retention_s: int = 24 * 3600
    trim_interval_s: float = 30.0
    metrics_port: int = 9101  # each worker process serves /metrics here; 0 picks a free port
    metrics_host: str = "127.0.0.1"  # the address a worker's /metrics binds (0.0.0.0 in a container)
    data_dir: str = ".bizosaas"  # bizosaas dev: local servers' data and logs
    redis_maxmemory: str = "1gb"  # bizosaas dev: its local Redis refuses writes past this (compose sets its own)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = env_name(f.name)
            if env.get(name, "") != "":
                raw = env[name]
                try:
                    values[f.name] = _parse(raw, type(f.default))
                except ValueError:
                    raise SystemExit(f"{name}={raw!r} is not a valid {type(f.default).__name__}") from None
        return cls(**values)


def _parse(raw: str, kind: type):
    if kind is bool:  # bool("false") is True: spell the two answers out
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    return kind(raw)


# settings whose variable names are part of the stable surface (DESIGN.md) rather than BIZOSAAS_<NAME>
ENV_NAMES = {
    "redis_url": "REDIS_URL",
    "database_url": "DATABASE_URL",
    "database_admin_url": "DATABASE_ADMIN_URL",
    "admin_token": "BIZOSAAS_ADMIN_TOKEN",
    "port": "BIZOSAAS_PORT",
    "vault_addr": "VAULT_ADDR",
    "vault_token": "VAULT_TOKEN",
    "openai_api_key": "OPENAI_API_KEY",
    "openai_base_url": "OPENAI_BASE_URL",
    "temporal_address": "TEMPORAL_ADDRESS",
}


MIN_TOKEN_CHARS = 32


def refuse_unsafe(settings: Settings) -> None:
    """Checked when a service starts: placeholder secrets (.env.example's `change-me…`), a short operator token, or
    JWTs enabled without the issuer they must carry. Development defaults (empty tokens, local URLs) pass."""
    problems = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, str) and ("change-me" in value):
            problems.append(
                f"{env_name(f.name)} still holds a placeholder (`change-me…`): set a real secret, "
                "e.g. `openssl rand -hex 32`"
            )
    if settings.admin_token and len(settings.admin_token) < MIN_TOKEN_CHARS:
        problems.append(
            f"BIZOSAAS_ADMIN_TOKEN is shorter than {MIN_TOKEN_CHARS} characters: "
            "use e.g. `openssl rand -hex 32`, or leave it empty to disable the operator routes"
        )
    if settings.oidc_jwks_url and not settings.oidc_issuer:
        problems.append(
            "BIZOSAAS_OIDC_ISSUER must be set when BIZOSAAS_OIDC_JWKS_URL is (JWTs are enabled): "
            "set it to the `iss` your tokens carry"
        )
    oidc_sign_in = (settings.oidc_authorization_url, settings.oidc_token_url, settings.oidc_client_id)
    if any(oidc_sign_in) and not (all(oidc_sign_in) and settings.oidc_jwks_url):
        problems.append(
            "portal OIDC sign-in needs BIZOSAAS_OIDC_AUTHORIZATION_URL, BIZOSAAS_OIDC_TOKEN_URL, "
            "BIZOSAAS_OIDC_CLIENT_ID and BIZOSAAS_OIDC_JWKS_URL (with BIZOSAAS_OIDC_ISSUER) together"
        )
    if problems:
        raise SystemExit("refusing to start:\n  " + "\n  ".join(problems))


def env_name(field_name: str) -> str:
    return ENV_NAMES.get(field_name, "BIZOSAAS_" + field_name.upper())
