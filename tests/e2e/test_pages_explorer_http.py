"""The explorer pages over plain HTTP: the graph at depth 2, a work, a topic and an institution show
what the JSON explorer routes give, paged the same way; unknown ids are 404 pages, malformed ones and
forged cursors 400 pages; markup in titles and abstracts stays text."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from api.pages import explorer as explorer_pages
from tests.conftest import settings_for
from tests.e2e.pages_support import HOSTILE_TITLE, demo_works, hostile_work
from tests.e2e.support import serving

DEMO_ID = "A5999000001"
TOPIC = "T19901"  # on most demo works, with 16 researchers
INSTITUTION = "I599900001"


def beyond_work() -> dict[str, Any]:
    """A co-author of the demo researcher writes with someone the demo researcher never wrote with."""
    work = json.loads(json.dumps(demo_works()[1]))
    coauthor = next(a for a in work["authorships"] if not a["author"]["id"].endswith(DEMO_ID))
    beyond = json.loads(json.dumps(coauthor)) | {"author_position": "last", "raw_author_name": "Bea Yond"}
    beyond["author"] = {"id": "https://openalex.org/A5999000950", "display_name": "Bea Yond", "orcid": None}
    return work | {"id": "https://openalex.org/W5999999950", "doi": None, "authorships": [coauthor, beyond]}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"),
                       [*demo_works(), hostile_work(), beyond_work()])


def section(page: str, ident: str) -> str:
    found = re.search(rf'<section[^>]* id="{ident}".*?</section>', page, re.S)
    assert found, f"no section #{ident}"
    return found.group(0)


def links(fragment: str, prefix: str) -> list[tuple[str, str]]:
    """(href, text) of the links to `prefix...` in order, the text unescaped."""
    return [(href, html.unescape(re.sub(r"<[^>]+>", "", text)))
            for href, text in re.findall(rf'<a href="({re.escape(prefix)}[^"]*)"[^>]*>(.*?)</a>', fragment, re.S)]


def test_the_profile_opens_the_explorer_with_the_graph_at_depth_2(client):
    profile = client.get(f"/r/{DEMO_ID}").text
    assert f'<a href="/r/{DEMO_ID}/explorer">Open full explorer</a>' in profile
    graph = client.get(f"/researchers/{DEMO_ID}/graph", params={"depth": 2}).json()
    page = client.get(f"/r/{DEMO_ID}/explorer")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    svg = re.search(r"<svg class=\"graph explorer\".*?</svg>", page.text, re.S).group(0)
    # Every node is a link: co-authors, topics, institutions, co-authors of co-authors, and the person.
    nodes = re.findall(r'<a href="([^"]+)" class="node ([a-z ]+)"', svg)
    kinds = [kind for _, kind in nodes]
    assert kinds.count("coauthor close") + kinds.count("coauthor") == len(graph["coauthors"])
    assert kinds.count("coauthor close") == sum(c["close"] for c in graph["coauthors"]) == 4
    assert kinds.count("second") == len(graph["second_degree"]) == 1  # Bea Yond
    assert kinds.count("topic") == len(graph["topics"]) and kinds.count("institution") == len(graph["institutions"])
    assert kinds.count("person") == 1
    hrefs = {href for href, _ in nodes}
    assert {f"/r/{c['openalex_id']}" for c in graph["coauthors"] + graph["second_degree"]} <= hrefs
    assert {f"/p/topics/{t['openalex_id']}" for t in graph["topics"]} <= hrefs
    assert {f"/p/institutions/{i['openalex_id']}" for i in graph["institutions"]} <= hrefs
    # The same graph as lists, in the API's order.
    assert [name for _, name in links(section(page.text, "coauthors"), "/r/")] == \
        [c["display_name"] for c in graph["coauthors"]]
    assert [name for _, name in links(section(page.text, "second-degree"), "/r/")] == \
        [c["display_name"] for c in graph["second_degree"]]
    assert [href for href, _ in links(section(page.text, "adjacent"), "/p/works/")] == \
        [f"/p/works/{w['openalex_id']}" for w in graph["adjacent_works"]]


def test_a_work_page_shows_the_work_as_the_api_gives_it(client):
    work = client.get("/works/W4999000001").json()
    page = client.get("/p/works/w4999000001")  # any case, as the API takes it
    assert page.status_code == 200
    assert f"<h1>{html.escape(work['title'], quote=False)}</h1>" in page.text
    assert [(href, name) for href, name in links(section(page.text, "authors"), "/r/")] == \
        [(f"/r/{a['openalex_id']}", a["display_name"]) for a in work["authorships"]]
    assert [href for href, _ in links(section(page.text, "topics"), "/p/topics/")] == \
        [f"/p/topics/{t['openalex_id']}" for t in work["topics"]]
    assert {href for href, _ in links(section(page.text, "topics"), "/p/institutions/")} == \
        {f"/p/institutions/{i['openalex_id']}" for i in work["institutions"]}
    assert html.escape(work["abstract"], quote=True)[:200] in page.text


def test_markup_in_a_works_title_and_abstract_is_text_on_its_page(client):
    page = client.get("/p/works/W5999999901").text
    assert "<h1>&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt; Bounds on $\\frac{a}{b}$" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt; \\textbf{bold} &amp;amp; &lt;b&gt;not bold&lt;/b&gt;" in page
    assert HOSTILE_TITLE not in page and "<b>not" not in page


def every_listed(client: TestClient, path: str, name: str, prefix: str) -> tuple[list[str], int]:
    """Follow the page's own "next" links for one list to its end: every href listed, and how many pages."""
    hrefs: list[str] = []
    pages = 0
    url: str | None = path
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.text
        pages += 1
        hrefs += [href for href, _ in links(section(page.text, name), prefix)]
        found = re.search(r'<a href="([^"]+)" rel="next">', section(page.text, name))
        url = html.unescape(found.group(1)) if found else None
    return hrefs, pages


