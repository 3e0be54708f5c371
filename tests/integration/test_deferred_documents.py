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
