"""The API contract, declared once for every route: which errors an operation may answer (all as
application/problem+json with a stable code), which security it needs, how public reads are
cached, and the query parameters and bodies a handler reads itself.

Litestar documents each handler's success response and its typed parameters; what it cannot
know (errors raised by the domain, the auth rule, caching) is added here from each route's
nature, so a route added anywhere is documented the same way without saying anything.
A handler may add to it through `opt`: `query_doc` (parameters it reads itself), `body_doc`
(a request body it reads itself), `errors` (more statuses), `cache` ("no-store" for public GETs
whose answer must never be reused).
"""

from __future__ import annotations

import copy
from typing import Any

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin

from api.errors import ALL_CODES, PROBLEM_JSON, PROBLEM_TYPE, TITLES, ApiCode
from domain.errors import AREA_CODES, GENERAL_CODES

SECURITY_SCHEME = "BearerToken"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An RFC 9457 problem document. Branch on `code` (stable); `detail` is for people.",
    "required": ["type", "status", "title", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": f"{PROBLEM_TYPE}<code>"},
        "status": {"type": "integer"},
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": list(ALL_CODES)},
        "instance": {"type": "string", "description": "the path of the request"},
        "field": {"type": "string", "description": "the parameter or body member at fault"},
        "retry_after": {"type": "integer", "description": "seconds to wait before trying again"},
        "until": {"type": "string", "format": "date-time", "description": "when the refusal ends"},
        "claim_id": {"type": "string", "description": "the claim the refusal is about"},
        "claim_status": {"type": "string"},
        "invitation_status": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
        "records": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
    },
    "additionalProperties": False,
}

WHY = {
    400: "a malformed parameter or body (code validation_failed, invalid_text; `field` names it)",
    401: "no valid access token (code unauthenticated, invalid_credentials, invalid_refresh_token)",
    403: "the caller may not do this (code forbidden, email_unconfirmed, not_owner, ...)",
    404: "no such resource, or not visible to the caller (code not_found)",
    409: "the current state refuses the command (a code per cause; facts such as claim_id, until)",
    413: "the body is larger than this route accepts (code body_too_large)",
    415: "the body is not of a media type this route accepts (code unsupported_media_type)",
    422: "well-formed, but a business rule refuses its content (a code per rule)",
    429: "a rate limit or quota (code rate_limited, invitation_quota; retry_after and Retry-After)",
    500: "a bug, logged (code internal_error)",
    503: "the store does not answer or the service is busy (code store_unavailable, overloaded, not_ready)",
}

RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "required": True, "schema": {"type": "string"}}}

CACHE_HEADERS = {
    "ETag": {"description": "the representation's validator: send it back as If-None-Match", "required": True,
             "schema": {"type": "string"}},
    "Cache-Control": {"description": "how long a shared cache may keep it", "required": True,
                      "schema": {"type": "string"}},
}

WRITES = {"post", "put", "patch", "delete"}

# Which business areas' refusals a route's tag may answer with (on top of the general codes); a
# handler names others in `opt["areas"]`. tests/conftest.py checks every problem the tests meet
# against its route's list, so a code answered where it is not declared fails a test.
TAG_AREAS: dict[str, tuple[str, ...]] = {
    "accounts": ("accounts",),
    "claims": ("claims",),
    "moderation": ("claims",),
    "follows": ("follows",),
    "invitations": ("invitations", "claims"),  # an invitation to a record its recipient no longer owns
}


def route_areas(tags: list[str] | tuple[str, ...], opt: dict[str, Any]) -> tuple[str, ...]:
    areas = {area for tag in tags for area in TAG_AREAS.get(tag, ())} | set(opt.get("areas", ()))
    return tuple(sorted(areas))


def route_codes(areas: tuple[str, ...]) -> list[str]:
    """The codes a route in these areas may answer: the general ones, the HTTP layer's and its areas'."""
    codes = {c.value for c in GENERAL_CODES} | {c.value for c in ApiCode}
    for area in areas:
        codes |= {c.value for c in AREA_CODES[area]}
    return sorted(codes)


def problem_component(areas: tuple[str, ...]) -> str:
    return "".join(area.capitalize() for area in areas or ("common",)) + "Problem"


