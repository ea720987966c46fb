"""Meta's Graph API answers, shared by WhatsApp and Meta Ads: errors and cursor pages.

Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`. Meta throttles mostly with HTTP
400 and a code (4 app, 17 user, 32 page, 613 calls within an hour, 80000-80014 the Marketing API's business use cases,
80007/130429/131056 WhatsApp's), seldom with 429, and without Retry-After: the wait is in the
`X-Business-Use-Case-Usage` header (`{"<business id>": [{"type", "call_count", "total_cputime", "total_time",
"estimated_time_to_regain_access": <minutes>}]}`). All of those, 429 and 5xx are ProviderBusy (with that wait, or a
Retry-After when one is sent); 401 and code 190 (the access token) ProviderRefused naming the fix; anything else
ProviderRefused with Meta's code and message.

Cursor pages (Graph API "Paginated Results"): `{"data": [...], "paging": {"cursors": {"before", "after"}, "next"}}`;
the next page is asked with `after=<paging.cursors.after>`, and an answer without `paging.next` is the last.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.base import ApiCall, ProviderBusy, ProviderRefused, retry_after_s
from connectors.json_api import Answer

BUSINESS_USAGE_HEADER = "X-Business-Use-Case-Usage"
THROTTLED = frozenset({4, 17, 32, 613, 80007, 130429, 131056, *range(80000, 80015)})


def regain_access_s(headers: Any) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) in X-Business-Use-Case-Usage, in seconds."""
    try:
        usage = json.loads(headers.get(BUSINESS_USAGE_HEADER) or "{}")
    except ValueError:
        return None
    waits = [
        float(case.get("estimated_time_to_regain_access") or 0)
        for cases in (usage.values() if isinstance(usage, dict) else [])
        for case in (cases if isinstance(cases, list) else [])
        if isinstance(case, dict)
    ]
    return max(waits) * 60.0 if waits and max(waits) > 0 else None


def checked(answer: Answer, call: ApiCall, title: str, what: str, token_fix: str) -> dict[str, Any]:
    """The answer's JSON object, or the failure it means (see the module's docstring); `token_fix` says what to do
    about a refused access token."""
    error = answer.field("error")
    if answer.status < 400 and not isinstance(error, dict) and isinstance(answer.body, dict):
        return answer.body
    error = error if isinstance(error, dict) else {}
    code, message = error.get("code"), str(error.get("message") or "")[:300]
    detail = f"HTTP {answer.status}{f' code {code}' if code is not None else ''}{f': {message}' if message else ''}"
    if answer.status == 429 or answer.status >= 500 or code in THROTTLED:
        header = call.facts.api.retry_after_header if call.facts.api else "Retry-After"
        delay = retry_after_s(answer.headers, header)
        delay = delay if delay is not None else regain_access_s(answer.headers)
        raise ProviderBusy(f"{title} {what}: {detail}, try later", delay)
    if answer.status == 401 or code == 190:
        raise ProviderRefused(f"{title} {what}: the access token was refused ({detail}): {token_fix}")
    raise ProviderRefused(f"{title} {what}: Meta refused the request ({detail})")


def cursor_page(body: dict[str, Any], title: str, what: str) -> tuple[list[dict[str, Any]], str | None]:
    """(the page's objects with an id, the cursor of the next page or None on the last)."""
    listed, paging = body.get("data"), body.get("paging") or {}
    if not isinstance(listed, list):
        raise ProviderRefused(f"{title} {what}: the answer has no data list")
    cursor = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
    return [o for o in listed if isinstance(o, dict)], (str(cursor) if cursor else None)
