"""The pages in a real browser (Debian's Chromium through Playwright) against a live server with the
demo data: what a person sees matches the API's JSON, the Follow form works with and without
JavaScript, markup in titles stays text, axe-core finds no serious violation, the CSP holds."""

from __future__ import annotations

import re

import pytest

from tests.browser.support import api, axe_serious, open_page
from tests.e2e.pages_support import HOSTILE_AUTHOR, HOSTILE_TITLE
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser
DEMO = "A5999000001"


def test_the_demo_profile_shows_the_records_facts_as_the_api_gives_them(browser, server):
    profile = api(server, f"/researchers/{DEMO}")
    trust = api(server, f"/researchers/{DEMO}/trust")
    graph = api(server, f"/researchers/{DEMO}/graph")
    works = api(server, f"/researchers/{DEMO}/works", limit=10)
    page, console = open_page(browser, server)
    response = page.goto(f"/r/{DEMO}")
    assert response.status == 200
    assert page.locator("h1").inner_text() == profile["display_name"]
    hero = page.locator("header.hero").inner_text()
    assert "Researcher" in hero and "Affiliation not imported" in hero
    assert page.locator(".quick li").all_inner_texts() == [trust["label"], "Verification L1", "Unclaimed author"]
    assert trust["label"] == "Trust 21 - Emerging"
    counts = [" ".join(t.split()) for t in page.locator(".counts li").all_inner_texts()]
    assert counts == [f"{profile['works_count']} works", f"{profile['followers_count']} followers",
                      f"{profile['topics_count']} topics",
                      f"{profile['close_collaborators_count']} close collaborators"]
    assert " ".join(page.locator("#follow .button").inner_text().split()) == "Follow researcher 0"
    assert page.get_by_role("link", name="Log in to claim").is_visible()
    assert "Claim this author entity first to unlock direct invitations." in page.locator(".locked").inner_text()
    # The graph picture: the 4 close collaborators, each a link to their own page.
    close = [c for c in graph["coauthors"] if c["close"]]
    drawn = page.locator("svg.graph a.coauthor.close")
    assert drawn.count() == len(close) == profile["close_collaborators_count"] == 4
    assert sorted(drawn.evaluate_all("nodes => nodes.map(n => n.getAttribute('href'))")) == \
        sorted(f"/r/{c['openalex_id']}" for c in close)
    # Published work, newest first: type, year, venue, title and abstract.
    assert page.locator(".works h3").all_inner_texts() == [w["title"] for w in works["items"]]
    newest = works["items"][0]
    meta = page.locator(".works .meta").first.inner_text()
    assert all(str(part) in meta for part in (newest["type"], newest["publication_year"], newest["venue"]["display_name"]))
    assert page.locator(".works .abstract").first.inner_text() == newest["abstract"]
    assert console.csp_violations() == []


def test_a_title_with_script_and_tex_markup_is_shown_as_text(browser, server):
    page, console = open_page(browser, server)
    page.goto(f"/r/{HOSTILE_AUTHOR}")
    first = page.locator(".works li").first
    assert first.locator("h3").inner_text() == HOSTILE_TITLE
    assert first.locator(".abstract").inner_text().startswith("<script>alert(2)</script> \\textbf{bold} &amp;")
    assert page.title() == "Mark Upton · PeerLedger"  # the title's script never ran
    assert page.locator("main img, main script, main b").count() == 0
    assert console.csp_violations() == []


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_follow_asks_to_sign_in_then_counts_and_unfollow_uncounts(browser, server, javascript):
    address = server.confirmed_account(f"Follower {'Js' if javascript else 'Nojs'}")
    page, console = open_page(browser, server, javascript=javascript)
    page.goto(f"/r/{DEMO}")
    before = api(server, f"/researchers/{DEMO}")["followers_count"]
    page.get_by_role("link", name="Follow researcher").click()
    assert page.url.endswith(f"/p/login?next=/r/{DEMO}")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url.endswith(f"/r/{DEMO}")
    assert "Signed in as" in page.locator("header.site").inner_text()
    page.get_by_role("button", name="Follow researcher").click()
    unfollow = page.get_by_role("button", name="Unfollow researcher")
    assert unfollow.locator(".count").inner_text() == str(before + 1)
    # Without JavaScript the form posts and the browser follows the redirect; with it, htmx makes the
    # same request and swaps the section in place (the address stays as it was).
    assert page.url.endswith(f"/r/{DEMO}#follow") != javascript
    assert api(server, f"/researchers/{DEMO}")["followers_count"] == before + 1
    unfollow.click()
    follow = page.get_by_role("button", name=re.compile("^Follow researcher"))  # not "Unfollow researcher"
    assert follow.locator(".count").inner_text() == str(before)
    page.get_by_role("button", name="Sign out").click()
    sign_in = page.get_by_role("link", name="Sign in")
    sign_in.wait_for(state="visible", timeout=10_000)  # the click starts the navigation; it may not have ended
    assert sign_in.is_visible()
    assert console.csp_violations() == []


def test_an_unknown_id_is_a_404_page(browser, server):
    page, console = open_page(browser, server)
    response = page.goto("/r/A5999999999")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == "Not found"
    assert axe_serious(page) == []
    assert console.csp_violations() == []


@pytest.mark.parametrize("path", [f"/r/{DEMO}", f"/r/{DEMO}/trust", f"/r/{DEMO}/history", "/p/login"])
def test_axe_finds_no_serious_violation(browser, server, path):
    page, console = open_page(browser, server)
    assert page.goto(path).status == 200
    assert axe_serious(page) == []
    assert console.csp_violations() == []


def test_the_profile_fits_a_360_pixel_screen(browser, server):
    page, _ = open_page(browser, server, width=360)
    page.goto(f"/r/{DEMO}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_schema_page_draws_the_api_with_no_other_origin_and_no_csp_violation(browser, server):
    page, console = open_page(browser, server)
    elsewhere: list[str] = []

    def only_this_origin(route: Any) -> None:
        if route.request.url.startswith(server.page_base):
            route.continue_()
        else:  # offline: anything from another origin would fail here
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_origin)
    page.goto("/schema")
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    assert "PeerLedger" in page.inner_text(".info .title")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/researchers/{researcher_id}" in p for p in paths)
    assert elsewhere == [] and console.csp_violations() == []
    page.context.close()
