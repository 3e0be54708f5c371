"""A from-scratch build of the profiles view writes each profile's document once, at its end
(ProfilesView.documents_deferred), and gives the same view as batches that write them as they go:
on skewed works (a few authors on many works, a consortium paper) imported in several parts, with
claims, corrections and "not mine" decisions; an interrupted build writes its notes when the next
one ends."""

from __future__ import annotations

import json
import uuid

import pytest

from operations.importing import import_body
from operations.replay import drop
from tests.factories import skewed_works
from tests.integration.test_replay_verify import workload


def profiles_build(services, *, batch_size: int):
    prefix = f"defer{uuid.uuid4().hex[:6]}_profiles"
    view = services.open_view("profiles", table_prefix=prefix)
    runners = services.runners_for("profiles", view)
    for runner in runners:
        runner.batch_size = batch_size
    return view, prefix, runners


def compared(live, built) -> dict[str, bool]:
    return {table: live.dump(table) == built.dump(table) for table in live.TABLES
            if "*" not in live.VERIFY_SKIP.get(table, ())}


def test_a_deferred_build_equals_the_live_view_and_writes_each_document_once(services):
    workload(services)
    works = skewed_works(300, seed=3, first_id=1_000)
    for part in range(3):
        import_body(services.catalogue, json.dumps(works[part * 100:(part + 1) * 100]).encode())
    for runner in services.runners:
        runner.catch_up()
    live = services.profiles_view
    view, prefix, runners = profiles_build(services, batch_size=40)
    try:
        with view.documents_deferred():
            for runner in runners:
                runner.catch_up()
            assert view.docs_position() == 0  # nothing encoded while the batches ran
            noted = {row["id"] for row in view._query("SELECT id FROM {deferred}", ())}
        assert compared(live, view) == dict.fromkeys(compared(live, view), True)
        assert view.docs_position() == 1  # one write of every document, at the end
        assert noted == {row["id"] for row in view._query("SELECT id FROM {docs}", ())}
        assert view._query("SELECT id FROM {deferred}", ()) == []
        # The live view wrote documents batch after batch, prolific authors' again and again.
        assert live.docs_position() > 3
    finally:
        drop(services, view, prefix)


def test_an_interrupted_deferred_build_writes_its_notes_when_the_next_one_ends(services):
    workload(services)
    live = services.profiles_view
    view, prefix, runners = profiles_build(services, batch_size=10)
    try:
        catalogue = next(r for r in runners if r.app is services.catalogue)
        with pytest.raises(KeyboardInterrupt), view.documents_deferred():
            catalogue.run_batch()
            catalogue.run_batch()
            raise KeyboardInterrupt
        assert view.docs_position() == 0  # stopped: nothing written, the notes kept
        assert len(view._query("SELECT id FROM {deferred}", ())) > 0
        view, again = services.open_view("profiles", table_prefix=prefix), view  # a new process resumes
        runners = services.runners_for("profiles", view)
        with view.documents_deferred():
            for runner in runners:
                runner.catch_up()
        assert compared(live, view) == dict.fromkeys(compared(live, view), True)
        assert view._query("SELECT id FROM {deferred}", ()) == []
        services.close_views([again])
    finally:
        drop(services, view, prefix)


def assert_equals_a_one_batch_build(services, view) -> None:
    """`view` equals the profiles built afresh in one batch per log, table by table."""
    built, prefix, runners = profiles_build(services, batch_size=10_000)
    try:
        for r in runners:
            r.catch_up()
        assert compared(view, built) == dict.fromkeys(compared(view, built), True)
    finally:
        drop(services, built, prefix)


def noted(view) -> set[str]:
    view.commit_pending()  # on SQLite, batches behind an import share a transaction until then
    return {row["id"] for row in view._query("SELECT id FROM {deferred}", ())}


def import_skewed(services, count: int, parts: int) -> None:
    works = skewed_works(count, seed=5)
    size = count // parts
    for part in range(parts):
        import_body(services.catalogue, json.dumps(works[part * size:(part + 1) * size]).encode())


