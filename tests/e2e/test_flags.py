"""Flags on unclaimed records (issue 18, item 4's last part) over HTTP against PostgreSQL: anyone
signed in flags a suspected misattribution for the moderators; a moderator upholds it (the work
is "not mine", decided by the moderator) or dismisses it (nothing changes). Flags are bounded
per account, and the flagger's words are erased with their account."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from litestar.testing import TestClient

from operations.corrections import export_corrections
from operations.export import export_history
from operations.replay import verify
from tests.conftest import settings_for
from tests.e2e.support import assert_problem, events_stored, person, reader_page, rid, serving, settle
from tests.factories import author, work

# A1 is unclaimed and listed on W1, W2 and W3; A2 (claimed in some tests) on W1, W2 and W4; A5 alone on W5.
A1, A2, A3, A5 = author(1, "Ada One"), author(2, "Bo Two"), author(3, "Cy Three"), author(5, "Eve Five")
WORKS = [
    work(1, [A1, A2], year=2019, topics=[(1, "Topic 1")]),
    work(2, [A2, A1], year=2022, topics=[(2, "Topic 2")], title="A paper Ada did not write"),
    work(3, [A1, A3], year=2020, topics=[(1, "Topic 1"), (3, "Topic 3")]),
    work(4, [A2], year=2021, topics=[(2, "Topic 2")]),
    work(5, [A5], year=2021),
]
REASON = "Ada One works on birds; this is a paper on compilers by another Ada."


@pytest.fixture
def client(tmp_path, pg_schema) -> Iterator[TestClient]:
    yield from serving(settings_for("postgres", tmp_path, pg_schema), WORKS)


def flag(client, who, record="A1", work_id="W2", body=None):
    return client.post(f"/researchers/{record}/works/{work_id}/flags", headers=who["headers"],
                       json={"reason": REASON} if body is None else body)


def test_a_reader_flags_a_work_and_a_moderator_upholding_it_takes_the_work_out_as_a_moderators_not_mine(
        client, tmp_path):
    reader = person(client, "Rita Reader")
    moderator = person(client, "Mo Derator", role="moderator")
    before = reader_page(client, "A1")

    raised = flag(client, reader)

    assert raised.status_code == 201, raised.text
    body = raised.json()
    assert (body["status"], body["reason"], body["researcher_id"], body["work_openalex_id"], body["flagged_by"]) == (
        "open", REASON, rid("A1"), "W2", str(reader["id"]))
    assert body["work_title"] == "A paper Ada did not write" and body["decided_at"] is None
    assert reader_page(client, "A1") == before  # a flag changes nothing by itself
    assert client.get(f"/flags/{body['id']}", headers=reader["headers"]).json()["status"] == "open"
    queue = client.get("/moderation/flags", headers=moderator["headers"])
    assert queue.status_code == 200, queue.text
    assert [(f["id"], f["reason"]) for f in queue.json()["items"]] == [(body["id"], REASON)]

    upheld = client.post(f"/flags/{body['id']}/uphold", headers=moderator["headers"],
                         json={"reason": "Checked the paper's affiliations."})

    assert upheld.status_code == 200, upheld.text
    assert (upheld.json()["status"], upheld.json()["decision_reason"]) == ("upheld", "Checked the paper's affiliations.")
    assert upheld.json()["decided_at"] is not None and upheld.json()["position"] > 0
    after = reader_page(client, "A1")  # no waiting: the answer came once the profile showed it
    assert after["profile"]["works_count"] == before["profile"]["works_count"] - 1 == 2
    assert "W2" not in {w["openalex_id"] for w in after["works"]["items"]}
    assert "W2" in {w["openalex_id"] for w in reader_page(client, "A2")["works"]["items"]}  # the co-author keeps it
    assert client.get("/moderation/flags", headers=moderator["headers"]).json()["items"] == []
    seen = client.get(f"/flags/{body['id']}", headers=reader["headers"]).json()
    assert (seen["status"], seen["decision_reason"]) == ("upheld", "Checked the paper's affiliations.")

    settle(client)  # the history view too
    public = [e for e in client.get("/researchers/A1/history").json()["items"]
              if e["kind"].startswith(("flag.", "attribution."))]
    assert [(e["kind"], e["actor"]["role"], e["reason"]) for e in public] == [
        ("flag.raised", "reader", None), ("flag.upheld", "moderator", None), ("attribution.changed", "moderator", None)]
    assert public[0]["changes"] == {"flag_id": body["id"], "work_id": body["work_id"]}
    private = [e for e in client.get("/researchers/A1/history", headers=moderator["headers"]).json()["items"]
               if e["kind"].startswith("flag.")]
    assert [e["reason"] for e in private] == [REASON, "Checked the paper's affiliations."]
    assert private[0]["personal"] == {"flagged_by": str(reader["id"])}

    out = tmp_path / "corrections.jsonl"
    with out.open("wb") as f:
        assert export_corrections(client.app.state.services, f) == 1
    [line] = [json.loads(text) for text in out.read_text().splitlines()]
    assert (line["decision"], line["work_openalex_id"], line["from_record_openalex_id"], line["evidence_kind"],
            line["actor_role"]) == ("not_mine", "W2", "A1", "moderator_review", "moderator")
    assert "Checked" not in out.read_text() and "birds" not in out.read_text()


def test_a_dismissed_flag_changes_nothing_is_decided_once_and_the_reader_may_flag_again(client):
    reader = person(client, "Rita Reader")
    moderator = person(client, "Mo Derator", role="moderator")
    before = reader_page(client, "A1")
    first = flag(client, reader).json()["id"]

    dismissed = client.post(f"/flags/{first}/dismiss", headers=moderator["headers"], json={"reason": "It is hers."})

    assert dismissed.status_code == 200, dismissed.text
    assert (dismissed.json()["status"], dismissed.json()["decision_reason"]) == ("dismissed", "It is hers.")
    settle(client)
    assert reader_page(client, "A1") == before
    stored = events_stored(client)
    again = client.post(f"/flags/{first}/uphold", headers=moderator["headers"], json={"reason": "Changed my mind."})
    assert assert_problem(again, 409, "dismissed")["code"] == "flag_not_open"
    assert events_stored(client) == stored
    second = flag(client, reader)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first and second.json()["status"] == "open"
    assert [f["id"] for f in client.get("/moderation/flags", headers=moderator["headers"]).json()["items"]] == [
        second.json()["id"]]


def test_flag_refusals_say_why_and_write_nothing(client):
    reader = person(client, "Rita Reader")
    unconfirmed = person(client, "Una Confirmed", confirm=False)
    stranger = person(client, "Sam Stranger")
    person(client, "Bo Two", owns="A2")
    moderator = person(client, "Mo Derator", role="moderator")
    flag_id = flag(client, reader).json()["id"]
    settle(client)
    before, pages = events_stored(client), {r: reader_page(client, r) for r in ("A1", "A2", "A5")}

    def refused(answer, status, part, code):
        assert assert_problem(answer, status, part)["code"] == code

    refused(client.post("/researchers/A1/works/W2/flags", json={"reason": REASON}), 401, "", "unauthenticated")
    refused(flag(client, reader, record="A999"), 404, "A999", "not_found")
    refused(flag(client, reader, work_id="W999"), 404, "W999", "not_found")
    refused(flag(client, reader, work_id="paper-2"), 400, "not a work id", "validation_failed")
    refused(flag(client, reader, record="A5"), 409, "does not list this record", "not_an_author")
    refused(flag(client, reader, record="A2", work_id="W1"), 409, "has an owner", "record_claimed")
    refused(flag(client, reader), 409, "open flag", "already_flagged")
    refused(flag(client, unconfirmed), 403, "confirm your email", "email_unconfirmed")
    for body, field in (({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "x\x00"}, "reason"),
                        ({"reason": "x" * 2_001}, "reason"), ({"reason": "ok", "why": "x"}, "why"),
                        ({"reason": 7}, "reason")):
        assert assert_problem(flag(client, stranger, body=body), 400, field)["code"] == "validation_failed"
    refused(client.post(f"/flags/{flag_id}/uphold", headers=reader["headers"], json={"reason": "mine"}), 403,
            "moderator", "forbidden")
    refused(client.post(f"/flags/{flag_id}/dismiss", headers=stranger["headers"], json={"reason": "no"}), 403,
            "moderator", "forbidden")
    refused(client.get("/moderation/flags", headers=reader["headers"]), 403, "moderator", "forbidden")
    refused(client.post(f"/flags/{uuid4()}/uphold", headers=moderator["headers"], json={"reason": "x"}), 404,
            "no such flag", "not_found")
    refused(client.get(f"/flags/{flag_id}", headers=stranger["headers"]), 404, "no such flag", "not_found")
    refused(client.get(f"/flags/{uuid4()}", headers=moderator["headers"]), 404, "no such flag", "not_found")
    refused(client.post(f"/flags/{flag_id}/uphold", headers=moderator["headers"], json={"reason": ""}), 400,
            "reason", "validation_failed")
    refused(client.post(f"/flags/{flag_id}/dismiss", headers=moderator["headers"], json={}), 400, "reason",
            "validation_failed")

    settle(client)
    assert events_stored(client) == before
    assert {r: reader_page(client, r) for r in ("A1", "A2", "A5")} == pages
    assert client.get(f"/flags/{flag_id}", headers=reader["headers"]).json()["status"] == "open"


def test_a_moderator_decides_no_flag_they_raised_nor_one_on_a_record_they_have_claimed(client):
    moderator = person(client, "Mo Derator", role="moderator")
    other = person(client, "Ola Moderator", role="moderator")
    own_flag = flag(client, moderator).json()["id"]
    assert client.post("/researchers/A1/claims", headers=other["headers"],
                       json={"evidence": [{"kind": "statement", "text": "I am Ada."}]}).status_code == 201
    stored = events_stored(client)

    mine = client.post(f"/flags/{own_flag}/uphold", headers=moderator["headers"], json={"reason": "Agreed."})
    claimed = client.post(f"/flags/{own_flag}/dismiss", headers=other["headers"], json={"reason": "Mine."})

    assert assert_problem(mine, 403, "moderator cannot decide")["code"] == "moderator_involved"
    assert assert_problem(claimed, 403, "moderator cannot decide")["code"] == "moderator_involved"
    assert client.get("/moderation/flags", headers=other["headers"]).json()["items"] == []  # not theirs to see
    assert assert_problem(client.get(f"/flags/{own_flag}", headers=other["headers"]), 404, "no such flag")
    assert events_stored(client) == stored


def test_flags_are_limited_per_account_and_the_refusal_says_when_to_try_again(client):
    reader = person(client, "Rita Reader")
    assert flag(client, reader).status_code == 201
    answers = [flag(client, reader).status_code for _ in range(9)]  # refused flags count too
    assert answers == [409] * 9
    stored = events_stored(client)

    limited = flag(client, reader, work_id="W3")

    body = assert_problem(limited, 429, "too many flags")
    assert body["code"] == "rate_limited" and 0 < body["retry_after"] <= 3600
    assert limited.headers["retry-after"] == str(body["retry_after"])
    assert events_stored(client) == stored
    other = person(client, "Sam Stranger")
    assert flag(client, other, work_id="W3").status_code == 201  # per account


def test_erasing_the_flaggers_account_erases_their_reason_and_keeps_the_flag(client):
    reader = person(client, "Rita Reader")
    moderator = person(client, "Mo Derator", role="moderator")
    flag_id = flag(client, reader).json()["id"]
    settle(client)  # the history holds the reason opened before the erasure

    assert client.delete("/me", headers=reader["headers"]).status_code == 204
    settle(client)
    services = client.app.state.services
    stored = [row["reason"] for row in services.history_view.entries(rid("A1"), None, 100, newest_first=False)
              if row["kind"] == "flag.raised"]
    assert stored == ["erased"]  # shredded in the view itself, not only hidden when read
    assert [list(v.differences) for v in verify(services, ["history"])] == [[]]

    seen = client.get(f"/flags/{flag_id}", headers=moderator["headers"])
    assert seen.status_code == 200, seen.text
    assert (seen.json()["status"], seen.json()["reason"]) == ("open", None)
    upheld = client.post(f"/flags/{flag_id}/uphold", headers=moderator["headers"], json={"reason": "Checked."})
    assert upheld.status_code == 200, upheld.text
    settle(client)
    raised = next(e for e in client.get("/researchers/A1/history", headers=moderator["headers"]).json()["items"]
                  if e["kind"] == "flag.raised")
    assert (raised["reason"], raised["actor"]["id"]) == ("erased", "erased")


def test_the_moderators_queue_pages_oldest_first(client):
    readers = [person(client, f"Reader {n}") for n in range(3)]
    moderator = person(client, "Mo Derator", role="moderator")
    raised = [flag(client, who).json()["id"] for who in readers]

    first = client.get("/moderation/flags", headers=moderator["headers"], params={"limit": 2})

    assert first.status_code == 200, first.text
    assert [f["id"] for f in first.json()["items"]] == raised[:2]
    rest = client.get("/moderation/flags", headers=moderator["headers"],
                      params={"limit": 2, "cursor": first.json()["next_cursor"]}).json()
    assert ([f["id"] for f in rest["items"]], rest["next_cursor"]) == (raised[2:], None)
    bad = client.get("/moderation/flags", headers=moderator["headers"], params={"cursor": "not-a-cursor"})
    assert assert_problem(bad, 400, "cursor")["code"] == "validation_failed"


def test_the_history_export_keeps_the_reasons_sealed_unless_opened_for_an_auditor(client):
    reader = person(client, "Rita Reader")
    moderator = person(client, "Mo Derator", role="moderator")
    flag_id = flag(client, reader).json()["id"]
    client.post(f"/flags/{flag_id}/dismiss", headers=moderator["headers"], json={"reason": "It is hers."})

    def exported(personal: bool) -> dict[str, dict]:
        out = io.BytesIO()
        export_history(client.app.state.services, out, since=datetime(2000, 1, 1, tzinfo=UTC), personal=personal)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        return {line["topic"].rsplit(".", 1)[1]: line["state"] for line in lines if ":Flag." in line["topic"]}

    sealed, opened = exported(False), exported(True)
    assert (sealed["Raised"]["sealed_reason"], sealed["Decided"]["sealed_reason"]) == ("redacted", "redacted")
    assert (opened["Raised"]["sealed_reason"], opened["Decided"]["sealed_reason"]) == (REASON, "It is hers.")