def error_statuses(method: str, path: str, opt: dict[str, Any], has_body: bool) -> list[int]:
    """What a route can answer besides success, from its nature."""
    statuses = {400, 500, 503}
    if not opt.get("exclude_from_auth"):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if method in WRITES:
        statuses |= {409, 422, 429}
        if has_body:
            statuses |= {413, 415}
    statuses |= set(opt.get("errors", ()))
    return sorted(statuses)


def is_public_read(method: str, opt: dict[str, Any]) -> bool:
    return method == "get" and bool(opt.get("exclude_from_auth")) and opt.get("cache") != "no-store"


def problem_response(status: int, component: str = "Problem") -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{TITLES.get(status, 'Error')}: {WHY.get(status, 'an error')}",
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }
    if status in (429, 503):
        response["headers"] = dict(RETRY_AFTER) if status == 429 else {
            "Retry-After": {**RETRY_AFTER["Retry-After"], "required": False}}
    return response


def complete(document: dict[str, Any], handlers: dict[tuple[str, str], dict[str, Any]]) -> dict[str, Any]:
    """The document Litestar made, with every route's errors, security, caching and the inputs
    handlers read themselves."""
    document = copy.deepcopy(document)
    document.pop("security", None)  # per operation: public routes need none
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA  # every code: what a client that knows no route branches on
    for path, item in document.get("paths", {}).items():
        heads: dict[str, Any] = {}
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            opt = handlers.get((path, method), {})
            if opt.get("exclude_from_auth"):
                operation.pop("security", None)
            else:
                operation["security"] = [{SECURITY_SCHEME: []}]
            for parameter in opt.get("query_doc", ()):
                operation.setdefault("parameters", []).append({"in": "query", "required": False, **parameter})
            if "body_doc" in opt:
                operation["requestBody"] = opt["body_doc"]
            responses = operation.setdefault("responses", {})
            areas = route_areas(operation.get("tags", ()), opt)
            component = problem_component(areas)
            if component not in schemas:
                schemas[component] = {**PROBLEM_SCHEMA, "title": component, "properties": {
                    **PROBLEM_SCHEMA["properties"], "code": {"type": "string", "enum": route_codes(areas)}}}
            for status in error_statuses(method, path, opt, "requestBody" in operation):
                responses[str(status)] = problem_response(status, component)
            if is_public_read(method, opt):
                for status, response in responses.items():
                    if status.startswith("2"):
                        response["headers"] = {**response.get("headers", {}), **CACHE_HEADERS}
                responses["304"] = {"description": "Not modified: the If-None-Match validator still holds",
                                    "headers": CACHE_HEADERS}
                operation.setdefault("parameters", []).append({
                    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
                    "description": "an ETag this route gave: 304 while it still holds"})
                head = copy.deepcopy(operation)
                head["operationId"] = operation.get("operationId", path) + "Head"
                head["summary"] = "Headers only: " + operation.get("summary", "")
                for response in head["responses"].values():
                    response.pop("content", None)
                heads[path] = head
        if heads:
            item["head"] = heads[path]
    return document


class _ContractPlugin(OpenAPIPlugin):
    __slots__ = ()

    def provide_openapi_schema(self) -> dict[str, Any]:
        if not self._openapi_schema:
            handlers: dict[tuple[str, str], dict[str, Any]] = {}
            for route in self.included_routes.values():
                for handler in route.route_handlers:
                    opt = dict(handler.opt)
                    if any(h.name.lower() == "cache-control" and "no-store" in (h.value or "")
                           for h in handler.resolve_response_headers()):
                        opt["cache"] = "no-store"  # its own policy: api/conditional.py leaves it alone
                    for method in handler.http_methods:
                        handlers[(route.path_format or "/", method.lower())] = opt
            self._openapi_schema = complete(self.provide_openapi().to_schema(), handlers)
        return self._openapi_schema


def apply_contract(app: Litestar) -> Litestar:
    """Make the app's OpenAPI document the completed one (built on first request, as before)."""
    app.plugins.get(OpenAPIPlugin).__class__ = _ContractPlugin
    return app