def test_behind_an_import_documents_wait_for_the_batch_that_ends_where_the_log_does(services):
    import_skewed(services, 240, parts=3)
    view, runner = services.profiles_view, services.runner_of("profiles", "Catalogue")
    runner.batch_size = 60
    assert runner.run_batch() == 60  # the log has more: its profiles are noted, not written
    assert view.docs_position() == 0 and len(noted(view)) > 0
    first = noted(view)
    assert runner.run_batch() == 60
    assert view.docs_position() == 0 and noted(view) > first
    runner.catch_up()  # the last batch ends at the log's head: every noted profile is written
    assert noted(view) == set()
    assert view.docs_position() == 1
    assert_equals_a_one_batch_build(services, view)  # nothing noted


def test_behind_an_import_for_long_documents_are_written_anyway(services, monkeypatch):
    import_skewed(services, 120, parts=2)
    monkeypatch.setattr("projections.profiles.view.BEHIND_WRITE_SECONDS", 0.0)
    view, runner = services.profiles_view, services.runner_of("profiles", "Catalogue")
    runner.batch_size = 40
    runner.run_batch()  # the first batch behind starts the clock: noted
    assert view.docs_position() == 0
    runner.run_batch()  # past BEHIND_WRITE_SECONDS: this batch writes its own and the noted ones
    assert view.docs_position() == 1 and noted(view) == set()


def test_noted_documents_left_by_a_stopped_worker_are_written_once_the_log_has_nothing_new(services):
    import_skewed(services, 120, parts=2)
    view, runner = services.profiles_view, services.runner_of("profiles", "Catalogue")
    runner.catch_up()
    ids = {row["id"] for row in view._query("SELECT id FROM {researchers}", ())}
    with view.datastore.transaction(commit=True) as c:  # as a worker stopped while behind leaves it
        c.execute(view._sql("DELETE FROM {docs}"))
        c.execute(view._sql("INSERT INTO {deferred} (id) SELECT id FROM {researchers}"))
    assert runner.catch_up() == 0  # nothing new: the notes are written now
    assert noted(view) == set()
    assert {row["id"] for row in view._query("SELECT id FROM {docs}", ())} == ids
    with view.datastore.transaction(commit=True) as c:
        c.execute(view._sql("INSERT INTO {deferred} (id) SELECT id FROM {researchers}"))
    assert services.runner_of("profiles", "Claims").catch_up() == 0
    assert noted(view) == ids  # not by the other logs' runners, idle most of the time


def test_a_command_behind_an_import_writes_its_own_profile_and_leaves_the_import_s_notes(services):
    from tests.factories import register_confirmed
    from domain.claims.application import EvidenceIn, RecordFacts
    from domain.catalogue.model import researcher_id_for

    import_skewed(services, 120, parts=2)
    view, catalogue = services.profiles_view, services.runner_of("profiles", "Catalogue")
    catalogue.batch_size = 40
    catalogue.run_batch()
    left = noted(view)
    rid = next(researcher_id_for(f"A{n}") for n in range(1, 200) if str(researcher_id_for(f"A{n}")) in left)
    account = register_confirmed(services, "owner@example.org", "Owner")
    facts = RecordFacts(rid, None, "L1", frozenset())
    claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
    services.claims.approve(claim, uuid.uuid4(), "L2", "ok", facts)
    services.runner_of("profiles", "Accounts").catch_up()
    services.runner_of("profiles", "Claims").catch_up()
    doc = json.loads(view.profile(str(rid))[0])
    assert (doc["claim_status"], doc["verification_level"]) == ("claimed", "L2")
    assert noted(view) == left  # the import's notes wait for the import's own batches


