"""`send_email`'s content: a template from the connector's config (`templates`, a JSON object name -> {subject,
text, html}) or the action's own subject/text/html, with `{{name}}` placeholders filled from the action's
`variables`. Values are data, never markup: they are HTML-escaped in an HTML body, and a placeholder without a value
is refused (a mail saying "Hello {{name}}" or "Hello " to a customer is worse than none)."""

from __future__ import annotations

import html as html_lib
import json
import re
from dataclasses import dataclass
from typing import Any

from connectors.base import ProviderRefused

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]{1,64})\s*\}\}")
PARTS = ("subject", "text", "html")


@dataclass(frozen=True)
class Content:
    subject: str
    text: str
    html: str


def config_templates(config: Any) -> dict[str, dict[str, str]]:
    """The connector's templates (config.templates: a JSON object, or already an object); ProviderRefused naming the
    field when it is not name -> {subject, text, html} with strings."""
    raw = config.get("templates") or {}
    try:
        found = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as exc:
        raise ProviderRefused(f"Email: config.templates is not JSON ({exc.msg})") from None
    if not isinstance(found, dict) or not all(
        isinstance(t, dict) and t and set(t) <= set(PARTS) and all(isinstance(v, str) for v in t.values())
        for t in found.values()
    ):
        raise ProviderRefused('Email: config.templates must be {"name": {"subject": .., "text": .., "html": ..}}')
    return found


def fill(template: str, variables: dict[str, str], escape: bool = False) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in variables:
            raise ProviderRefused(f"Email: no value for the placeholder {{{{{name}}}}}: add it to variables")
        return html_lib.escape(variables[name]) if escape else variables[name]

    return PLACEHOLDER.sub(value, template)


def content(
    config: Any,
    template: str | None,
    subject: str | None,
    text: str | None,
    html: str | None,
    variables: dict[str, str] | None,
) -> Content:
    """What to send: the named template's parts (the action's subject overrides its subject) or the action's own,
    every placeholder filled. A subject is required either way."""
    parts = {"subject": subject or "", "text": text or "", "html": html or ""}
    if template:
        found = config_templates(config).get(template)
        if found is None:
            raise ProviderRefused(f"Email: no template {template!r} in config.templates")
        parts = {part: found.get(part, "") for part in PARTS} | ({"subject": subject} if subject else {})
    values = variables or {}
    filled = Content(fill(parts["subject"], values), fill(parts["text"], values), fill(parts["html"], values, True))
    if not filled.subject.strip():
        raise ProviderRefused("Email: the message has no subject: give subject, or a template with one")
    if not (filled.text or filled.html):
        raise ProviderRefused("Email: the message has no body: give text or html, or a template with one")
    if "\r" in filled.subject or "\n" in filled.subject:  # a variable must not add headers
        raise ProviderRefused("Email: the subject would contain a line break (from a variable)")
    return filled
