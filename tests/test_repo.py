"""The repository keeps its promises: package names resolve here, every setting is documented, no ../shared reads."""

import importlib
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from bizosaas.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
SHARED = ("../shared", "/work/shared")  # the machine-local design folder: never read at run or test time
PACKAGES = ("events", "producers", "consumers", "connectors", "rag", "gateway", "db", "bizosaas")


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


def test_nothing_reads_the_machine_local_shared_folder():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = [
        p
        for p in tracked
        if p.endswith((".py", ".toml", ".cfg", ".sh", "Makefile")) or p.startswith(".ci/")
        if p != "tests/test_repo.py" and any(s in (ROOT / p).read_text(errors="replace") for s in SHARED)
    ]
    assert offenders == []
