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
import time
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
DEV_ONLY = {"BIZOSAAS_DATA_DIR", "BIZOSAAS_REDIS_MAXMEMORY", "BIZOSAAS_RAG_LOCAL_MODEL_DIR"}  # dev or machine-specific
TUNABLES = DEPLOY / "bizosaas.env"
# what each service may hold beyond the tunables: its secrets and server addresses, nothing else (least privilege)
LISTEN = {"BIZOSAAS_HOST", "BIZOSAAS_METRICS_HOST", "BIZOSAAS_METRICS_PORT"}
WORKER = LISTEN | {"REDIS_URL", "DATABASE_URL"}
OWN_SETTINGS = {
    "migrate": LISTEN | {"DATABASE_ADMIN_URL", "DATABASE_URL", "BIZOSAAS_DATABASE_READONLY_URL"},
    "gateway": LISTEN
    | {
        "REDIS_URL",
        "DATABASE_URL",
        "BIZOSAAS_DATABASE_READONLY_URL",
        "VAULT_ADDR",
        "VAULT_TOKEN",
        "BIZOSAAS_ADMIN_TOKEN",
        "OPENAI_API_KEY",
    },
    "worker-projector": WORKER,
    "worker-metrics": WORKER,
    "worker-deliveries": WORKER,
    "worker-commands": WORKER | {"TEMPORAL_ADDRESS"},
    "worker-indexer": WORKER | {"OPENAI_API_KEY"},
    "worker-agents": WORKER | {"TEMPORAL_ADDRESS"},
    "worker-outbound": WORKER | {"VAULT_ADDR", "VAULT_TOKEN"},
    "worker-notifications": WORKER | {"TEMPORAL_ADDRESS"},
    "temporal-worker": WORKER | {"VAULT_ADDR", "VAULT_TOKEN", "TEMPORAL_ADDRESS"},
}
VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def env_file(path: Path) -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return {key.strip(): value for key, value in pairs}


def env_example() -> dict[str, str]:
    return env_file(ROOT / ".env.example")


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
    assert service.get("env_file") == ["deploy/bizosaas.env"], "app services read the tunables, and never .env whole"
    return {**env_file(TUNABLES), **{key: str(value) for key, value in service.get("environment", {}).items()}}


def test_compose_yml_is_valid_under_the_compose_specification(compose: dict):
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors
    broken = {**compose, "services": {**compose["services"], "redis": {**compose["services"]["redis"], "imag": "x"}}}
    assert not validator.is_valid(broken)  # the schema does reject what Compose would


def test_every_setting_reaches_every_app_service_and_secrets_only_their_own(compose: dict):
    secrets_and_servers = set().union(*OWN_SETTINGS.values())
    tunables = {env_name(f.name) for f in fields(Settings)} - DEV_ONLY - secrets_and_servers
    documented = env_file(TUNABLES)
    missing = sorted(tunables - set(documented))
    assert not missing, f"add {missing} to deploy/bizosaas.env"
    assert not set(documented) & secrets_and_servers, "deploy/bizosaas.env is committed: no secret or address in it"
    for f in fields(Settings):  # the tunables there are the true defaults
        name = env_name(f.name)
        if name in documented:
            assert getattr(Settings.from_env({name: documented[name]}), f.name) == f.default, name
    services = app_services(compose)
    assert set(services) == set(OWN_SETTINGS), "a new app service: say which secrets it holds in OWN_SETTINGS"
    for name, service in services.items():
        own = set(service.get("environment", {}))
        assert own == OWN_SETTINGS[name], f"{name} holds {sorted(own - OWN_SETTINGS[name])} beyond its own settings"
        parsed = Settings.from_env(service_env(service))  # every value parses as its type
        assert parsed.metrics_host == "0.0.0.0" and parsed.host == "0.0.0.0"  # reachable from other containers
    for name in ("gateway", "worker-indexer"):  # they face untrusted input: never the owner's DSN
        assert "DATABASE_ADMIN_URL" not in services[name]["environment"]
        assert "//postgres:" not in " ".join(map(str, services[name]["environment"].values()))  # the owner role
    users = {
        urlsplit(s["environment"]["REDIS_URL"]).username for s in services.values() if "REDIS_URL" in s["environment"]
    }
    assert len(users) == len(services) - 1  # one Redis user per service (migrate uses no Redis)
    for service in services.values():
        if "REDIS_URL" in service["environment"]:
            assert urlsplit(service["environment"]["REDIS_URL"]).password, "Redis requires a password"


