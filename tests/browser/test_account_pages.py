"""Account pages in the browser: register, confirm with the mailed code, sign in, change the display
name and the password, forget it and reset it from the mail, with and without JavaScript."""

from __future__ import annotations

import pytest

from tests.browser.support import axe_serious, open_page
from tests.e2e.support import PASSWORD

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a brand new long password"
NEWEST_PASSWORD = "the newest long password"


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_register_confirm_sign_in_rename_and_change_the_password(browser, server, javascript):
    address = f"reg.{'js' if javascript else 'nojs'}@example.org"
    page, console = open_page(browser, server, javascript=javascript)
    page.goto("/p/login")
    page.get_by_role("link", name="Create one").click()
    assert not javascript or axe_serious(page) == []  # axe runs as script: with JavaScript only
    page.get_by_label("Display name").fill("Regina Page")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(address)  # long enough for the browser's check, refused by the server
    page.get_by_role("button", name="Create account").click()
    assert "email" in page.get_by_role("alert").inner_text()  # the refusal, beside the form
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    assert page.url.endswith("/p/confirm?done=registered")
    assert "We mailed a six-digit code" in page.get_by_role("status").inner_text()
    assert not javascript or axe_serious(page) == []  # axe runs as script: with JavaScript only
    page.locator("#email").fill(address)
    page.get_by_label("Six-digit code from the mail").fill(server.code_in_mail(address))
    page.get_by_role("button", name="Confirm").click()
    assert page.url.endswith("/p/login?done=confirmed")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("header.site").get_by_role("link", name="Account").click()
    assert "Signed in as Regina Page" in page.locator("header.site").inner_text()
    assert not javascript or axe_serious(page) == []  # axe runs as script: with JavaScript only
    page.get_by_role("textbox", name="Display name").fill("Regina Renamed")
    page.get_by_role("button", name="Change the name").click()
    assert "Your display name is changed." in page.get_by_role("status").inner_text()
    assert "Signed in as Regina Renamed" in page.locator("header.site").inner_text()
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    assert page.get_by_role("alert").inner_text() == "The current password is wrong."
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    assert "Your password is changed." in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Sign out").click()

    # Forgotten: a code by mail sets the newest password.
    page.goto("/p/login")
    page.get_by_role("link", name="Forgotten your password?").click()
    assert not javascript or axe_serious(page) == []  # axe runs as script: with JavaScript only
    page.get_by_label("Email address").fill(address)
    page.get_by_role("button", name="Mail me a code").click()
    assert page.url.endswith("/p/password-reset/confirm?done=reset-sent")
    assert not javascript or axe_serious(page) == []  # axe runs as script: with JavaScript only
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Six-digit code from the mail").fill(server.code_in_mail(address, "password reset"))
    page.get_by_label("New password").fill(NEWEST_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    assert page.url.endswith("/p/login?done=password-reset")
    page.get_by_label("Email address").fill(address)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email address or password."
    page.get_by_label("Password").fill(NEWEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert "Signed in as Regina Renamed" in page.locator("header.site").inner_text()
    assert console.csp_violations() == []
