"""The log watch wakes readers of a log when it records events: from this process at once, and
from another process through PostgreSQL's LISTEN/NOTIFY; projection runners it wakes stop
polling every 50 ms."""

from __future__ import annotations

import threading
import uuid

from domain.follows.application import FollowCommand
from bootstrap.services import WATCHED_IDLE_WAIT, Services


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


def _eventually(condition, timeout: float = 10.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if condition():
            return True
        done.wait(0.05)
    return bool(condition())
