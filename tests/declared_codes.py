"""Every problem a test meets carries a code its route declares (issue 16: "a documented enum per
route"). Installed for the whole suite by tests/conftest.py: each application/problem+json answer
a TestClient receives is checked against the OpenAPI document of the same app, so a route that
answers with a code its schema does not list fails the test that saw it."""

from __future__ import annotations

import re
import weakref
from typing import Any
from urllib.parse import urlsplit

from litestar.testing import TestClient

_documents: weakref.WeakKeyDictionary[Any, list[tuple[re.Pattern[str], int, dict[str, Any]]]] = (
    weakref.WeakKeyDictionary())  # by app: a new app may reuse a collected one's id
_original_request = TestClient.request


def _routes(client: TestClient) -> list[tuple[re.Pattern[str], int, dict[str, Any]]]:
    key = client.app
    if key not in _documents:
        document = _original_request(client, "GET", "/schema/openapi.json").json()
        routes = []
        for path, item in document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "/?$")
            literal = sum(1 for part in path.split("/") if part and not part.startswith("{"))
            routes.append((pattern, literal, {"item": item, "schemas": document["components"]["schemas"]}))
        routes.sort(key=lambda r: -r[1])  # /researchers/{id}/works before /researchers/{id}/{x}
        _documents[key] = routes
    return _documents[key]


def declared_codes(client: TestClient, method: str, path: str, status: int) -> list[str] | None:
    """The codes the document lets this route answer with this status (None: not a documented route)."""
    for pattern, _, found in _routes(client):
        if pattern.match(path):
            operation = found["item"].get(method.lower())
            if operation is None:
                return None
            response = operation["responses"].get(str(status))
            if response is None:
                return []
            ref = response["content"]["application/problem+json"]["schema"]["$ref"]
            return found["schemas"][ref.rsplit("/", 1)[1]]["properties"]["code"]["enum"]
    return None


def checked_request(self: TestClient, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
    response = _original_request(self, method, url, *args, **kwargs)
    if response.headers.get("content-type", "").startswith("application/problem+json") and method.upper() != "HEAD":
        path = urlsplit(str(response.request.url)).path
        codes = declared_codes(self, method, path, response.status_code)
        if codes is not None:
            code = response.json().get("code")
            assert code in codes, (f"{method} {path} answered {response.status_code} {code!r}, which its OpenAPI"
                                   f" operation does not declare for that status: {codes}")
    return response
