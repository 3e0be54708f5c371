"""The profiles projection on real stores: the demo page's numbers, corrections, exactly-once, rebuild."""

from __future__ import annotations

import json

import msgspec
import pytest
from eventsourcing.persistence import IntegrityError, InfrastructureFactory, Tracking
from eventsourcing.utils import Environment

from domain.catalogue.model import researcher_id_for
from projections.profiles.projection import ProfilesProjection
from projections.runner import BatchProjectionRunner
from operations.importing import import_file
from bootstrap.services import VIEW_CLASSES, store_env
from tests.conftest import DEMO
from tests.factories import author, institution, work


def profile(services, openalex_author_id: str) -> dict:
    row = services.profiles_view.profile(str(researcher_id_for(openalex_author_id)))
    assert row is not None, openalex_author_id
    return msgspec.json.decode(row[0])


def import_works(services, tmp_path, *works, name="w.json"):
    path = tmp_path / name
    path.write_text(json.dumps(list(works)))
    summary = import_file(services.catalogue, path)
    services.profiles_runner.catch_up()
    return summary


def test_the_demo_researcher_shows_what_the_seed_page_shows(services):
    import_file(services.catalogue, DEMO)
    services.profiles_runner.catch_up()
    p = profile(services, "A5999000001")
    assert p["display_name"] == "Zhiwu Lu"
    assert (p["works_count"], p["topics_count"], p["close_collaborators_count"]) == (12, 8, 4)
    assert "followers_count" not in p  # the API appends the counts (followers projection)
    assert (p["verification_level"], p["claim_status"], p["affiliation"]) == ("L1", "unclaimed", None)
    assert p["trust"] == {"score": None, "tier": None}


def test_affiliation_is_the_institution_of_the_newest_work_that_names_one(services, tmp_path):
    a = author(1)
    import_works(
        services,
        tmp_path,
        work(1, [a], year=2018, institutions=[[institution(1)]]),
        work(2, [a], year=2021, institutions=[[institution(2)]]),
        work(3, [a], year=2023, institutions=[[]]),
    )
    assert profile(services, "A1")["affiliation"]["display_name"] == "Institute 2"


def test_close_collaborators_share_at_least_two_works(services, tmp_path):
    me, close, once = author(1), author(2), author(3)
    import_works(services, tmp_path, work(1, [me, close, once]), work(2, [me, close]))
    assert profile(services, "A1")["close_collaborators_count"] == 1
    assert profile(services, "A3")["close_collaborators_count"] == 0


def test_a_correction_that_removes_an_author_updates_both_profiles(services, tmp_path):
    import_works(services, tmp_path, work(1, [author(1), author(2)]), work(2, [author(2)]))
    assert profile(services, "A1")["works_count"] == 1
    import_works(services, tmp_path, work(1, [author(2)], title="Corrected"))
    assert profile(services, "A1")["works_count"] == 0
    assert profile(services, "A1")["verification_level"] == "L0"
    assert profile(services, "A2")["works_count"] == 2
    rid = str(researcher_id_for("A2"))
    titles = [msgspec.json.decode(doc)["title"] for _, _, doc in services.profiles_view.works_of(rid, None, 10)]
    assert "Corrected" in titles


def test_a_renamed_author_is_found_under_the_new_name_without_accents(services, tmp_path):
    import_works(services, tmp_path, work(1, [author(1, "Zoe Muller")]))
    import_works(services, tmp_path, work(2, [author(1, "Zoë Müller")]), name="w2.json")
    assert [r[1] for r in services.profiles_view.search("zoe muller", None, 10)] == [str(researcher_id_for("A1"))]
    assert profile(services, "A1")["display_name"] == "Zoë Müller"


def test_a_batch_is_applied_exactly_once(services, tmp_path):
    import_works(services, tmp_path, work(1, [author(1)]))
    position = services.profiles_runner.position()
    events = [services.catalogue.mapper.to_domain_event(n) for n in
              services.catalogue.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False)]
    with pytest.raises(IntegrityError):
        services.profiles.process_batch(events, Tracking(services.catalogue.name, position))
    assert profile(services, "A1")["works_count"] == 1


