"""Imports against the real stores (SQLite file and PostgreSQL): idempotence, corrections, races."""

from __future__ import annotations

import json
import threading

from domain.catalogue.application import Catalogue
from domain.catalogue.model import Researcher, Work, researcher_id_for, work_id_for
from operations.importing import import_body, import_file
from tests.conftest import DEMO
from tests.factories import author, synthetic_works, work


def head(services) -> int:
    return services.catalogue.recorder.max_notification_id() or 0


def test_importing_the_demo_file_twice_adds_no_events(services):
    first = import_file(services.catalogue, DEMO)
    assert (first.works_created, first.researchers_created, first.malformed) == (12, 25, 0)
    events = head(services)
    second = import_file(services.catalogue, DEMO)
    assert head(services) == events
    assert (second.works_unchanged, second.events_written) == (12, 0)


def test_a_changed_record_is_stored_as_a_correction(services, tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps(work(1, [author(1), author(2)], title="Draft")))
    import_file(services.catalogue, path)
    path.write_text(json.dumps(work(1, [author(1)], title="Final")))
    summary = import_file(services.catalogue, path)
    assert summary.works_corrected == 1
    *_, last = services.catalogue.events.get(work_id_for("W1"))
    assert isinstance(last, Work.Corrected)
    assert set(last.changes) == {"title", "authorships"}
    assert last.changes["title"] == "Final"


def test_large_imports_are_saved_in_batches_and_repeat_to_nothing(services, tmp_path):
    path = tmp_path / "works.jsonl"
    path.write_text("\n".join(json.dumps(w) for w in synthetic_works(2_500, researchers=1_000)))
    first = import_file(services.catalogue, path, batch_size=1_000)
    assert first.works_created == 2_500
    assert first.researchers_created == len(
        {a["author"]["id"] for w in synthetic_works(2_500, researchers=1_000) for a in w["authorships"]}
    )
    events = head(services)
    assert import_file(services.catalogue, path, batch_size=700).events_written == 0
    assert head(services) == events


def test_concurrent_imports_of_the_same_file_create_each_record_once(services, tmp_path):
    path = tmp_path / "works.jsonl"
    path.write_text("\n".join(json.dumps(w) for w in synthetic_works(300, researchers=200)))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            import_file(services.catalogue, path, batch_size=50)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    notifications = services.catalogue.recorder.select_notifications(start=0, limit=10_000, inclusive_of_start=False)
    created = [n for n in notifications if n.originator_version == 1]
    assert len(created) == len({n.originator_id for n in created}) == 300 + len(
        {a["author"]["id"] for w in synthetic_works(300, researchers=200) for a in w["authorships"]}
    )


def test_an_author_registered_meanwhile_by_another_import_is_dropped_without_planning_again(services, monkeypatch):
    """Parallel import jobs often register the same new author at once: the later save leaves
    that registration out and stores the rest, rather than planning its whole batch again."""
    catalogue = services.catalogue
    planned = Catalogue._plan_import
    plans: list[int] = []

    def plan_then_another_job_registers_a1(self, records):  # noqa: ANN001, ANN202
        result = planned(self, records)
        plans.append(len(records))
        if len(plans) == 1:
            self.save_all([Researcher(openalex_id="A1", display_name="Author 1", orcid=None)])
        return result

    monkeypatch.setattr(Catalogue, "_plan_import", plan_then_another_job_registers_a1)
    summary = import_body(catalogue, json.dumps(work(1, [author(1), author(2)])).encode())

    assert plans == [1]  # planned once
    assert (summary.works_created, summary.researchers_created) == (1, 1)  # A2: A1 was the other job's
    notifications = catalogue.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False)
    created = [n.originator_id for n in notifications if n.originator_version == 1]
    assert sorted(map(str, created)) == sorted(map(str, [researcher_id_for("A1"), researcher_id_for("A2"),
                                                          work_id_for("W1")]))
    assert catalogue.get_work(work_id_for("W1")).authorships[0]["researcher_id"] == str(researcher_id_for("A1"))
