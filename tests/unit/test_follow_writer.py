"""The group-commit writer: every caller hears back, whatever happens to the others."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import UnavailableError
from domain.follows.application import FollowCommand, Follows
from workers.follow_writer import FollowWriter

RECORD = uuid4()


class EveryRecord:
    """A record directory in which every record exists and none has an owner."""

    def existing_and_owners(self, ids):
        return set(ids), {}


class StoreDown:
    def existing_and_owners(self, ids):
        raise ConnectionError("store down")


@pytest.fixture
def follows():
    app = Follows(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, records=EveryRecord())
    yield app
    app.close()


def test_a_cancelled_caller_does_not_stop_the_writer(follows):
    writer = FollowWriter(follows)
    try:
        cancelled = writer.submit(FollowCommand(uuid4(), RECORD, True, confirmed=True))
        cancelled.cancel()
        later = writer.submit(FollowCommand(uuid4(), RECORD, True, confirmed=True))
        assert later.result(timeout=5).changed is True
    finally:
        writer.stop()


def test_when_the_store_fails_every_caller_in_the_batch_hears_it(follows):
    follows.records = StoreDown()
    writer = FollowWriter(follows)
    try:
        futures = [writer.submit(FollowCommand(uuid4(), RECORD, True, confirmed=True)) for _ in range(5)]
        for f in futures:
            with pytest.raises(ConnectionError):
                f.result(timeout=5)
    finally:
        writer.stop()


def test_after_stop_new_commands_are_refused(follows):
    writer = FollowWriter(follows)
    writer.stop()
    with pytest.raises(UnavailableError, match="shutting down"):
        writer.submit(FollowCommand(uuid4(), RECORD, True, confirmed=True))
