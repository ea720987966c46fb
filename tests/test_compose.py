"""compose.yml, its deploy/ files and the Dockerfile, checked without Docker (which does not run here).

- compose.yml is valid under the Compose Specification's JSON Schema (tests/fixtures/compose-spec/, with its source);
- every setting the app reads (bizosaas/settings.py) reaches every app service, the server addresses name services
  it waits for, and each consumer group has its own worker service that Prometheus scrapes;
- the Grafana dashboard parses and queries only metrics the app exports, and logs by labels Promtail sets;
- deploy/vault/init.sh really brings an empty Vault-compatible server to what the gateway needs (run with OpenBao).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path
from urllib.parse import urlsplit

import hvac
import jsonschema
import pytest
import yaml
from prometheus_client import REGISTRY

import bizosaas.cmd_worker  # noqa: F401 - registers the worker's metrics
import gateway.app  # noqa: F401 - imports every route module, so every gateway metric is registered
from bizosaas.cli import build_parser
from bizosaas.openbao import CONFIG, bao_binary
from bizosaas.servers import free_port, launch
from bizosaas.settings import Settings, env_name
from consumers.groups import GROUP_FACTORIES

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCHEMA = Path(__file__).parent / "fixtures" / "compose-spec" / "compose-spec.json"
DEV_ONLY = {"BIZOSAAS_DATA_DIR", "BIZOSAAS_REDIS_MAXMEMORY"}  # read by `bizosaas dev` only
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    return {key.strip(): value for key, value in pairs}


def interpolate(node, env: dict[str, str]):
    """Compose's variable substitution (${X}, ${X:-default}, ${X-default}, ${X:?error}, $$) over the whole file."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        value = env.get(name)
        if op in (":?", "?"):
            assert value, f"compose.yml requires {name}: {arg}; .env.example must set it"
            return value
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        assert value is not None, f"compose.yml uses ${{{name}}} with no default and .env.example does not set it"
        return value

    return VARIABLE.sub(substitute, node)


@pytest.fixture(scope="module")
def compose() -> dict:
    return interpolate(yaml.safe_load((ROOT / "compose.yml").read_text()), env_example())


def app_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if s.get("image", "").startswith("bizosaas:")}


def service_env(service: dict) -> dict[str, str]:
    env_files = service.get("env_file", [])
    assert ".env" in env_files, "app services read their settings and secrets from .env"
    return {**env_example(), **{key: str(value) for key, value in service.get("environment", {}).items()}}


def test_compose_yml_is_valid_under_the_compose_specification(compose: dict):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    broken = {**compose, "services": {**compose["services"], "redis": {**compose["services"]["redis"], "imag": "x"}}}
    assert not validator.is_valid(broken)  # the schema does reject what Compose would


def test_every_setting_reaches_every_app_service(compose: dict):
    settings = {env_name(f.name) for f in fields(Settings)} - DEV_ONLY
    services = app_services(compose)
    assert {"migrate", "gateway"} <= set(services)
    for name, service in services.items():
        env = service_env(service)
        missing = sorted(settings - set(env))
        assert not missing, f"{name} does not get {missing}: add them to .env.example (or compose.yml's x-app)"
        parsed = Settings.from_env(env)  # every value parses as its type
        assert parsed.metrics_host == "0.0.0.0" and parsed.host == "0.0.0.0"  # reachable from other containers
    documented = env_example()
    for f in fields(Settings):  # the tunables in .env.example are the true defaults
        name = env_name(f.name)
        if name in documented and "change-me" not in documented[name] and documented[name]:
            assert type(f.default)(documented[name]) == f.default, f"{name} in .env.example is not the default"


def test_server_addresses_name_services_that_are_waited_for(compose: dict):
    services = compose["services"]
    needs = {"REDIS_URL": "redis", "DATABASE_URL": "postgres", "DATABASE_ADMIN_URL": "postgres",
             "VAULT_ADDR": "vault", "TEMPORAL_ADDRESS": "temporal"}
    for name, service in app_services(compose).items():
        env = service_env(service)
        for variable, server in needs.items():
            value = env[variable]
            host = urlsplit(value if "://" in value else f"tcp://{value}").hostname
            assert host == server and host in services, f"{name}: {variable} points at {host}"
        waits = service.get("depends_on", {})
        if name == "migrate":
            assert waits["postgres"]["condition"] == "service_healthy"
            continue
        assert waits["migrate"]["condition"] == "service_completed_successfully"
        assert waits["redis"]["condition"] == waits["postgres"]["condition"] == "service_healthy"
        assert "healthcheck" in service
    gateway = services["gateway"]
    assert gateway["depends_on"]["vault-init"]["condition"] == "service_completed_successfully"
    env = service_env(gateway)
    owner, role = urlsplit(env["DATABASE_ADMIN_URL"]), urlsplit(env["DATABASE_URL"])
    assert owner.username == "postgres" and role.username == "bizosaas_app" and owner.password != role.password
    assert services["vault-init"]["environment"]["APP_TOKEN"] == env["VAULT_TOKEN"]
    redis_command = services["redis"]["command"]
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "everysec"), ("--maxmemory-policy", "noeviction")):
        assert redis_command[redis_command.index(flag) + 1] == value
    # noeviction without a limit never applies: Redis would grow until the kernel kills it
    assert re.fullmatch(r"\d+(mb|gb)", redis_command[redis_command.index("--maxmemory") + 1])
    assert services["postgres"]["image"] == "pgvector/pgvector:pg18"  # the major version the tests run on


