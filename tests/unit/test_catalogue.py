"""Catalogue rules on the in-memory store: idempotent imports, corrections as changes only."""

from __future__ import annotations

import pytest

from domain.catalogue.application import Catalogue
from domain.catalogue.model import Researcher, Work, researcher_id_for, work_id_for
from adapters.openalex import OAWork, to_record
from tests.factories import author, work
import msgspec


def records(*works):
    return [to_record(msgspec.convert(w, OAWork)) for w in works]


@pytest.fixture
def catalogue():
    app = Catalogue(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def event_count(app: Catalogue) -> int:
    return app.recorder.max_notification_id() or 0


def test_import_creates_one_work_and_one_researcher_per_author(catalogue):
    report = catalogue.import_works(records(work(1, [author(1), author(2)])))
    assert (report.works_created, report.researchers_created, report.events) == (1, 2, 3)
    stored = catalogue.get_work(work_id_for("W1"))
    assert [a["researcher_id"] for a in stored.authorships] == [
        str(researcher_id_for("A1")),
        str(researcher_id_for("A2")),
    ]
    assert catalogue.get_researcher(researcher_id_for("A2")).display_name == "Author 2"


def test_importing_the_same_records_twice_adds_no_events(catalogue):
    batch = records(work(1, [author(1)]), work(2, [author(1), author(2)]))
    catalogue.import_works(batch)
    before = event_count(catalogue)
    report = catalogue.import_works(batch)
    assert event_count(catalogue) == before
    assert (report.works_unchanged, report.works_created, report.events) == (2, 0, 0)


def test_a_changed_work_records_only_the_fields_that_changed(catalogue):
    catalogue.import_works(records(work(1, [author(1)], cited_by_count=3)))
    report = catalogue.import_works(records(work(1, [author(1)], cited_by_count=10)))
    assert report.works_corrected == 1
    events = list(catalogue.events.get(work_id_for("W1")))
    assert isinstance(events[-1], Work.Corrected)
    assert events[-1].changes == {"cited_by_count": 10}


def test_a_newer_work_naming_an_author_differently_adds_no_researcher_event(catalogue):
    catalogue.import_works(records(work(1, [author(1, "Ann Smith")])))
    report = catalogue.import_works(records(work(2, [author(1, "Ann Smith-Jones")])))
    assert (report.researchers_created, report.works_created) == (0, 1)
    assert [type(e) for e in catalogue.events.get(researcher_id_for("A1"))] == [Researcher.Registered]
    assert catalogue.get_work(work_id_for("W2")).authorships[0]["display_name"] == "Ann Smith-Jones"


def test_a_work_repeated_in_one_batch_is_created_once_with_its_last_version(catalogue):
    report = catalogue.import_works(records(work(1, [author(1)], title="Old"), work(1, [author(1)], title="New")))
    assert report.works_created == 1
    assert catalogue.get_work(work_id_for("W1")).title == "New"


def test_a_researcher_rebuilt_from_its_events_equals_the_live_one(catalogue):
    catalogue.import_works(records(work(1, [author(1, "A")])))
    catalogue.import_works(records(work(2, [author(1, "B", orcid="https://orcid.org/0000-0002-1825-0097")])))
    live = catalogue.get_researcher(researcher_id_for("A1"))
    rebuilt = None
    for e in catalogue.events.get(researcher_id_for("A1")):
        rebuilt = e.mutate(rebuilt)
    assert rebuilt.fields() == live.fields() == {"display_name": "A", "orcid": None}  # as first seen


def test_works_in_any_batches_imported_again_add_no_events(catalogue):
    older = work(1, [author(1, "A. Smith")], year=2019)
    newer = work(2, [author(1, "Ann Smith")], year=2022)
    for batch in (records(newer), records(older)):
        catalogue.import_works(batch)
    events = event_count(catalogue)
    for batch in (records(older), records(newer), records(older, newer)):
        assert catalogue.import_works(batch).events == 0
    assert event_count(catalogue) == events


def test_an_unknown_researcher_is_a_not_found_error(catalogue):
    from domain.errors import ResearcherNotFoundError

    with pytest.raises(ResearcherNotFoundError):
        catalogue.get_researcher(researcher_id_for("A404"))
