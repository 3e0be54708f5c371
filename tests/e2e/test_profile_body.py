"""Every profile the API serves is a ProfileOut, built by one function (api/follower_counts.py:
profile_body): anonymous, signed in, as it was at a moment, and in search pages."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from projections.profiles.documents import ProfileOut
from tests.conftest import settings_for
from tests.e2e.support import person, serving, settle
from tests.factories import author, work


def test_every_served_profile_decodes_as_profile_out(tmp_path, pg_schema):
    works = [work(1, [author(1, "Ada One"), author(2, "Ben Two")]), work(2, [author(1, "Ada One")])]
    for client in serving(settings_for("postgres", tmp_path, pg_schema), works):
        reader = person(client, "Rea Der")
        assert client.put("/me/following/A1", headers=reader["headers"]).status_code == 201
        settle(client)
        bodies = [client.get("/researchers/A1").content, client.get("/researchers/A1", headers=reader["headers"]).content,
                  client.get("/researchers/A1", params={"as_of": datetime.now(UTC).isoformat()}).content]
        bodies += [msgspec.json.encode(item) for item in client.get("/researchers", params={"q": "a"}).json()["items"]]
        served = [msgspec.json.decode(body, type=ProfileOut, strict=True) for body in bodies]
        assert [p.following for p in served[:2]] == [None, True]
        assert b'"following"' not in bodies[0]  # only for a signed-in reader
        assert served[0].followers_count == 1 and served[0].trust.score is not None
        assert {p.display_name for p in served[3:]} == {"Ada One"}
