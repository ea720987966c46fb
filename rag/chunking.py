"""Chunking by tokens with overlap, on paragraph and sentence boundaries, and stable under local edits.

A chunk holds whole paragraphs while they fit; a paragraph that does not fit is split between sentences, and only
there does the next chunk repeat the previous chunk's last sentences (the overlap). A sentence longer than a whole
chunk is split between words. A chunk that is at least half full ends at the next paragraph: boundaries therefore
depend on nearby text only, so editing one paragraph of a long post changes the chunks around it and no others
(pgai's vectorizer re-embeds every chunk of a row instead). Tokens are counted by the embedder's own tokenizer.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CountTokens = Callable[[Sequence[str]], list[int]]

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_SPACE = re.compile(r"\s+")
# a sentence ends at . ! ? (or …) followed by space and something that can start a sentence
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]?\s+(?=[\"'“(\[]?[A-Z0-9À-Ý])")


@dataclass(frozen=True, slots=True)
class Chunk:
    no: int
    text: str
    hash: bytes  # of the text: equal hashes are never embedded twice


def content_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def paragraphs(text: str) -> list[str]:
    return [p for p in (_SPACE.sub(" ", part).strip() for part in _PARAGRAPH_BREAK.split(text)) if p]


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


@dataclass(slots=True)
class _Unit:
    text: str
    tokens: int
    paragraph: int


def _units(text: str, count: CountTokens, max_tokens: int) -> list[_Unit]:
    found = [(s, i) for i, p in enumerate(paragraphs(text)) for s in sentences(p)]
    units = []
    for (sentence, paragraph), tokens in zip(found, count([s for s, _ in found])):
        if tokens <= max_tokens:
            units.append(_Unit(sentence, tokens, paragraph))
            continue
        words = sentence.split(" ")  # a run-on "sentence" (a list, a table, a log): split between words
        parts = math.ceil(tokens / max_tokens) + 1  # +1: word pieces are not spread evenly over the words
        step = math.ceil(len(words) / parts)
        pieces = [" ".join(words[i : i + step]) for i in range(0, len(words), step)]
        units.extend(_Unit(piece, n, paragraph) for piece, n in zip(pieces, count(pieces)))
    return units


def chunk_text(text: str, count: CountTokens, max_tokens: int = 200, overlap_tokens: int = 32) -> list[Chunk]:
    units = _units(text, count, max_tokens)
    paragraph_tokens: dict[int, int] = {}
    for unit in units:
        paragraph_tokens[unit.paragraph] = paragraph_tokens.get(unit.paragraph, 0) + unit.tokens
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    filled = 0
    for unit in units:
        starts_paragraph = not current or current[-1].paragraph != unit.paragraph
        if (
            current
            and starts_paragraph
            and (filled >= max_tokens // 2 or filled + paragraph_tokens[unit.paragraph] > max_tokens)
        ):
            chunks.append(current)
            current, filled = [], 0
        elif current and filled + unit.tokens > max_tokens:  # inside a paragraph: split, with overlap
            chunks.append(current)
            current = _overlap(current, unit.paragraph, overlap_tokens)
            filled = sum(u.tokens for u in current)
            if filled + unit.tokens > max_tokens:
                current, filled = [], 0
        current.append(unit)
        filled += unit.tokens
    if current:
        chunks.append(current)
    texts = [_join(chunk) for chunk in chunks]
    return [Chunk(no, t, content_hash(t)) for no, t in enumerate(texts)]


def _overlap(previous: list[_Unit], paragraph: int, overlap_tokens: int) -> list[_Unit]:
    carried: list[_Unit] = []
    total = 0
    for unit in reversed(previous):
        if unit.paragraph != paragraph or total + unit.tokens > overlap_tokens:
            break
        carried.insert(0, unit)
        total += unit.tokens
    return carried


def _join(units: list[_Unit]) -> str:
    out: list[str] = []
    for i, unit in enumerate(units):
        if i:
            out.append("\n\n" if unit.paragraph != units[i - 1].paragraph else " ")
        out.append(unit.text)
    return "".join(out)


def approximate_tokens(texts: Sequence[str]) -> list[int]:
    """Word-piece count estimate for embedders without a local tokenizer (about 1.3 tokens per word)."""
    return [math.ceil(len(re.findall(r"\w+|[^\w\s]", t)) * 1.3) for t in texts]