def test_each_consumer_group_has_a_scraped_worker_service(compose: dict):
    services = app_services(compose)
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    scraped = {(name, sd["port"]) for job in prometheus["scrape_configs"] for sd in job.get("dns_sd_configs", [])
               for name in sd["names"]}
    parser = build_parser()
    for name, service in services.items():
        args = parser.parse_args(service["command"][1:])  # a real `bizosaas` command line
        assert service["command"][0] == "bizosaas" and args.command in ("migrate", "gateway", "worker")
    for group in GROUP_FACTORIES:
        worker = services.get(f"worker-{group}")
        assert worker is not None, f"compose.yml has no worker-{group} service"
        assert worker["command"] == ["bizosaas", "worker", group] and worker["deploy"]["replicas"] >= 1
        assert "ports" not in worker  # replicas must not fight over a host port
        assert (f"worker-{group}", int(service_env(worker)["BIZOSAAS_METRICS_PORT"])) in scraped
    assert ("gateway", 8001) in scraped


def exported_metric_names() -> set[str]:
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("_sum", "_count", "_created"), "gauge": ("",), "info": ("_info",)}
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "by", "without", "rate", "irate", "increase",
                "histogram_quantile", "clamp_min", "on", "ignoring"}


def test_dashboard_queries_only_exported_metrics_and_logged_labels(compose: dict):
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "bizosaas.json").read_text())
    sources = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text())
    uids = {s["uid"]: s["type"] for s in sources["datasources"]}
    exported = exported_metric_names()
    promtail = yaml.safe_load((DEPLOY / "loki" / "promtail.yml").read_text())["scrape_configs"][0]
    log_labels = {r["target_label"] for r in promtail["relabel_configs"]}
    log_labels |= set(promtail["pipeline_stages"][1]["labels"])
    titles = {p["title"] for p in dashboard["panels"]}
    for wanted in ("Ingest rate", "Consumer lag", "Pending entries", "Dead letters", "Request latency", "Error rates"):
        assert wanted in titles
    queried = set()
    for panel in dashboard["panels"]:
        assert uids[panel["datasource"]["uid"]] == panel["datasource"]["type"]
        for target in panel["targets"]:
            expr = target["expr"]
            if panel["datasource"]["type"] == "loki":
                selector = dict(re.findall(r'(\w+)=~?"([^"]*)"', expr))
                assert set(selector) <= log_labels and selector["project"] == compose["name"], expr
                continue
            bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b(by|without)\s*\([^)]*\)|\b\d+(\.\d+)?\b", " ", expr)
            for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", bare):
                assert word in PROMQL_WORDS or word in exported, f"{word!r} in {expr!r} is not an exported metric"
                queried.add(word)
    assert {"bizosaas_consumer_lag", "bizosaas_consumer_pending", "bizosaas_dead_letters",
            "bizosaas_gateway_request_seconds_bucket"} <= queried


def test_the_image_holds_the_product_packages_only():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {"tests", "bench", ".env", ".venv", ".git"} <= ignored
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert not packages & ignored
    assert ".env" in (ROOT / ".gitignore").read_text().split()  # the secrets file is never committed


def _vault_init(env: dict[str, str]) -> str:
    result = subprocess.run(["sh", str(DEPLOY / "vault" / "init.sh")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.timeout(180)
def test_vault_init_provisions_an_empty_server_and_unseals_it_after_a_restart(tmp_path: Path):
    port = free_port()
    config = tmp_path / "config.hcl"
    config.write_text(CONFIG.format(raft=tmp_path / "raft", port=port, cluster_port=free_port()))
    (tmp_path / "raft").mkdir()
    (tmp_path / "keys").mkdir()
    addr = f"http://127.0.0.1:{port}"
    env = {**os.environ, "VAULT_ADDR": addr, "VAULT_CLI": bao_binary(), "VAULT_KEYS_DIR": str(tmp_path / "keys"),
           "APP_TOKEN": "app-token-for-the-test", "KV_MOUNT": "secret", "KV_PREFIX": "bizosaas"}
    env.pop("VAULT_TOKEN", None)
    server = launch([bao_binary(), "server", f"-config={config}"], tmp_path / "bao.log", cwd=tmp_path)
    try:
        out = _vault_init(env)
        assert "initialized" in out and "app token created" in out
        assert (tmp_path / "keys" / "init.txt").stat().st_mode & 0o077 == 0
        app = hvac.Client(url=addr, token="app-token-for-the-test")
        app.secrets.kv.v2.create_or_update_secret("bizosaas/tenants/t/connectors/c", {"webhook_secret": "s"},
                                                  mount_point="secret")
        with pytest.raises(hvac.exceptions.Forbidden):  # the app's token reaches the connectors' secrets only
            app.secrets.kv.v2.create_or_update_secret("elsewhere", {"a": "b"}, mount_point="secret")
        assert _vault_init(env).strip().endswith("ready")  # idempotent
        server.terminate()
        server.wait(30)
        server = launch([bao_binary(), "server", f"-config={config}"], tmp_path / "bao.log", cwd=tmp_path)
        assert "unsealed" in _vault_init(env)  # a restarted Vault is sealed; the next `compose up` unseals it
        secret = app.secrets.kv.v2.read_secret_version("bizosaas/tenants/t/connectors/c", mount_point="secret",
                                                       raise_on_deleted_version=True)
        assert secret["data"]["data"] == {"webhook_secret": "s"}
    finally:
        server.terminate()
        server.wait(30)
