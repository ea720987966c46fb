"""Real text that ships on this machine, for the RAG benchmark: the Python documentation's topics (pydoc_data),
and docstrings of the installed packages' and the standard library's modules (read with `ast`, never imported)."""

from __future__ import annotations

import ast
import random
import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Text:
    title: str
    body: str  # paragraphs separated by blank lines


def _paragraphs(text: str) -> list[str]:
    out = []
    for part in re.split(r"\n\s*\n", text):
        line = " ".join(part.split())
        if len(line) >= 40 and not line.startswith((">>>", "...", "--", "==", "..")):
            out.append(line)
    return out


def python_topics() -> list[Text]:
    """The Python reference's help topics (the text behind `help('FOR')`): long, prose-heavy documents."""
    from pydoc_data.topics import topics

    return [Text(name, "\n\n".join(_paragraphs(body))) for name, body in sorted(topics.items()) if _paragraphs(body)]


def docstrings(limit: int, seed: int = 7) -> list[Text]:
    """Module, class and function docstrings of the standard library and site-packages, shuffled, deduplicated."""
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    files = sorted(p for root in roots for p in root.rglob("*.py") if "test" not in p.parts[-2:])
    random.Random(seed).shuffle(files)
    seen: set[str] = set()
    found: list[Text] = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except (SyntaxError, ValueError, OSError, RecursionError):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            doc = ast.get_docstring(node)
            paragraphs = [p for p in _paragraphs(doc or "") if p not in seen]
            if not paragraphs:
                continue
            seen.update(paragraphs)
            name = getattr(node, "name", path.stem)
            found.append(Text(f"{path.stem}.{name}", "\n\n".join(paragraphs[:6])))
            if len(found) >= limit:
                return found
    return found
