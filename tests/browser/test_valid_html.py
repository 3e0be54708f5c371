"""Valid HTML: the Nu Html Checker (vnu-jar, pinned) finds no error on any page. Every browser test
already has each page it is served checked (conftest.py); this one visits every kind of page by name,
signed out and signed in, so none is left out because no flow passes it. The invitation, conversation
and moderation pages (a moderator's) are checked in their own flows' tests."""

from __future__ import annotations

import pytest

from tests.browser.support import HtmlChecker, api, open_page
from tests.e2e.pages_support import HOSTILE_AUTHOR
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser
DEMO = "A5999000001"
RECORD = "A5999000124"  # a co-author no other browser test claims

SIGNED_OUT = [f"/r/{DEMO}", f"/r/{DEMO}/trust", f"/r/{DEMO}/history",
              f"/r/{DEMO}/explorer", f"/r/{HOSTILE_AUTHOR}", "/p/works/W4999000001", "/p/works/W5999999901",
              "/p/topics/T19901", "/p/institutions/I599900001", "/p/login", "/p/register", "/p/confirm",
              "/p/password-reset", "/p/password-reset/confirm", "/r/A5999999999", "/r/not-an-id", "/p/works/W1"]


def test_the_checker_finds_errors_where_there_are_some(html_checker: HtmlChecker):
    broken = ('<!doctype html><html lang="en"><head><title>x</title></head>'
              '<body><p><div>in a paragraph</div></p><a href="/" id="a" id="b">x</a></body></html>')
    errors = html_checker.errors(broken)
    assert any("end tag" in e for e in errors) and any("Duplicate attribute" in e for e in errors)


def test_every_page_signed_out_is_valid_html(browser, server, html_checker, every_page_is_valid_html):
    older = api(server, f"/researchers/{DEMO}/works", limit=10)["next_cursor"]
    page, _ = open_page(browser, server)
    for path in [*SIGNED_OUT, f"/r/{DEMO}?works={older}"]:
        page.goto(path)
        served_path, html = every_page_is_valid_html[-1]
        assert served_path == path
        assert html_checker.errors(html) == [], path


def test_every_page_signed_in_is_valid_html(browser, server, html_checker, every_page_is_valid_html):
    address = server.confirmed_account("Valid Html")
    page, _ = open_page(browser, server, javascript=False)
    page.goto("/p/login")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/p/account")
    for path in [f"/r/{DEMO}", f"/r/{DEMO}/explorer", "/p/works/W4999000001", "/p/account", "/p/claims",
                 "/p/invitations", "/p/invitations?box=sent", "/p/notifications", "/p/settings", "/p/account/erase",
                 f"/r/{RECORD}/claim"]:
        page.goto(path)
        served_path, html = every_page_is_valid_html[-1]
        assert served_path == path
        assert html_checker.errors(html) == [], path
    page.get_by_label("Statement").fill("These are my papers.")
    page.get_by_role("button", name="Send the claim").click()
    assert "/p/claims/" in page.url
    served_path, html = every_page_is_valid_html[-1]
    assert served_path.startswith("/p/claims/") and html_checker.errors(html) == []
