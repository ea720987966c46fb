"""Uploaded documents and HTML bodies as plain text: paragraphs separated by blank lines, nothing else.

Markdown is kept as written (its markup reads well enough to a model and to full-text search); HTML loses its tags,
scripts and styles, and its block elements become paragraphs; PDF text is extracted page by page with pypdf.

Every conversion here is linear in its input: the input is untrusted (uploads, provider descriptions), and both the
whitespace regexes this module had and the standard library's HTMLParser are quadratic on some inputs
(`'<p>' + N spaces`, `'<x' * N`, `'</' * N`). The HTML tokenizer below is one regex whose every branch consumes what
it scans (possessive quantifiers, unterminated constructs run to the end), and whitespace is normalized with
str.split. Even so, callers run these functions in a conversion process with a deadline (rag/convert.py): pypdf is
not ours to make linear.
"""

from __future__ import annotations

import html
import io
import re

MEDIA_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf")

_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "table",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
        "hr",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "main",
        "aside",
        "nav",
    }
)
_SKIP = frozenset({"template", "noscript", "head"})  # their text is not content; they hold tags
_RAW = frozenset({"script", "style"})  # raw text up to their end tag (no tags inside), also skipped

# one token: a comment, a declaration or processing instruction, an end tag, a start tag, or text. Unterminated
# constructs run to the end of the input (as in HTML5), so no branch ever rescans what an earlier attempt scanned.
_TOKEN = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<[!?][^>]*+>?"
    r"|</(?P<end>[A-Za-z][^\s/>]*+)[^>]*+>?"
    r"|<(?P<start>[A-Za-z][^\s/>]*+)(?:[^>\"']++|\"[^\"]*+\"|'[^']*+')*+>?"
    r"|[^<]++|<",
    re.S,
)


class UnreadableDocument(ValueError):
    pass


class TooLarge(ValueError):
    """Over a cap on pages or characters (the message names the setting)."""


def html_to_text(markup: str) -> str:
    if "<" not in markup:
        return html.unescape(markup)
    parts: list[str] = []
    skipping, pos, end = 0, 0, len(markup)
    while pos < end:
        token = _TOKEN.match(markup, pos)
        assert token is not None  # the last two branches match any character
        pos = token.end()
        start, close = token.group("start"), token.group("end")
        if start is not None:
            tag = start.lower()
            if tag in _RAW:  # its text runs to </tag: one search from here, never repeated
                found = re.compile(rf"</{tag}[\s/>]", re.I).search(markup, pos)
                pos = found.end() if found else end
            elif tag in _SKIP:
                skipping += 1
            elif tag in _BLOCKS:
                parts.append("\n\n")
        elif close is not None:
            tag = close.lower()
            if tag in _SKIP:
                skipping = max(0, skipping - 1)
            elif tag in _BLOCKS:
                parts.append("\n\n")
        elif not skipping and (token.group()[0] != "<" or len(token.group()) == 1):  # text (a lone < too)
            parts.append(html.unescape(token.group()))
    return tidy("".join(parts))


def tidy(text: str) -> str:
    """Paragraphs (split at blank lines) each on one line with single spaces; linear (str.split, no regex)."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        words = line.split()
        if words:
            current.extend(words)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def pdf_to_text(data: bytes, max_pages: int = 0) -> str:
    """The text of a PDF; TooLarge over max_pages (0: no cap)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if max_pages and len(reader.pages) > max_pages:
            raise TooLarge(
                f"the PDF has {len(reader.pages)} pages; at most {max_pages} are read (BIZOSAAS_RAG_MAX_PAGES)"
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, TooLarge):
            raise
        raise UnreadableDocument(f"not a readable PDF: {exc}") from None
    return "\n\n".join(t for t in (tidy(p) for p in pages) if t)  # a page is at least a paragraph


def to_text(body: bytes, media_type: str, max_pages: int = 0) -> str:
    """The plain text of an upload; UnreadableDocument when it is not what it says it is."""
    if media_type == "application/pdf":
        return pdf_to_text(body, max_pages)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument("text must be UTF-8") from None
    if media_type == "text/html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").strip()
