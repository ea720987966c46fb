"""`bizosaas schemas [--check]`: write (or check) the schema catalog in docs/events/.

The catalog is one JSON Schema per published type (docs/events/schemas/<type>.json) and the AsyncAPI document of the
streams (docs/events/asyncapi.json). The checked-in schemas are the published contract: writing refuses a change
that is incompatible with them (bizosaas.schema_compat), so a breaking change has to become a new vN type with an
upcaster instead of an overwrite. `--check` writes nothing and fails when the catalog is stale or a change breaks it.
"""

from __future__ import annotations

import argparse
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bizosaas.asyncapi import asyncapi_document, check_with_faststream
from bizosaas.schema_compat import catalog_incompatibilities
from events.catalog import catalog_schemas

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "docs" / "events"
SCHEMAS = "schemas"
ASYNCAPI = "asyncapi.json"
_DIFF_LINES = 40  # per stale file: enough to name what changed without flooding a CI log


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Relative path -> file text of the whole catalog, as the Structs define it now."""
    document = asyncapi_document()
    check_with_faststream(document)
    files = {f"{SCHEMAS}/{tag}.json": render(schema) for tag, schema in catalog_schemas().items()}
    files[ASYNCAPI] = render(document)
    return files


def read_published(directory: Path) -> dict[str, dict[str, Any]]:
    """tag -> schema, from the checked-in files."""
    return {
        path.name.removesuffix(".json"): json.loads(path.read_text())
        for path in sorted((directory / SCHEMAS).glob("*.json"))
    }


@dataclass
class Report:
    incompatible: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # one block per file that differs from what would be generated

    @property
    def ok(self) -> bool:
        return not self.incompatible and not self.stale


def compare(directory: Path, generated: dict[str, str]) -> Report:
    current = {
        path.removeprefix(SCHEMAS + "/").removesuffix(".json"): json.loads(text)
        for path, text in generated.items()
        if path.startswith(SCHEMAS + "/")
    }
    report = Report(incompatible=catalog_incompatibilities(read_published(directory), current))
    for rel, text in generated.items():
        path = directory / rel
        if not path.exists():
            report.stale.append(f"{rel}: missing (a new type, or the catalog was never generated)")
        elif (old := path.read_text()) != text:
            diff = list(
                difflib.unified_diff(old.splitlines(), text.splitlines(), "checked-in", "generated", lineterm="", n=1)
            )
            more = f"\n  ... {len(diff) - _DIFF_LINES} more diff lines" if len(diff) > _DIFF_LINES else ""
            report.stale.append(f"{rel}: out of date\n  " + "\n  ".join(diff[:_DIFF_LINES]) + more)
    return report


def write(directory: Path, generated: dict[str, str]) -> list[str]:
    """Write the files that changed; returns their relative paths."""
    written = []
    for rel, text in generated.items():
        path = directory / rel
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(rel)
    return written


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "schemas", help="write the event schema catalog (JSON Schema + AsyncAPI) to docs/events/, or --check it"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when the catalog is stale or a change is incompatible",
    )
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"catalog directory (default {DEFAULT_DIR})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    generated = generate()
    report = compare(args.dir, generated)
    for problem in report.incompatible:
        print(f"incompatible: {problem}")
    if report.incompatible:
        print(
            "A published type must stay readable: give new fields defaults, or add a new vN type with an upcaster "
            "in events/legacy.py (see docs/events/README.md)."
        )
    if args.check:
        for block in report.stale:
            print(f"stale: {block}")
        if report.stale:
            print("Regenerate with `bizosaas schemas` and commit docs/events/.")
        if report.ok:
            print(f"schema catalog is current ({len(generated) - 1} types)")
        return 0 if report.ok else 1
    if report.incompatible:
        print(f"nothing written to {args.dir}")
        return 1
    written = write(args.dir, generated)
    print(f"wrote {len(written)} file(s) to {args.dir}" + "".join(f"\n  {rel}" for rel in written))
    return 0
