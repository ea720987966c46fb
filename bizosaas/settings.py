"""Every setting, read from the environment in one place, each with a safe development default."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from events.streams import DEDUPE_WINDOW_S, DEFAULT_PARTITIONS


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "postgresql://bizosaas_app:bizosaas_app@127.0.0.1:5432/bizosaas"  # service role
    database_admin_url: str = "postgresql://postgres@127.0.0.1:5432/bizosaas"  # owner, for migrate and operators
    admin_token: str = ""  # platform operator bearer token (BIZOSAAS_ADMIN_TOKEN)
    host: str = "127.0.0.1"
    port: int = 8001
    partitions: int = DEFAULT_PARTITIONS
    dedupe_window_s: int = DEDUPE_WINDOW_S
    batch_size: int = 500
    block_ms: int = 1000
    reclaim_idle_ms: int = 30_000
    max_deliveries: int = 5
    stream_retention_s: int = 24 * 3600
    trim_interval_s: float = 30.0
    metrics_port: int = 9101  # each worker process serves /metrics here; 0 picks a free port
    db_pool_size: int = 10

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            name = env_name(f.name)
            if name in env and env[name] != "":
                raw = env[name]
                try:
                    values[f.name] = type(f.default)(raw)
                except ValueError:
                    raise SystemExit(f"{name}={raw!r} is not a valid {type(f.default).__name__}") from None
        return cls(**values)


# settings whose variable names are part of the stable surface (DESIGN.md) rather than BIZOSAAS_<NAME>
ENV_NAMES = {
    "redis_url": "REDIS_URL",
    "database_url": "DATABASE_URL",
    "database_admin_url": "DATABASE_ADMIN_URL",
    "admin_token": "BIZOSAAS_ADMIN_TOKEN",
    "port": "BIZOSAAS_PORT",
}


def env_name(field_name: str) -> str:
    return ENV_NAMES.get(field_name, "BIZOSAAS_" + field_name.upper())