def test_on_sqlite_batches_behind_an_import_commit_together_and_a_failure_or_a_stop_ends_them_right(tmp_path,
                                                                                                     monkeypatch):
    """Behind an import, on SQLite, batches share one transaction until one writes the documents
    (ProfilesView.apply_batch): other connections see none of them meanwhile; a failing batch
    takes the open ones back and the runner applies them again from the last commit; a runner
    that stops commits what it applied; past GROUP_SECONDS every batch commits."""
    from tests.conftest import fresh_services

    with fresh_services("sqlite", tmp_path / "a") as services:
        import_skewed(services, 240, parts=3)
        view, runner = services.profiles_view, services.runner_of("profiles", "Catalogue")
        runner.batch_size = 60
        assert runner.run_batch() == 60 and runner.run_batch() == 60
        assert runner.position() == 0  # what another connection sees: nothing yet
        assert view._query("SELECT id FROM {researchers}", ()) == []

        real = view._documents
        monkeypatch.setattr(view, "_documents", lambda *args: (_ for _ in ()).throw(OSError("disk gone")))
        with pytest.raises(OSError):
            runner.run_batch()
        monkeypatch.setattr(view, "_documents", real)
        assert runner.position() == 0 and view._group is None  # the two batches before it went too

        # From the last commit again, one event at a time up to where the failed batch ended,
        # each committed: a view gets as far as an event that fails.
        assert runner.run_batch() == 1
        first = services.catalogue.recorder.select_notifications(start=1, limit=1)[0].id
        assert runner.position() == first
        while runner._one_at_a_time_until is not None:
            assert runner.run_batch() == 1
        at = runner.position()
        assert at == services.catalogue.recorder.select_notifications(start=1, limit=180)[-1].id
        assert runner.run_batch() == 60 and runner.position() == at  # behind again: held
        runner.stop()  # commits what it applied
        assert runner.position() > at
        first = runner.position()

        monkeypatch.setattr("projections.profiles.view.GROUP_SECONDS", 0.0)
        assert runner.run_batch() == 60
        assert runner.position() > first  # committed at once
        runner.catch_up()
        head = services.catalogue.recorder.max_notification_id()
        assert runner.position() == head and noted(view) == set()
        assert_equals_a_one_batch_build(services, view)  # nothing grouped


def test_on_sqlite_another_logs_batch_commits_the_import_s_open_batches_first_and_fails_alone(tmp_path,
                                                                                              monkeypatch):
    """A claims batch arriving while catalogue batches behind an import are open (one process's
    runners share the view) commits them first, then applies in a transaction of its own: when it
    fails, the import's batches stay, and the catalogue runner goes on from where it was."""
    from domain.catalogue.model import researcher_id_for
    from domain.claims.application import EvidenceIn, RecordFacts
    from tests.conftest import fresh_services
    from tests.factories import register_confirmed

    with fresh_services("sqlite", tmp_path / "a") as services:
        import_skewed(services, 240, parts=3)
        view, catalogue = services.profiles_view, services.runner_of("profiles", "Catalogue")
        claims = services.runner_of("profiles", "Claims")
        services.runner_of("profiles", "Accounts").catch_up()
        catalogue.batch_size = 60
        assert catalogue.run_batch() == 60 and catalogue.run_batch() == 60
        assert catalogue.position() == 0  # held open
        rid = researcher_id_for("A1")
        facts = RecordFacts(rid, None, "L1", frozenset())
        account = register_confirmed(services, "owner@example.org", "Owner")
        services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])

        monkeypatch.setattr(view, "_apply_claims", lambda *args: (_ for _ in ()).throw(OSError("disk gone")))
        with pytest.raises(OSError):
            claims.run_batch()
        two = services.catalogue.recorder.select_notifications(start=1, limit=120)[-1].id
        assert catalogue.position() == two  # committed before the claims batch, and kept
        monkeypatch.undo()

        assert claims.catch_up() > 0
        assert catalogue.run_batch() == 60  # on from where it was: nothing applied twice or missed
        catalogue.catch_up()
        assert catalogue.position() == services.catalogue.recorder.max_notification_id()
        services.runner_of("profiles", "Accounts").catch_up()  # the owner's account, registered since
        assert_equals_a_one_batch_build(services, view)