def test_redis_requires_a_user_per_service_and_secrets_stay_off_command_lines(compose: dict):
    redis = compose["services"]["redis"]
    acl_script = (DEPLOY / "redis" / "start.sh").read_text()
    assert 'echo "user default off"' in acl_script and "--aclfile" in acl_script
    for service in app_services(compose):
        if service != "migrate":  # migrate uses no Redis
            user = service.removeprefix("worker-").replace("-", "_")
            assert user in acl_script and f"REDIS_PASSWORD_{user.upper()}" in redis["environment"]
    for name, service in compose["services"].items():  # no secret value in any container's command line
        argv = " ".join(map(str, service.get("command", []) + service.get("entrypoint", [])))
        for key, value in env_example().items():
            if value and ("PASSWORD" in key or "TOKEN" in key):
                assert value not in argv, f"{name} has {key} on its command line"
    init = (DEPLOY / "vault" / "init.sh").read_text()
    for line in init.splitlines():  # the CLI gets secrets on stdin or by env, never as arguments
        if "$VAULT " in line and not line.lstrip().startswith("#"):
            assert not re.search(r"\$\{?(APP_TOKEN|UNSEAL_KEY|ROOT_TOKEN)", line.split("$VAULT ", 1)[1]), line


def test_placeholder_secrets_and_short_tokens_refuse_to_start(compose: dict):
    from bizosaas.settings import refuse_unsafe

    gateway = service_env(app_services(compose)["gateway"])
    with pytest.raises(SystemExit, match="placeholder"):
        refuse_unsafe(Settings.from_env(gateway))  # .env.example's values as they are
    real = {key: value.replace("change-me", "0123456789abcdef0123456789abcdef") for key, value in gateway.items()}
    refuse_unsafe(Settings.from_env(real))
    with pytest.raises(SystemExit, match="shorter than 32"):
        refuse_unsafe(Settings.from_env({**real, "BIZOSAAS_ADMIN_TOKEN": "short"}))
    refuse_unsafe(Settings.from_env({}))  # development defaults still start


def test_server_addresses_name_services_that_are_waited_for(compose: dict):
    services = compose["services"]
    needs = {
        "REDIS_URL": "redis",
        "DATABASE_URL": "postgres",
        "DATABASE_ADMIN_URL": "postgres",
        "BIZOSAAS_DATABASE_READONLY_URL": "postgres",
        "VAULT_ADDR": "vault",
        "TEMPORAL_ADDRESS": "temporal",
    }
    for name, service in app_services(compose).items():
        env = service_env(service)
        for variable, server in needs.items():
            if variable not in env:
                continue
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
    env = service_env(services["migrate"])
    owner, role = urlsplit(env["DATABASE_ADMIN_URL"]), urlsplit(env["DATABASE_URL"])
    assert owner.username == "postgres" and role.username == "bizosaas_app" and owner.password != role.password
    assert services["vault-init"]["environment"]["APP_TOKEN"] == service_env(gateway)["VAULT_TOKEN"]
    redis_command = services["redis"]["command"]
    for flag, value in (("--appendonly", "yes"), ("--appendfsync", "everysec"), ("--maxmemory-policy", "noeviction")):
        assert redis_command[redis_command.index(flag) + 1] == value
    # noeviction without a limit never applies: Redis would grow until the kernel kills it
    assert re.fullmatch(r"\d+(mb|gb)", redis_command[redis_command.index("--maxmemory") + 1])
    assert services["postgres"]["image"] == "pgvector/pgvector:pg18"  # the major version the tests run on


