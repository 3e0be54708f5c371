"""The interactive API page at /schema, served whole by the app (no CDN: it works offline).

Swagger UI 5.32.0 from a pinned, unchanged copy (swagger-ui/README); the page starts it from a
script file of its own, so its policy allows scripts from this origin only (styles inline too:
Swagger UI sets style attributes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.router import Router
from litestar.static_files import create_static_files_router

HERE = Path(__file__).parent
ASSETS = "/schema/assets"
# The header's policy (api/errors.py SECURITY_HEADERS) adds frame-ancestors 'none'.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
               "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'")

PAGE = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{PAGE_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>PeerLedger API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-url="/schema/openapi.json"></div>
<script src="{ASSETS}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/start.js"></script>
</body>
</html>
""".encode()


class OfflineSwaggerPlugin(OpenAPIRenderPlugin):
    """Swagger UI from this app's own assets."""

    def __init__(self, path: str | list[str] = ("/", "/swagger")) -> None:
        super().__init__(path=list(path))

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return PAGE

    def receive_router(self, router: Router) -> None:
        router.register(create_static_files_router(
            "/assets", directories=[HERE], name="schema-assets", include_in_schema=False,
            cache_control=CacheControlHeader(max_age=86400, public=True)))
