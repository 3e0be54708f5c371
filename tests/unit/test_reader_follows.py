"""ReaderFollows: what a signed-in reader follows, kept briefly and forgotten on their own follow."""

from __future__ import annotations

from uuid import uuid4

from api.own_writes import OwnWrites, ReaderFollows


class Edges:
    def __init__(self) -> None:
        self.by_account: dict[str, list[str]] = {}
        self.loads = 0
        self.during_load = None  # something that happens while a load reads

    def followed_by(self, account_id: str, limit: int) -> list[str]:
        self.loads += 1
        found = list(self.by_account.get(account_id, []))[:limit]
        if self.during_load:
            self.during_load()
        return found


def test_a_readers_follows_are_read_once_and_kept():
    edges, me = Edges(), uuid4()
    edges.by_account[str(me)] = ["r1"]
    kept = ReaderFollows(edges.followed_by)

    assert kept.get(me) is None
    assert kept.load(me) == {"r1"}
    assert kept.get(me) == {"r1"} and edges.loads == 1


def test_the_readers_own_follow_forgets_what_was_kept():
    edges, me = Edges(), uuid4()
    kept = ReaderFollows(edges.followed_by)
    writes = OwnWrites(reader_follows=kept)
    kept.load(me)

    edges.by_account[str(me)] = ["r2"]
    writes.followed(me, 17)

    assert kept.get(me) is None
    assert kept.load(me) == {"r2"}


def test_a_load_that_straddles_the_readers_own_follow_is_not_kept():
    edges, me = Edges(), uuid4()
    kept = ReaderFollows(edges.followed_by)
    edges.during_load = lambda: kept.forget(me)  # the follow lands while the old list is read

    assert kept.load(me) == frozenset()  # answered, but not kept: it may be older than the follow
    assert kept.get(me) is None


def test_a_reader_following_too_many_records_is_asked_each_time():
    edges, me = Edges(), uuid4()
    edges.by_account[str(me)] = [f"r{i}" for i in range(4)]
    kept = ReaderFollows(edges.followed_by, max_follows=3)

    assert kept.load(me) is None and kept.get(me) is None


def test_a_load_that_straddles_dropping_every_generation_is_not_kept():
    edges, me = Edges(), uuid4()
    kept = ReaderFollows(edges.followed_by, max_readers=2)
    # Others' follows fill the generations while the reader's list is read: they are dropped.
    edges.during_load = lambda: [kept.forget(uuid4()) for _ in range(3)]

    kept.load(me)

    assert kept.get(me) is None
