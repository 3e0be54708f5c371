"""The pages over plain HTTP: status codes, headers, CSRF, sign-in cookies and the Follow form.

The pages read the same read models on either store, so these run on the embedded one only."""

from __future__ import annotations

from html import escape

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.conftest import settings_for
from tests.e2e.pages_support import HOSTILE_AUTHOR, HOSTILE_TITLE, csrf_of, demo_works, hostile_work, signed_in
from tests.e2e.support import PASSWORD, person, serving

DEMO_ID = "A5999000001"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"),
                       [*demo_works(), hostile_work()])


def test_the_profile_page_shows_what_the_api_gives_for_the_record(client):
    api = client.get(f"/researchers/{DEMO_ID}").json()
    trust = client.get(f"/researchers/{DEMO_ID}/trust").json()
    page = client.get(f"/r/{DEMO_ID}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    for expected in (f"<h1>{api['display_name']}</h1>", trust["label"], f"Verification {api['verification_level']}",
                     "Unclaimed author", "Affiliation not imported", f"<strong>{api['works_count']}</strong> works",
                     f"<strong>{api['followers_count']}</strong> followers",
                     f"<strong>{api['topics_count']}</strong> topics",
                     f"<strong>{api['close_collaborators_count']}</strong> close collaborators",
                     "Log in to claim", "Claim this author entity first to unlock direct invitations.",
                     f'<p class="headline">{escape(api["headline"])}</p>', "<li>Researcher</li>",
                     '<li class="open">Open to collaborate</li>'):
        assert expected in text, expected
    assert api["headline_generated"] and api["open_to_collaborate"] and not api["affiliation_imported"]


def test_pages_carry_a_strict_csp_and_no_inline_script_or_style(client):
    for path in (f"/r/{DEMO_ID}", f"/r/{DEMO_ID}/trust", f"/r/{DEMO_ID}/history", "/p/login", "/r/A1"):
        page = client.get(path)
        csp = page.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "script-src 'self'" in csp and "unsafe" not in csp, path
        scripts = re.findall(r"<script[^>]*>(.*?)</script>", page.text, re.S)
        assert all(body == "" for body in scripts), path  # only files the app serves (htmx)
        assert re.findall(r"<script[^>]*>", page.text) in ([], ['<script src="/p/static/htmx/htmx-2.0.11.min.js" defer>'])
        assert " style=" not in page.text and "<style" not in page.text and " on" + "click=" not in page.text, path
    assert client.get("/p/static/pages.css").headers["content-type"].startswith("text/css")
    assert client.get("/p/static/htmx/htmx-2.0.11.min.js").status_code == 200
    assert "Zero-Clause BSD" in client.get("/p/static/htmx/LICENSE").text


def test_the_api_keeps_its_own_headers(client):
    assert client.get(f"/researchers/{DEMO_ID}").headers["content-security-policy"] == "frame-ancestors 'none'"


def test_an_unknown_researcher_is_a_404_page_and_a_malformed_id_a_400_page(client):
    unknown = client.get("/r/A5999999999")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in unknown.text and "A5999999999" in unknown.text
    malformed = client.get("/r/not-an-id")
    assert malformed.status_code == 400 and "<h1>Bad request</h1>" in malformed.text


def test_titles_and_abstracts_with_markup_are_shown_as_text(client):
    text = client.get(f"/r/{HOSTILE_AUTHOR}").text
    assert "&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text and "$\\frac{a}{b}$" in text
    assert "&lt;script&gt;alert(2)&lt;/script&gt; \\textbf{bold} &amp;amp; &lt;b&gt;not bold&lt;/b&gt;" in text
    assert HOSTILE_TITLE not in text


def test_a_form_posted_without_its_csrf_token_is_refused_with_a_page(client):
    client.get(f"/r/{DEMO_ID}")  # the browser has its CSRF cookie
    for data in ({}, {"csrf_token": "forged"}):
        refused = client.post(f"/r/{DEMO_ID}/follow", data=data, follow_redirects=False)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert "did not come from this site" in refused.text
    token = csrf_of(client.get("/p/login").text)
    client.cookies.clear()  # a token without the cookie it was made for
    assert client.post("/p/login", data={"csrf_token": token, "email": "a@example.org", "password": "x"},
                       follow_redirects=False).status_code == 403