def test_each_consumer_group_has_a_scraped_worker_service(compose: dict):
    services = app_services(compose)
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    scraped = {
        (name, sd["port"])
        for job in prometheus["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    parser = build_parser()
    for service in services.values():
        args = parser.parse_args(service["command"][1:])  # a real `bizosaas` command line
        assert service["command"][0] == "bizosaas"
        assert args.command in ("migrate", "gateway", "worker", "temporal-worker")
    for group in GROUP_FACTORIES:
        worker = services.get(f"worker-{group}")
        assert worker is not None, f"compose.yml has no worker-{group} service"
        assert worker["command"] == ["bizosaas", "worker", group] and worker["deploy"]["replicas"] >= 1
        assert "ports" not in worker  # replicas must not fight over a host port
        assert (f"worker-{group}", int(service_env(worker)["BIZOSAAS_METRICS_PORT"])) in scraped
    assert ("gateway", 8001) in scraped


def exported_metric_names() -> set[str]:
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "clamp_min",
    "on",
    "ignoring",
}


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
    assert {
        "bizosaas_consumer_lag",
        "bizosaas_consumer_pending",
        "bizosaas_dead_letters",
        "bizosaas_gateway_request_seconds_bucket",
    } <= queried


def test_the_image_holds_the_product_packages_only():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {"tests", "bench", ".env", ".venv", ".git"} <= ignored
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.rstrip("*") for name in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert not packages & ignored
    assert ".env" in (ROOT / ".gitignore").read_text().split()  # the secrets file is never committed


def _vault_init(env: dict[str, str]) -> str:
    result = subprocess.run(
        ["sh", str(DEPLOY / "vault" / "init.sh")], env=env, capture_output=True, text=True, timeout=120
    )
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
    env = {
        **os.environ,
        "VAULT_ADDR": addr,
        "VAULT_CLI": bao_binary(),
        "VAULT_KEYS_DIR": str(tmp_path / "keys"),
        "APP_TOKEN": "app-token-for-the-test",
        "KV_MOUNT": "secret",
        "KV_PREFIX": "bizosaas",
    }
    env.pop("VAULT_TOKEN", None)
    server = launch([bao_binary(), "server", f"-config={config}"], tmp_path / "bao.log", cwd=tmp_path)
    try:
        out = _vault_init(env)
        assert "initialized" in out and "app token created" in out
        assert (tmp_path / "keys" / "init.txt").stat().st_mode & 0o077 == 0
        app = hvac.Client(url=addr, token="app-token-for-the-test")
        app.secrets.kv.v2.create_or_update_secret(
            "bizosaas/tenants/t/connectors/c", {"webhook_secret": "s"}, mount_point="secret"
        )
        with pytest.raises(hvac.exceptions.Forbidden):  # the app's token reaches the connectors' secrets only
            app.secrets.kv.v2.create_or_update_secret("elsewhere", {"a": "b"}, mount_point="secret")
        assert _vault_init(env).strip().endswith("ready")  # idempotent
        server.terminate()
        server.wait(30)
        server = launch([bao_binary(), "server", f"-config={config}"], tmp_path / "bao.log", cwd=tmp_path)
        assert "unsealed" in _vault_init(env)  # a restarted Vault is sealed; the next `compose up` unseals it
        secret = app.secrets.kv.v2.read_secret_version(
            "bizosaas/tenants/t/connectors/c", mount_point="secret", raise_on_deleted_version=True
        )
        assert secret["data"]["data"] == {"webhook_secret": "s"}
    finally:
        server.terminate()
        server.wait(30)


def test_redis_start_script_admits_each_service_with_its_password_only(tmp_path: Path):
    import redis as redis_sync

    from bizosaas.servers import redis_server_binary

    port = free_port()
    passwords = {
        f"REDIS_PASSWORD_{s.upper()}": f"pw-{s}-0123456789abcdef0123456789"
        for s in (
            "gateway",
            "projector",
            "metrics",
            "commands",
            "deliveries",
            "indexer",
            "temporal_worker",
            "agents",
            "outbound",
            "notifications",
        )
    }
    bin_dir = Path(redis_server_binary()).parent
    env = {**os.environ, **passwords, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [
            "sh",
            str(DEPLOY / "redis" / "start.sh"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        gateway = redis_sync.Redis(port=port, username="gateway", password=passwords["REDIS_PASSWORD_GATEWAY"])
        deadline = time.monotonic() + 30
        while True:
            try:
                gateway.ping()
                break
            except redis_sync.exceptions.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis did not start"
                time.sleep(0.05)
        gateway.xadd("bz:events:{0}", {"e": b"x"})
        with pytest.raises(redis_sync.exceptions.NoPermissionError):
            gateway.config_set("maxmemory", "1")  # dangerous commands: nobody
        with pytest.raises(redis_sync.exceptions.AuthenticationError):
            redis_sync.Redis(port=port, username="gateway", password="wrong").ping()
        with pytest.raises(redis_sync.exceptions.RedisError):  # the default user is off: nothing without a user
            redis_sync.Redis(port=port).xlen("bz:events:{0}")
        assert redis_sync.Redis(port=port, username="healthcheck", password="none").ping()
    finally:
        proc.terminate()
        proc.wait(10)