def test_a_view_rebuilt_from_scratch_equals_the_live_one(services, settings, tmp_path):
    import_file(services.catalogue, DEMO)
    services.profiles_runner.catch_up()
    import_works(services, tmp_path, work(1, [author(5999000001), author(2)]), work(2, [author(2, "Renamed")]))

    name = "profiles_rebuilt"
    factory = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
    rebuilt_view = factory.tracking_recorder(VIEW_CLASSES["profiles"][settings.persistence_module])
    rebuilt = ProfilesProjection(view=rebuilt_view)
    runner = BatchProjectionRunner(services.catalogue, rebuilt, batch_size=7)
    runner.catch_up()
    try:
        for openalex_id in ["A5999000001", "A2", "A5999000102"]:
            rid = str(researcher_id_for(openalex_id))
            assert rebuilt_view.profile(rid)[0] == services.profiles_view.profile(rid)[0]
            assert rebuilt_view.works_of(rid, None, 50) == services.profiles_view.works_of(rid, None, 50)
        assert rebuilt_view.search("", None, 1000) == services.profiles_view.search("", None, 1000)
    finally:
        factory.close()


def test_works_with_more_than_100_authors_make_no_close_collaborators(services, tmp_path):
    crowd = [author(n) for n in range(1, 102)]
    import_works(services, tmp_path, work(1, crowd), work(2, crowd))
    assert profile(services, "A1")["close_collaborators_count"] == 0
    assert profile(services, "A1")["works_count"] == 2


@pytest.mark.parametrize("newest_first", [True, False])
def test_the_name_and_orcid_come_from_the_newest_work_whatever_the_import_order(services, tmp_path, newest_first):
    older = work(1, [author(1, "A. Smith", orcid="https://orcid.org/0000-0002-1825-0097")], year=2019)
    newer = work(2, [author(1, "Ann Smith")], year=2022)
    first, second = (newer, older) if newest_first else (older, newer)
    import_works(services, tmp_path, first, name="first.json")
    import_works(services, tmp_path, second, name="second.json")
    p = profile(services, "A1")
    assert (p["display_name"], p["orcid"]) == ("Ann Smith", "0000-0002-1825-0097")  # the ORCID iD is kept
    assert [r[1] for r in services.profiles_view.search("ann", None, 10)] == [str(researcher_id_for("A1"))]
    assert services.profiles_view.researcher_id_for_orcid("0000-0002-1825-0097") == str(researcher_id_for("A1"))


def test_an_author_listed_twice_on_one_work_is_one_authorship(services, tmp_path):
    a = author(1, "Twice Listed")
    import_works(services, tmp_path, work(1, [a, author(2), a]))
    p = profile(services, "A1")
    assert (p["works_count"], p["display_name"]) == (1, "Twice Listed")
    import_works(services, tmp_path, work(2, [author(2)]), name="more.json")  # the projection goes on
    assert profile(services, "A2")["works_count"] == 2


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_topic_renamed_by_a_later_work_is_renamed_on_every_profile_with_it(services, tmp_path, one_batch):
    """OpenAlex renames topics between snapshots: the profile of an author whose works are not
    re-imported names the topic as the newest work does, and in one batch or in two the
    name is the one the log gives last (a rebuild's batches are not the live ones)."""
    first, later = author(1), author(2)
    works = [work(1, [first], topics=[(7, "Old name")]), work(2, [later], topics=[(7, "New name")])]
    if one_batch:
        import_works(services, tmp_path, *works)
    else:
        import_works(services, tmp_path, works[0], name="a.json")
        assert [t["display_name"] for t in profile(services, "A1")["topics"]] == ["Old name"]
        import_works(services, tmp_path, works[1], name="b.json")
    assert [t["display_name"] for t in profile(services, "A1")["topics"]] == ["New name"]
    assert [t["display_name"] for t in profile(services, "A2")["topics"]] == ["New name"]
