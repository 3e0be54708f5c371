"""The owner's edit page for the headline and about text (/r/{id}/edit) over plain HTTP: the same
function as PATCH /researchers/{id}/profile, its refusals as sentences with the API's status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from tests.conftest import settings_for
from tests.e2e.pages_support import csrf_of, demo_works, signed_in
from tests.e2e.support import own, serving

RECORD = "A5999000001"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from serving(settings_for("sqlite", tmp_path, None), demo_works())


def post_edit(client: TestClient, **fields: str):
    token = csrf_of(client.get(f"/r/{RECORD}/edit").text)
    return client.post(f"/r/{RECORD}/edit", data={**fields, "csrf_token": token}, follow_redirects=False)


def test_the_owner_edits_the_headline_and_about_and_the_profile_shows_them(client):
    owner = signed_in(client, "Page Owner")
    own(client, owner["id"], RECORD)
    assert f'href="/r/{RECORD}/edit"' in client.get(f"/r/{RECORD}").text

    answer = post_edit(client, headline="Multimodal learning, in one line", about="I build <b>models</b>.")

    assert (answer.status_code, answer.headers["location"]) == (303, f"/r/{RECORD}")
    page = client.get(f"/r/{RECORD}").text
    assert '<p class="headline">Multimodal learning, in one line</p>' in page
    assert "I build &lt;b&gt;models&lt;/b&gt;." in page  # shown as text
    assert client.get(f"/researchers/{RECORD}").json()["headline_generated"] is False
    # Blank fields remove both: the generated headline is back.
    post_edit(client, headline=" ", about="")
    shown = client.get(f"/researchers/{RECORD}").json()
    assert (shown["headline_generated"], shown["about"]) == (True, None)


def test_a_refused_headline_is_shown_beside_the_form_and_nothing_changes(client):
    owner = signed_in(client, "Page Owner")
    own(client, owner["id"], RECORD)

    answer = post_edit(client, headline="left\u202eright", about="kept?")

    assert answer.status_code == 422  # as the pages answer every form the API's rules refuse
    assert 'role="alert"' in answer.text and "Headline" in answer.text
    assert client.get(f"/researchers/{RECORD}").json()["about"] is None


def test_only_the_owner_gets_the_edit_page(client):
    signed_out = client.get(f"/r/{RECORD}/edit", follow_redirects=False)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, f"/p/login?next=/r/{RECORD}/edit")

    signed_in(client, "Not The Owner")
    refused = client.get(f"/r/{RECORD}/edit")
    assert refused.status_code == 403 and "only the record" in refused.text.lower()
    assert 'href="/r/' + RECORD + '/edit"' not in client.get(f"/r/{RECORD}").text


def test_the_edit_form_without_its_csrf_token_is_refused(client):
    owner = signed_in(client, "Page Owner")
    own(client, owner["id"], RECORD)

    answer = client.post(f"/r/{RECORD}/edit", data={"headline": "x"}, follow_redirects=False)

    assert answer.status_code == 403
    assert client.get(f"/researchers/{RECORD}").json()["headline_generated"] is True


def test_a_non_owner_posting_the_edit_form_is_refused_and_nothing_changes(client):
    signed_in(client, "Not The Owner")
    token = csrf_of(client.get("/p/login").text)

    answer = client.post(f"/r/{RECORD}/edit", data={"headline": "Mine now", "csrf_token": token},
                         follow_redirects=False)

    assert answer.status_code == 403 and "only the record" in answer.text.lower()
    assert client.get(f"/researchers/{RECORD}").json()["headline_generated"] is True