def test_signed_out_follow_leads_to_sign_in(client):
    assert f'href="/p/login?next=/r/{DEMO_ID}"' in client.get(f"/r/{DEMO_ID}").text
    token = csrf_of(client.get("/p/login").text)  # signed out, the profile itself has no form
    answer = client.post(f"/r/{DEMO_ID}/follow", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/p/login?next=/r/{DEMO_ID}"


def test_page_sign_in_sets_a_session_cookie_the_api_ignores(client):
    who = signed_in(client, "Page Reader", next=f"/r/{DEMO_ID}")
    assert who["login"].headers["location"] == f"/r/{DEMO_ID}"
    cookie = next(c for c in who["login"].headers.get_list("set-cookie") if c.startswith("pl_session="))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "Secure" not in cookie  # plain http here
    assert "Signed in as Page Reader" in client.get(f"/r/{DEMO_ID}").text
    assert client.get("/me").status_code == 401  # the cookie alone opens no API route
    assert client.get("/me", headers=who["headers"]).status_code == 200  # Bearer tokens work as before


def test_a_wrong_password_shows_the_form_again_with_401(client):
    who = person(client, "Forgetful Reader")
    token = csrf_of(client.get("/p/login").text)
    wrong = client.post("/p/login", data={"email": who["email"], "password": "not it at all!", "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong email address or password." in wrong.text
    assert "pl_session" not in wrong.headers.get("set-cookie", "")


def test_sign_in_returns_only_to_paths_on_this_site(client):
    who = person(client, "Careful Reader")
    for sent in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        token = csrf_of(client.get("/p/login").text)
        answer = client.post("/p/login", data={"email": who["email"], "password": PASSWORD, "csrf_token": token,
                                               "next": sent}, follow_redirects=False)
        assert answer.headers["location"] == "/", sent


def test_follow_and_unfollow_through_the_form_change_the_count(client):
    signed_in(client, "Page Reader", next=f"/r/{DEMO_ID}")
    page = client.get(f"/r/{DEMO_ID}").text
    assert re.search(r"Follow researcher <span class=\"count\">0</span>", page)
    followed = client.post(f"/r/{DEMO_ID}/follow", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert followed.status_code == 303 and followed.headers["location"] == f"/r/{DEMO_ID}#follow"
    page = client.get(f"/r/{DEMO_ID}").text
    assert re.search(r"Unfollow researcher <span class=\"count\">1</span>", page)
    assert client.get(f"/researchers/{DEMO_ID}").json()["followers_count"] == 1
    client.post(f"/r/{DEMO_ID}/unfollow", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert re.search(r"Follow researcher <span class=\"count\">0</span>", client.get(f"/r/{DEMO_ID}").text)


def test_an_unconfirmed_account_is_told_to_confirm_before_following(client):
    signed_in(client, "Hasty Reader", confirm=False, next=f"/r/{DEMO_ID}")
    token = csrf_of(client.get(f"/r/{DEMO_ID}").text)
    refused = client.post(f"/r/{DEMO_ID}/follow", data={"csrf_token": token}, follow_redirects=False)
    assert refused.status_code == 403 and "Confirm your email address first" in refused.text


def test_signing_out_ends_the_session_not_just_the_cookie(client):
    signed_in(client, "Page Reader", next=f"/r/{DEMO_ID}")
    session = client.cookies["pl_session"]
    token = csrf_of(client.get(f"/r/{DEMO_ID}").text)
    out = client.post("/p/logout", data={"csrf_token": token, "next": f"/r/{DEMO_ID}"}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == f"/r/{DEMO_ID}"
    assert "Signed in as" not in client.get(f"/r/{DEMO_ID}").text
    client.cookies.set("pl_session", session)  # the old cookie, kept by someone: its session is over
    assert "Signed in as" not in client.get(f"/r/{DEMO_ID}").text


def test_a_tampered_session_cookie_signs_nobody_in(client):
    signed_in(client, "Page Reader", next=f"/r/{DEMO_ID}")
    session = client.cookies["pl_session"]
    client.cookies.set("pl_session", session[:-2] + ("AA" if not session.endswith("AA") else "BB"))
    assert "Signed in as" not in client.get(f"/r/{DEMO_ID}").text


TITLE = re.compile(r'<h3><a href="/p/works/W\d+">(.*?)</a></h3>')  # each title links to the work's page


def test_works_are_paged_newest_first_as_the_api_pages_them(client):
    first = client.get(f"/r/{DEMO_ID}").text
    api = client.get(f"/researchers/{DEMO_ID}/works", params={"limit": 10}).json()
    titles = TITLE.findall(first)
    assert len(titles) == 10 and titles[1] == api["items"][1]["title"]
    older = re.search(r'href="(/r/A5999000001\?works=[^"#]+)#works" rel="next"', first).group(1)
    second = client.get(older.replace("&amp;", "&")).text
    rest = client.get(f"/researchers/{DEMO_ID}/works", params={"limit": 10, "cursor": api["next_cursor"]}).json()
    assert TITLE.findall(second) == [w["title"] for w in rest["items"]]


def test_trust_explained_shows_each_component_of_the_api_snapshot(client):
    trust = client.get(f"/researchers/{DEMO_ID}/trust").json()
    text = client.get(f"/r/{DEMO_ID}/trust").text
    assert trust["label"] in text
    for c in trust["components"]:
        assert f"{c['points']} of {c['maximum']}" in text


def test_history_shows_the_public_entries_of_the_api(client):
    api = client.get(f"/researchers/{DEMO_ID}/history", params={"order": "newest"}).json()
    text = client.get(f"/r/{DEMO_ID}/history").text
    assert api["items"] and all(item["kind"] in text for item in api["items"])


def test_over_https_the_cookies_are_secure(client):
    client.base_url = "https://testserver.local"  # as uvicorn reports it behind a trusted TLS proxy
    who = signed_in(client, "Secure Reader", next=f"/r/{DEMO_ID}")
    cookies = who["login"].headers.get_list("set-cookie")
    assert cookies and all("Secure" in c for c in cookies), cookies
