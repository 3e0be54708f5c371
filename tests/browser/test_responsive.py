"""Usable at 360 px (a small phone) and at 1280 px (a laptop): no page scrolls sideways, and each
page's main controls are shown inside the screen's width."""

from __future__ import annotations

import pytest

from tests.browser.support import open_page
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser
DEMO = "A5999000001"
WIDTHS = [360, 1280]

# page -> its main controls, as (role, name) or a CSS selector
SIGNED_OUT = {
    f"/r/{DEMO}": [("heading", "Zhiwu Lu"), ("link", "Follow researcher 0"), ("link", "Log in to claim"),
                   ("link", "Open full explorer"), ("link", "Older works"), "svg.graph", ("link", "Sign in")],
    f"/r/{DEMO}/explorer": [("heading", "Research graph"), "svg.graph", "#coauthors li a", "#topics li a"],
    f"/r/{DEMO}/trust": [("heading", "Trust explained"), "table.components"],
    f"/r/{DEMO}/history": [("heading", "History")],
    "/p/works/W4999000002": [("heading", "Text2Poster: Laying out Stylized Texts on Retrieved Images"),
                             "#authors li a"],
    "/p/topics/T19901": [("heading", "Multimodal Machine Learning Applications"), ("link", "More researchers"),
                         "#works h3 a"],
    "/p/login": [("textbox", "Email address"), "#password", ("button", "Sign in"), ("link", "Create one")],
}


def control(page, wanted):
    return page.get_by_role(wanted[0], name=wanted[1], exact=True).first if isinstance(wanted, tuple) \
        else page.locator(wanted).first


def assert_fits(page, width: int, controls: list) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    for wanted in controls:
        found = control(page, wanted)
        found.scroll_into_view_if_needed()
        assert found.is_visible(), (page.url, wanted)
        box = found.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (page.url, wanted, box)


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("path", list(SIGNED_OUT))
def test_a_page_fits_the_screen_with_its_controls_in_view(browser, server, path, width):
    page, console = open_page(browser, server, width=width)
    assert page.goto(path).status == 200
    assert_fits(page, width, SIGNED_OUT[path])
    assert console.csp_violations() == []
    page.context.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_signed_in_the_profile_and_account_fit_the_screen(browser, server, width):
    address = server.confirmed_account(f"Narrow Reader {width}")
    page, console = open_page(browser, server, width=width)
    page.goto("/p/login")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/p/account")
    assert_fits(page, width, [("textbox", "Display name"), ("button", "Change the name"),
                              ("button", "Change the password"), ("button", "Sign out")])
    page.goto(f"/r/{DEMO}")
    assert_fits(page, width, [("button", "Follow researcher 0"), ("link", "Claim this record"), ("button", "Sign out"),
                              ("link", "Invitations")])
    assert console.csp_violations() == []
    page.context.close()
