"""The profile page kept rendered for signed-out readers: an ETag and 304s, no cookie, and never
older than the JSON profile: a follow, an unfollow or a claim shows as soon as the API counts it.
Signed-in readers get their own page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from api.pages.page_cache import profile_pages
from tests.conftest import settings_for
from tests.e2e.pages_support import csrf_of, demo_works
from tests.e2e.support import PASSWORD, own, person, serving, settle

DEMO_ID = "A5999000001"
RECORD = "A5999000110"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    for client in serving(settings_for("sqlite", tmp_path, None, PEERLEDGER_RATE_LIMIT_SCALE="100"), demo_works()):
        settle(client)  # the caches have taken in the import: nothing moves the stamp but the tests
        yield client


def followers_shown(html: str) -> int:
    return int(re.search(r"<strong>(\d+)</strong> followers", html).group(1))


def test_a_signed_out_profile_page_carries_an_etag_and_revalidates_to_304(client):
    page = client.get(f"/r/{DEMO_ID}")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache" and page.headers["vary"] == "Cookie"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers  # the same bytes for every signed-out reader
    etag = page.headers["etag"]
    again = client.get(f"/r/{DEMO_ID}", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(f"/r/{DEMO_ID}", headers={"if-none-match": '"other"'}).status_code == 200
    head = client.head(f"/r/{DEMO_ID}")
    assert head.status_code == 200 and head.headers["etag"] == etag and head.content == b""
    assert client.get(f"/r/{DEMO_ID}").content == page.content
    assert len(profile_pages(client.app.state).signed_out) == 1  # rendered once


def test_a_follow_and_an_unfollow_show_on_the_cached_page_once_counted(client):
    first = client.get(f"/r/{DEMO_ID}")
    assert followers_shown(first.text) == 0
    fan = person(client, "Page Fan")
    assert client.put(f"/me/following/{DEMO_ID}", headers=fan["headers"]).status_code == 201
    settle(client)
    followed = client.get(f"/r/{DEMO_ID}", headers={"if-none-match": first.headers["etag"]})
    assert followed.status_code == 200 and followed.headers["etag"] != first.headers["etag"]
    assert followers_shown(followed.text) == 1 == client.get(f"/researchers/{DEMO_ID}").json()["followers_count"]
    assert client.delete(f"/me/following/{DEMO_ID}", headers=fan["headers"]).status_code == 200
    settle(client)
    # The counts are back where they were: the page rendered with them then is right again.
    unfollowed = client.get(f"/r/{DEMO_ID}")
    assert followers_shown(unfollowed.text) == 0 and unfollowed.headers["etag"] == first.headers["etag"]


def test_a_claim_shows_on_the_cached_page_once_the_profile_has_it(client):
    before = client.get(f"/r/{RECORD}").text
    assert "Unclaimed author" in before and "Log in to claim" in before
    owner = person(client, "Page Owner")
    own(client, owner["id"], RECORD)
    settle(client)
    after = client.get(f"/r/{RECORD}").text
    assert "Claimed by Page Owner" in after and "Verification L2" in after
    assert client.get(f"/researchers/{RECORD}").json()["claim_status"] == "claimed"


def test_a_signed_in_reader_gets_a_page_of_their_own(client):
    signed_out = client.get(f"/r/{DEMO_ID}")
    who = person(client, "Own Page Reader")
    token = csrf_of(client.get("/p/login").text)
    client.post("/p/login", data={"email": who["email"], "password": PASSWORD, "csrf_token": token})
    page = client.get(f"/r/{DEMO_ID}")
    assert "Signed in as Own Page Reader" in page.text and "Signed in as" not in signed_out.text
    assert 'action="/r/A5999000001/follow"' in page.text and csrf_of(page.text)
    assert "etag" not in page.headers and page.headers["cache-control"] == "no-store"
    follow = client.post(f"/r/{DEMO_ID}/follow", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert follow.status_code == 303
    followed = client.get(f"/r/{DEMO_ID}").text
    assert "You follow this researcher." in followed and followers_shown(followed) == 1
    client.cookies.clear()  # signed out again: the count, without the reader's parts
    settle(client)
    anonymous = client.get(f"/r/{DEMO_ID}").text
    assert followers_shown(anonymous) == 1 and "You follow" not in anonymous and "Signed in as" not in anonymous


def test_the_pages_of_works_are_kept_apart(client):
    first = client.get(f"/r/{DEMO_ID}").text
    older = re.search(r'href="(/r/A5999000001\?works=[^"#]+)#works" rel="next"', first).group(1)
    second = client.get(older.replace("&amp;", "&")).text
    assert second != first and 'rel="next"' not in second
    assert client.get(f"/r/{DEMO_ID}").text == first


def test_a_profile_cache_warmed_again_passes_every_kept_page_by(client):
    """A rebuilt view starts its positions again: a warm gives the replica a stamp never seen before."""
    client.get(f"/r/{DEMO_ID}")
    replica = client.app.state.profile_cache
    before = replica.stamp
    replica.warm()
    assert replica.stamp != before and replica.stamp[1] == before[1]
    client.get(f"/r/{DEMO_ID}")
    assert len(profile_pages(client.app.state).signed_out) == 2


def test_an_owners_new_headline_shows_on_the_kept_page_once_the_profile_has_it(client):
    owner = person(client, "Headline Owner")
    own(client, owner["id"], RECORD)
    settle(client)
    assert "Graph learning for science" not in client.get(f"/r/{RECORD}").text
    edited = client.patch(f"/researchers/{RECORD}/profile", headers=owner["headers"],
                          json={"headline": "Graph learning for science"})
    assert edited.status_code == 200, edited.text
    settle(client)
    assert '<p class="headline">Graph learning for science</p>' in client.get(f"/r/{RECORD}").text
