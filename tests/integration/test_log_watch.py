"""The log watch wakes readers of a log when it records events: from this process at once, and
from another process through PostgreSQL's LISTEN/NOTIFY; projection runners it wakes stop
polling every 50 ms."""

from __future__ import annotations

import threading
import uuid

import functools
import json

from api.follower_counts import FollowerCounts
from domain.follows.application import FollowCommand
from bootstrap.services import WATCHED_IDLE_WAIT, Services
from operations.importing import import_body
from projections.sqlview import view_changes
from tests.factories import synthetic_works


def follow(services: Services) -> None:
    researcher = uuid.uuid4()
    services.follows.apply_all([FollowCommand(uuid.uuid4(), researcher, True, confirmed=True)],
                               known={researcher}, owners={})


def test_a_save_in_this_process_wakes_the_readers_of_that_log_only(services):
    follows, claims = threading.Event(), threading.Event()
    services.watch_log("Follows", follows.set)
    services.watch_log("Claims", claims.set)
    if services.settings.is_postgres:  # once listening, it wakes everyone (for what it may have missed)
        assert _eventually(lambda: services.log_watch.listening)
        follows.clear(), claims.clear()

    follow(services)

    assert follows.is_set()  # set by the save itself, before it returned
    assert not claims.is_set()


def test_a_reader_that_stopped_watching_is_not_woken(services):
    woken = threading.Event()
    unwatch = services.watch_log("Follows", woken.set)
    unwatch()

    follow(services)

    assert not woken.is_set()


def test_a_save_by_another_process_wakes_readers_through_listen_notify(pg_settings):
    reader, writer = Services(pg_settings), Services(pg_settings)  # two connections, as two processes
    try:
        woken = threading.Event()
        reader.watch_log("Follows", woken.set)
        # The reader's LISTEN connection is up once it has woken everyone after connecting.
        assert _eventually(lambda: reader.log_watch.listening)
        woken.clear()

        follow(writer)

        assert woken.wait(10), "no wake-up reached the other process"
    finally:
        writer.close()
        reader.close()


def test_started_runners_wait_for_wake_ups_instead_of_polling(pg_settings):
    services = Services(pg_settings)
    try:
        services.start_runners("followers")
        runner = services.followers_runner
        assert runner.idle_wait == WATCHED_IDLE_WAIT
        runner.idle_wait = 3600.0  # no look without a wake-up during this test
        runner.wake()  # it looks once more, then waits the hour
        before = runner.position()

        follow(services)

        # Only the save's wake-up can get it to the follow now (polled here without waking it).
        assert _eventually(lambda: runner.position() > before, timeout=30)
    finally:
        services.close()


def import_some(services: Services) -> None:
    import_body(services.catalogue, json.dumps(synthetic_works(3, 2, authors_per_work=2, seed=7)).encode())


def test_the_trust_runner_is_woken_by_a_profiles_batch_instead_of_polling(services):
    services.start_runners("trust")
    trust = services.trust_runner
    assert trust.idle_wait == WATCHED_IDLE_WAIT
    trust.idle_wait = 3600.0  # no look without a wake-up during this test
    trust.wake()  # it looks once more, then waits the hour
    import_some(services)

    services.profiles_runner.catch_up()  # in this process: the batch wakes the trust runner

    # Only the profiles batch's wake-up can bring trust to the new profiles now.
    assert _eventually(lambda: trust.position() >= trust.head() > 0, timeout=30)


def test_a_view_batch_in_another_process_wakes_its_readers_through_listen_notify(pg_settings):
    reader, writer = Services(pg_settings), Services(pg_settings)  # two connections, as two processes
    try:
        counts = FollowerCounts(reader.followers_view, refresh_seconds=3600.0,  # no refresh without a wake-up
                                watch=functools.partial(reader.watch_log, view_changes("followers")))
        counts.start()
        assert _eventually(lambda: reader.log_watch.listening)
        researcher = uuid.uuid4()
        writer.follows.apply_all([FollowCommand(uuid.uuid4(), researcher, True, confirmed=True)],
                                 known={researcher}, owners={})

        writer.followers_runner.catch_up()  # commits the count and NOTIFYs the followers channel

        assert _eventually(lambda: counts.get(str(researcher))[0] == 1, timeout=10), \
            "the reader's counts were not refreshed by the other process's batch"
        counts.stop()
    finally:
        writer.close()
        reader.close()


def _eventually(condition, timeout: float = 10.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        done.wait(0.05)
    return bool(condition())
