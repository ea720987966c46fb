"""Uploaded documents and HTML bodies as plain text: paragraphs separated by blank lines, nothing else.

Markdown is kept as written (its markup reads well enough to a model and to full-text search); HTML loses its tags,
scripts and styles, and its block elements become paragraphs; PDF text is extracted page by page with pypdf.
"""

from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser

MEDIA_TYPES = ("text/plain", "text/markdown", "text/html", "application/pdf")

_BLOCKS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section", "article",
    "header", "footer", "blockquote", "pre", "hr", "figure", "figcaption", "dd", "dt", "main", "aside", "nav",
})
_SKIP = frozenset({"script", "style", "template", "noscript", "head"})


class UnreadableDocument(ValueError):
    pass


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    if "<" not in markup:
        return html.unescape(markup)
    parser = _TextOf()
    parser.feed(markup)
    parser.close()
    return _tidy("".join(parser.parts))


def _tidy(text: str) -> str:
    paragraphs = (re.sub(r"[ \t\r\f\v]*\n[ \t\r\f\v]*", " ", p).strip() for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(re.sub(r"[ \t]+", " ", p) for p in paragraphs if p)


def pdf_to_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}") from None
    return "\n\n".join(t for t in (_tidy(p) for p in pages) if t)  # a page is at least a paragraph


def to_text(body: bytes, media_type: str) -> str:
    """The plain text of an upload; UnreadableDocument when it is not what it says it is."""
    if media_type == "application/pdf":
        return pdf_to_text(body)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableDocument("text must be UTF-8") from None
    if media_type == "text/html":
        return html_to_text(text)
    return text.replace("\r\n", "\n").strip()
