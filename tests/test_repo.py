"""The repository keeps its promises: package names resolve here, every setting is documented, no ../shared reads."""

import importlib
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from agents.config import AgentsConfig
from bizosaas.settings import Settings, env_name
from connectors.config import ConnectorsConfig
from consumers.base import RuntimeConfig
from gateway.config import GatewayConfig
from rag.config import RagConfig

ROOT = Path(__file__).resolve().parent.parent
SHARED = ("../shared", "/work/shared")  # the machine-local design folder: never read at run or test time
PACKAGES = ("events", "producers", "consumers", "connectors", "rag", "agents", "gateway", "db", "bizosaas")


def test_top_level_packages_are_this_repositorys():
    # `events` and `agents` are common names on PyPI: an installed stranger must never shadow ours
    for name in PACKAGES:
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == ROOT / name, name


def test_imports_follow_the_architectures_table():
    """[tool.importlinter] in pyproject.toml: packages import downwards only (docs/architecture.md)."""
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [env_name(f.name) for f in fields(Settings) if f"`{env_name(f.name)}`" not in readme]
    assert missing == [], f"add these to README.md's Settings table: {missing}"


def test_every_route_is_named_in_the_gateway_document():
    from gateway.app import ROUTE_MODULES

    document = (ROOT / "docs" / "gateway.md").read_text()
    missing = [
        f"{spec.method} {spec.template}"
        for m in ROUTE_MODULES
        for spec in m.routes.specs
        if spec.template not in document
    ]
    assert missing == [], f"name these routes in docs/gateway.md: {missing}"


def test_every_page_is_named_in_the_gateway_document():
    from gateway.portal import page_routes

    document = (ROOT / "docs" / "gateway.md").read_text()
    missing = [f"{method} {path}" for method, path in page_routes() if f"`{method} {path}`" not in document]
    assert missing == [], f"name these pages in docs/gateway.md: {missing}"


def test_ruff_finds_nothing_to_lint_or_format():
    """[tool.ruff] in pyproject.toml: the tree is lint-clean and formatted (`ruff check --fix`, `ruff format`)."""
    ruff = Path(sys.executable).parent / "ruff"
    for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        result = subprocess.run([str(ruff), *command], cwd=ROOT, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"ruff {' '.join(command)}:\n" + result.stdout[-4000:] + result.stderr[-2000:]


def test_each_setting_is_declared_once():
    """A setting's default is written in the one config that declares it; Settings inherits the others."""
    declared: dict[str, str] = {}
    for config in (RagConfig, ConnectorsConfig, AgentsConfig, GatewayConfig, RuntimeConfig, Settings):
        for name in config.__annotations__:
            assert name not in declared, f"{name} is declared by both {declared[name]} and {config.__name__}"
            declared[name] = config.__name__
    assert set(declared) == {f.name for f in fields(Settings)}


def test_secrets_never_appear_in_a_repr():
    secret_values = {
        "VAULT_TOKEN": "hvs.vault-token-value",
        "BIZOSAAS_ADMIN_TOKEN": "admin-token-value-" + "x" * 32,
        "OPENAI_API_KEY": "sk-openai-key-value",
        "REDIS_URL": "redis://:redis-password@10.0.0.1:6379/0",
        "DATABASE_URL": "postgresql://app:service-password@10.0.0.2/bizosaas",
        "DATABASE_ADMIN_URL": "postgresql://owner:owner-password@10.0.0.2/bizosaas",
        "BIZOSAAS_DATABASE_READONLY_URL": "postgresql://ro:readonly-password@10.0.0.2/bizosaas",
    }
    settings = Settings.from_env(secret_values)
    assert Settings.from_env({"BIZOSAAS_ALLOW_PRIVATE_URLS": "false"}).allow_private_urls is False
    assert Settings.from_env({"BIZOSAAS_ALLOW_PRIVATE_URLS": "true"}).allow_private_urls is True
    assert settings.vault_token == secret_values["VAULT_TOKEN"]  # read, then kept out of every repr
    for shown in (
        repr(settings),
        str(settings),
        repr(GatewayConfig(**{f.name: getattr(settings, f.name) for f in fields(GatewayConfig)})),
    ):
        for value in ("vault-token-value", "admin-token-value", "openai-key-value", "password"):
            assert value not in shown


def test_nothing_reads_the_machine_local_shared_folder():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = [
        p
        for p in tracked
        if p.endswith((".py", ".toml", ".cfg", ".sh", "Makefile")) or p.startswith(".ci/")
        if p != "tests/test_repo.py" and any(s in (ROOT / p).read_text(errors="replace") for s in SHARED)
    ]
    assert offenders == []