@pytest.mark.parametrize(("kind", "ident"), [("topics", TOPIC), ("institutions", INSTITUTION)])
def test_a_topic_and_an_institution_page_their_researchers_and_works_as_the_api_does(client, monkeypatch, kind,
                                                                                     ident):
    monkeypatch.setattr(explorer_pages, "RESEARCHERS_PER_PAGE", 3)
    monkeypatch.setattr(explorer_pages, "WORKS_PER_PAGE", 2)
    about = client.get(f"/{kind}/{ident}").json()
    page = client.get(f"/p/{kind}/{ident}").text
    assert f"<strong>{about['works_count']}</strong> works" in page
    assert f"<strong>{about['researchers_count']}</strong> researchers" in page
    researchers = client.get(f"/{kind}/{ident}/researchers", params={"limit": 100}).json()["items"]
    works = client.get(f"/{kind}/{ident}/works", params={"limit": 100}).json()["items"]
    listed, pages = every_listed(client, f"/p/{kind}/{ident}", "researchers", "/r/")
    assert listed == [f"/r/{r['openalex_id']}" for r in researchers]
    assert pages == -(-len(researchers) // 3) > 1
    listed, pages = every_listed(client, f"/p/{kind}/{ident}", "works", "/p/works/")
    assert listed == [f"/p/works/{w['openalex_id']}" for w in works]
    assert pages == -(-len(works) // 2) > 1


def test_paging_one_list_keeps_the_others_place(client, monkeypatch):
    monkeypatch.setattr(explorer_pages, "RESEARCHERS_PER_PAGE", 3)
    monkeypatch.setattr(explorer_pages, "WORKS_PER_PAGE", 2)
    first = client.get(f"/p/topics/{TOPIC}").text
    more_works = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', section(first, "works")).group(1))
    second = client.get(more_works).text
    more_researchers = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', section(second, "researchers"))
                                     .group(1))
    assert "works=" in more_researchers and more_researchers.endswith("#researchers")
    both = client.get(more_researchers).text
    assert links(section(both, "works"), "/p/works/") == links(section(second, "works"), "/p/works/")
    assert links(section(both, "researchers"), "/r/") != links(section(second, "researchers"), "/r/")
    assert "Newest works" in section(both, "works") and "First researchers" in section(both, "researchers")


@pytest.mark.parametrize(("path", "sentence"), [
    ("/p/works/W1", "No work with id &#39;W1&#39;."),
    ("/p/works/00000000-0000-0000-0000-000000000000", "No work with id"),
    ("/p/topics/T1", "No work on record has topic &#39;T1&#39;."),
    ("/p/institutions/I1", "No work on record names institution &#39;I1&#39;."),
    ("/r/A5999999999/explorer", "No researcher with id &#39;A5999999999&#39;."),
])
def test_an_unknown_id_is_a_404_page_that_says_what_is_missing(client, path, sentence):
    page = client.get(path)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text and sentence in page.text


@pytest.mark.parametrize(("path", "words"), [
    ("/p/works/not-a-work", "is not a work id"),
    ("/p/topics/I599900001", "is not a topic id"),
    ("/p/institutions/T19901", "is not an institution id"),
    (f"/p/topics/{TOPIC}?researchers=forged", "Cursor is not one this API gave out"),
    (f"/p/institutions/{INSTITUTION}?works=forged", "Cursor is not one this API gave out"),
])
def test_a_malformed_id_or_cursor_is_a_400_page(client, path, words):
    page = client.get(path)
    assert page.status_code == 400 and "<h1>Bad request</h1>" in page.text and words in page.text
