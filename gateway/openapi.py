"""The OpenAPI 3.1 document, generated from the route declarations and their msgspec types."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.problems import PROBLEM_CONTENT_TYPE, PROBLEM_TYPES, Problem
from gateway.roles import OPERATOR, PERMISSIONS, PUBLIC
from gateway.routing import RouteSpec

REF = "#/components/schemas/{name}"


def _types(specs: list[RouteSpec]) -> list[Any]:
    found: list[Any] = [Problem]
    for spec in specs:
        for kind in (spec.body, spec.response):
            if kind is not None and kind not in found:
                found.append(kind)
    return found


def _query_parameters(schema: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]  # absent, never null
        value = dict(options[0]) if len(options) == 1 else {"anyOf": options}
        if "default" in prop and prop["default"] is not None:
            value["default"] = prop["default"]
        params.append({"name": name, "in": "query", "required": name in required, "schema": value})
    return params


def _problem(status: int) -> dict[str, Any]:
    titles = sorted({title for code, title in PROBLEM_TYPES.values() if code == status})
    return {
        "description": "; ".join(titles) or "Error",
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": REF.format(name="Problem")}}},
    }


def _who(permission: str) -> str:
    if permission == PUBLIC:
        return "No bearer token."
    if permission == OPERATOR:
        return "Platform operator only (BIZOSAAS_ADMIN_TOKEN or a JWT with the operator claim)."
    return f"Permission `{permission}`: roles {', '.join(sorted(PERMISSIONS[permission]))}."


def _operation(spec: RouteSpec, refs: dict[Any, dict]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.handler.__name__,
        "summary": spec.summary,
        "description": _who(spec.permission),
        "tags": [spec.tag],
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": spec.path_schemas.get(p, {"type": "string"})}
            for p in spec.path_params
        ],
        "responses": {},
    }
    if spec.permission != PUBLIC:
        op["security"] = [{"bearer": []}]
    if spec.query is not None:
        _, found = msgspec.json.schema_components([spec.query], ref_template=REF)
        op["parameters"] += _query_parameters(found[spec.query.__name__])
    if spec.body is not None:
        op["requestBody"] = {
            "required": not _all_optional(spec.body),  # an empty body is then `{}` (read_json)
            "content": {"application/json": {"schema": refs[spec.body]}},
        }
    elif spec.request_content_types:
        op["requestBody"] = {
            "required": True,
            "content": {ct: {"schema": {"type": "string", "format": "binary"}} for ct in spec.request_content_types},
        }
    body = None
    if spec.response is not None:
        body = {"content": {spec.response_content_type: {"schema": refs[spec.response]}}}
    for status in (spec.status, *spec.same_body_statuses):
        op["responses"][str(status)] = {
            "description": spec.summary if status == spec.status else "Not ready",
            **(body or {}),
        }
    errors = set(spec.errors)
    if spec.permission != PUBLIC:
        errors |= {401, 403, 429}
    if spec.body is not None or spec.query is not None:
        errors |= {400, 422}
    if spec.body is not None:  # gateway.body: too large, an unknown Content-Encoding, too slow to arrive
        errors |= {408, 413, 415}
    if spec.path_params:
        errors.add(404)
    if spec.permission != PUBLIC or spec.path_params:
        errors.add(503)
    for status in sorted(errors - {spec.status, *spec.same_body_statuses}):
        op["responses"][str(status)] = _problem(status)
    return op


def _all_optional(kind: Any) -> bool:
    try:
        msgspec.json.decode(b"{}", type=kind)
        return True
    except msgspec.ValidationError:
        return False


def openapi_document(specs: list[RouteSpec]) -> dict[str, Any]:
    types = _types(specs)
    generated, components = msgspec.json.schema_components(types, ref_template=REF)
    refs = dict(zip(types, generated))
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.template, {})[spec.method.lower()] = _operation(spec, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "BizOSaaS gateway",
            "version": "1",
            "description": "Webhook ingestion, REST reads of projections, commands, and operator routes. "
            "Errors are application/problem+json with a stable `type`.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (bz_...) or an OIDC JWT"}
            },
        },
    }
