"""The explorer in a real browser: from the profile's "Open full explorer" to the graph at depth 2,
a topic's page and its next page of researchers, a work's page, an institution's page; each as the
API gives it, with no serious axe-core violation and no CSP violation; an unknown work is a 404 page."""

from __future__ import annotations

import pytest

from tests.browser.support import api, axe_serious, open_page

pytestmark = pytest.mark.browser
DEMO = "A5999000001"


def test_from_the_profile_through_the_explorer_to_a_topic_a_work_and_an_institution(browser, server):
    graph = api(server, f"/researchers/{DEMO}/graph", depth=2)
    page, console = open_page(browser, server)
    page.goto(f"/r/{DEMO}")
    page.get_by_role("link", name="Open full explorer").click()
    assert page.url.endswith(f"/r/{DEMO}/explorer")
    assert page.locator("h1").inner_text() == "Research graph"
    assert page.locator("svg.graph a.coauthor").count() == len(graph["coauthors"])
    assert page.locator("svg.graph a.topic").count() == len(graph["topics"])
    assert page.locator("#coauthors li").all_inner_texts()[0].startswith(graph["coauthors"][0]["display_name"])
    assert axe_serious(page) == []

    # A node of the picture is a link: the busiest topic's page.
    topic = graph["topics"][0]
    page.locator("svg.graph a.topic").first.click()
    assert page.url.endswith(f"/p/topics/{topic['openalex_id']}")
    about = api(server, f"/topics/{topic['openalex_id']}")
    assert page.locator("h1").inner_text() == about["display_name"]
    first = api(server, f"/topics/{topic['openalex_id']}/researchers", limit=10)
    second = api(server, f"/topics/{topic['openalex_id']}/researchers", limit=10, cursor=first["next_cursor"])
    names = page.locator("#researchers li a")
    assert names.all_inner_texts() == [r["display_name"] for r in first["items"]]
    assert axe_serious(page) == []
    page.get_by_role("link", name="More researchers").click()
    assert names.all_inner_texts() == [r["display_name"] for r in second["items"]]
    page.get_by_role("link", name="First researchers").click()
    assert names.all_inner_texts() == [r["display_name"] for r in first["items"]]

    # A work of the topic, then one of its institutions.
    newest = api(server, f"/topics/{topic['openalex_id']}/works", limit=1)["items"][0]
    page.locator("#works h3 a").first.click()
    assert page.url.endswith(f"/p/works/{newest['openalex_id']}")
    assert page.locator("h1").inner_text() == newest["title"]
    work = api(server, f"/works/{newest['openalex_id']}")
    authors = page.locator("#authors li > a:first-child").all_inner_texts()
    assert authors == [a["display_name"] for a in work["authorships"]]
    assert axe_serious(page) == []
    institution = work["institutions"][0]
    page.locator("#topics").get_by_role("link", name=institution["display_name"]).click()
    assert page.url.endswith(f"/p/institutions/{institution['openalex_id']}")
    assert page.locator("h1").inner_text() == institution["display_name"]
    assert axe_serious(page) == []
    assert console.csp_violations() == []


def test_an_unknown_work_is_a_404_page(browser, server):
    page, console = open_page(browser, server)
    response = page.goto("/p/works/W1")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert page.locator("main").inner_text().endswith("No work with id 'W1'.")
    assert axe_serious(page) == []
    assert console.csp_violations() == []
