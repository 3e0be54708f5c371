"""ExplorerPagesController: the explorer behind "Open full explorer": the graph at depth 2, and a
page for a work, a topic and an institution, read through the functions the JSON explorer routes
call (api/explorer.py, api/trust.py), so the pages show what the API shows and refuse what it refuses."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import anyio
import msgspec
from litestar import Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template

from api.explorer import (
    institution_of,
    institution_researchers,
    institution_works,
    topic_of,
    topic_researchers,
    topic_works,
    work_of,
)
from api.pages.graph_svg import explorer_graph_svg
from api.pages.profile import profile_of
from api.pages.rendering import PageController, page
from api.pages.session import page_principal
from api.trust import graph_out

RESEARCHERS_PER_PAGE = 10
WORKS_PER_PAGE = 10


def pager(path: str, cursors: dict[str, str | None], name: str, next_cursor: str | None) -> dict[str, str | None]:
    """Links to the first and the next page of one list on a page with several: the others stay
    where they are."""
    def href(value: str | None) -> str:
        kept = {k: v for k, v in {**cursors, name: value}.items() if v}
        return path + ("?" + urlencode(kept) if kept else "") + f"#{name}"

    return {"first": href(None) if cursors.get(name) else None,
            "next": href(next_cursor) if next_cursor else None}


def decoded(found: tuple[list[bytes], str | None]) -> tuple[list[dict[str, Any]], str | None]:
    docs, next_cursor = found
    return [msgspec.json.decode(doc) for doc in docs], next_cursor


def explorer_page_data(state: State, raw: str) -> dict[str, Any]:
    _, profile = profile_of(state, raw, None)
    graph = msgspec.to_builtins(graph_out(state, raw, 2))
    return {"raw_id": raw, "p": profile, "graph": graph, "graph_svg": explorer_graph_svg(profile, graph)}


def listing_page_data(state: State, path: str, cursors: dict[str, str | None], heading: Any,
                      researchers: Any, works: Any, raw: str) -> dict[str, Any]:
    """A topic or an institution: what it is, its researchers and its works, each list paged."""
    found = heading(state, raw)
    people = researchers(state, raw, RESEARCHERS_PER_PAGE, cursors["researchers"])
    items, next_works = decoded(works(state, raw, WORKS_PER_PAGE, cursors["works"]))
    return {"it": msgspec.to_builtins(found), "researchers": msgspec.to_builtins(people.items),
            "researchers_pager": pager(path, cursors, "researchers", people.next_cursor),
            "works": items, "works_pager": pager(path, cursors, "works", next_works)}


class ExplorerPagesController(PageController):
    """The explorer's pages; unknown ids are 404 pages and malformed ones 400 pages, as in the API."""

    path = "/"

    @get("/r/{researcher_id:str}/explorer")
    async def graph(self, request: Request, researcher_id: FromPath[str]) -> Template:
        principal = await page_principal(request)
        data = await anyio.to_thread.run_sync(explorer_page_data, request.app.state, researcher_id)
        return await page(request, "explorer.html", principal, **data)

    @get("/p/works/{work_id:str}")
    async def work(self, request: Request, work_id: FromPath[str]) -> Template:
        principal = await page_principal(request)
        found = await anyio.to_thread.run_sync(work_of, request.app.state, work_id)
        return await page(request, "work.html", principal, w=msgspec.to_builtins(found))

    @get("/p/topics/{topic_id:str}")
    async def topic(self, request: Request, topic_id: FromPath[str]) -> Template:
        return await self._listing(request, "topic.html", topic_id, topic_of, topic_researchers, topic_works)

    @get("/p/institutions/{institution_id:str}")
    async def institution(self, request: Request, institution_id: FromPath[str]) -> Template:
        return await self._listing(request, "institution.html", institution_id, institution_of,
                                   institution_researchers, institution_works)

    @staticmethod
    async def _listing(request: Request, template: str, raw: str, heading: Any, researchers: Any,
                       works: Any) -> Template:
        principal = await page_principal(request)
        cursors = {name: request.query_params.get(name) for name in ("researchers", "works")}
        data = await anyio.to_thread.run_sync(listing_page_data, request.app.state, request.url.path, cursors,
                                              heading, researchers, works, raw)
        return await page(request, template, principal, **data)
