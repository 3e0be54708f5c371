"""Counts declared on a domain event (domain/profile_counts.py): an event class that says which
count it adds to and on whose profile is counted there, with nothing else written for it. The
profile shows the sum (a person's over its records), time travel the sum then, the history an
entry, and a rebuild gives the same, on PostgreSQL.

The events here are the test's own: no production event is counted yet, and what is under test
is that declaring one is all it takes."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import msgspec

from api.follower_counts import profile_body
from bootstrap.services import Services
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn
from domain.claims.model import Record
from domain.claims.ports import RecordFacts
from domain.profile_counts import CountedOnProfile
from operations.replay import verify
from operations.timetravel import profile_at
from projections.profiles.documents import ProfileOut
from tests.conftest import fresh_services, settings_for
from tests.e2e.support import serving, settle

OWNER, MODERATOR = uuid.uuid4(), uuid.uuid4()


class Noted(Record.Event, CountedOnProfile):
    count, subject, history = "notes", "researcher", "note.added"
    researcher: uuid.UUID
    account_id: uuid.UUID


class NoteTakenBack(Record.Event, CountedOnProfile):
    count, delta, subject, history = "notes", -1, "researcher", "note.removed"
    researcher: uuid.UUID
    account_id: uuid.UUID


def work(n: int, authors: list[int]) -> dict:
    return {"openalex_id": f"W{n}", "doi": None, "title": f"Work {n}", "publication_year": 2020,
            "publication_date": None, "type": "article", "venue": None, "cited_by_count": 0, "abstract": None,
            "topics": [], "authorships": [
                {"openalex_id": f"A{a}", "display_name": f"Zoë Ångström {a}", "orcid": None, "institutions": [],
                 "position": "first" if i == 0 else "middle"} for i, a in enumerate(authors)]}


def facts(services: Services, n: int) -> RecordFacts:
    rid = researcher_id_for(f"A{n}")
    f = services.profiles_view.record_facts(str(rid))
    return RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])


def owned_record(services: Services, n: int) -> Record:
    """Author n's claims record, owned by OWNER at L2."""
    claim = services.claims.open_claim(OWNER, facts(services, n), [EvidenceIn("statement", text="me")])
    services.claims.approve(claim, MODERATOR, "L2", "checked", facts(services, n))
    return services.claims.get_record(researcher_id_for(f"A{n}"))


def note(services: Services, by: int, on: int, event: type = Noted) -> None:
    record = services.claims.get_record(researcher_id_for(f"A{by}"))
    record.trigger_event(event, researcher=researcher_id_for(f"A{on}"), account_id=OWNER)
    services.claims.save(record)


def catch_up(services: Services) -> None:
    for runner in services.runners:
        runner.catch_up()


def doc_of(services: Services, n: int) -> dict:
    return msgspec.json.decode(services.profiles_view.profile(str(researcher_id_for(f"A{n}")))[0])


def test_a_declared_count_shows_on_the_profile_in_time_travel_in_history_and_after_a_rebuild(tmp_path):
    with fresh_services("postgres", tmp_path) as services:
        services.catalogue.import_works([work(1, [1, 2]), work(2, [2, 3]), work(3, [1, 3])])
        catch_up(services)
        owned_record(services, 1)
        note(services, by=1, on=2)
        note(services, by=1, on=2)
        catch_up(services)
        assert doc_of(services, 2)["counts"] == {"notes": 2}
        assert "counts" not in doc_of(services, 3)  # none counted: left out, as before counts existed
        served = msgspec.json.decode(profile_body(services.profiles_view.profile(
            str(researcher_id_for("A2")))[0], (0, 0)), type=ProfileOut, strict=True)
        assert served.counts == {"notes": 2}

        time.sleep(0.01)
        between = datetime.now(UTC)
        time.sleep(0.01)
        note(services, by=1, on=2, event=NoteTakenBack)
        catch_up(services)
        assert doc_of(services, 2)["counts"] == {"notes": 1}
        then = profile_at(services, str(researcher_id_for("A2")), between)
        assert msgspec.json.decode(then.doc)["counts"] == {"notes": 2}

        entries = [(row["kind"], row["actor_role"]) for row in services.history_view.entries(
            str(researcher_id_for("A2")), None, 100, newest_first=False) if row["kind"].startswith("note.")]
        assert entries == [("note.added", "owner"), ("note.added", "owner"), ("note.removed", "owner")]

        assert [list(v.differences) for v in verify(services, ["profiles", "history"])] == [[], []]


def test_a_persons_count_adds_up_over_its_records_and_each_record_gets_its_own_back_on_unlink(tmp_path):
    with fresh_services("postgres", tmp_path) as services:
        services.catalogue.import_works([work(1, [1, 2]), work(2, [2, 3]), work(3, [1, 3])])
        catch_up(services)
        owned_record(services, 1)
        note(services, by=1, on=1)
        note(services, by=1, on=3)
        note(services, by=1, on=3)
        catch_up(services)
        asked = services.claims.link(facts(services, 1), facts(services, 3), OWNER,
                                     [EvidenceIn("statement", text="me too")])
        services.claims.decide_link(asked.request_id, MODERATOR, approve=True, reason="same person")
        catch_up(services)
        assert doc_of(services, 1)["counts"] == {"notes": 3}
        assert doc_of(services, 3) == doc_of(services, 1)  # a member's id reads the person's profile

        services.claims.unlink(facts(services, 1), researcher_id_for("A3"), OWNER, is_moderator=False)
        catch_up(services)
        assert (doc_of(services, 1)["counts"], doc_of(services, 3)["counts"]) == ({"notes": 1}, {"notes": 2})
        assert [list(v.differences) for v in verify(services, ["profiles"])] == [[]]


def test_the_api_and_the_page_show_a_declared_count_and_leave_it_out_where_there_is_none(tmp_path, pg_schema):
    for client in serving(settings_for("postgres", tmp_path, pg_schema)):
        services = client.app.state.services
        services.catalogue.import_works([work(1, [1, 2])])
        settle(client)
        owned_record(services, 1)
        note(services, by=1, on=2)
        settle(client)
        assert client.get("/researchers/A2").json()["counts"] == {"notes": 1}
        assert "<strong>1</strong> notes" in client.get("/r/A2").text
        assert "counts" not in client.get("/researchers/A1").json()
        assert "notes" not in client.get("/r/A1").text
