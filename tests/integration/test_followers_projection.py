"""The followers projection on both stores: relations, counts, refollows, erasure, rebuild.

Batches are written set-based (one statement per kind of change); these tests run the same
histories on SQLite, where each row is its own statement, and on PostgreSQL.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter

import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError
from eventsourcing.utils import Environment

from domain.accounts.model import Account
from domain.follows.application import FollowCommand
from domain.follows.model import Follow
from projections.followers.projection import FollowersProjection
from projections.runner import BatchProjectionRunner
from bootstrap.services import VIEW_CLASSES, store_env

RESEARCHERS = [uuid.UUID(int=n) for n in range(1, 11)]
ACCOUNTS = [uuid.UUID(int=1000 + n) for n in range(1, 31)]


def apply(services, *commands: FollowCommand) -> None:
    services.follows.apply_all(list(commands), known=set(RESEARCHERS), owners={})


def counts(services) -> dict[str, int]:
    return {r: n for r, n, _ in services.followers_view.all_counts() if n}


def test_follow_unfollow_and_follow_again_in_one_batch_and_across_batches(services):
    r, a, b = RESEARCHERS[0], ACCOUNTS[0], ACCOUNTS[1]
    apply(services, FollowCommand(a, r, True, confirmed=True), FollowCommand(b, r, True, confirmed=True))
    apply(services, FollowCommand(a, r, False, confirmed=True))
    apply(services, FollowCommand(a, r, True, confirmed=True))  # followed again: newest first in the list
    services.followers_runner.catch_up()
    assert counts(services) == {str(r): 2}
    rows = services.followers_view.followers_of(str(r), None, 10)
    assert [account for _, account in rows] == [str(a), str(b)]
    apply(services, FollowCommand(a, r, False, confirmed=True), FollowCommand(b, r, False, confirmed=True), FollowCommand(b, r, True, confirmed=True))
    services.followers_runner.catch_up()
    assert counts(services) == {str(r): 1}
    assert [x for _, x in services.followers_view.following(str(b), None, 10)] == [str(r)]
    assert services.followers_view.following(str(a), None, 10) == []


def test_random_history_counts_equal_a_recount_and_a_rebuild(services, settings):
    rng = random.Random(5)
    live: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for _ in range(40):
        batch = [FollowCommand(rng.choice(ACCOUNTS), rng.choice(RESEARCHERS), rng.random() < 0.6, confirmed=True)
                 for _ in range(rng.randint(1, 25))]
        apply(services, *batch)
        for c in batch:
            (live.add if c.follow else live.discard)((c.account_id, c.researcher_id))
        if rng.random() < 0.5:
            services.followers_runner.catch_up()
    services.followers_runner.catch_up()
    expected = {str(r): n for r, n in Counter(r for _, r in live).items()}
    assert counts(services) == expected

    name = "followers_rebuilt"
    factory = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
    try:
        view = factory.tracking_recorder(VIEW_CLASSES["followers"][settings.persistence_module])
        BatchProjectionRunner(services.follows, FollowersProjection(view), batch_size=7).catch_up()
        assert {r: n for r, n, _ in view.all_counts() if n} == expected
        for r in RESEARCHERS:
            assert {a for _, a in view.followers_of(str(r), None, 100)} == {str(a) for a, x in live if x == r}
    finally:
        factory.close()


def test_overlapping_batches_of_two_runners_are_applied_once(services, settings):
    # Runner B reads events 1-10 and runner A events 1-20; B commits first. A must not apply
    # 1-10 a second time: its batch does not start where the view now is.
    apply(services, *[FollowCommand(a, RESEARCHERS[0], True, confirmed=True) for a in ACCOUNTS[:20]])
    name = "followers_overlap"
    factory = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
    try:
        view = factory.tracking_recorder(VIEW_CLASSES["followers"][settings.persistence_module])
        a = BatchProjectionRunner(services.follows, FollowersProjection(view), batch_size=20)
        b = BatchProjectionRunner(services.follows, FollowersProjection(view), batch_size=10)
        batch_a, batch_b = a._read(0), b._read(0)
        assert len(batch_a[1]) == 20 and len(batch_b[1]) == 10
        b._apply(batch_b)
        with pytest.raises(IntegrityError):
            a._apply(batch_a)
        a.catch_up()
        assert {r: n for r, n, _ in view.all_counts() if n} == {str(RESEARCHERS[0]): 20}
    finally:
        factory.close()


@pytest.mark.parametrize("confirmed_first", [True, False])
def test_a_follow_recorded_before_its_account_confirmed_counts_from_the_confirmation(services, confirmed_first):
    r, a = RESEARCHERS[0], ACCOUNTS[0]
    account = Account(account_id=a, sealed_email="-", sealed_display_name="-", sealed_password_hash="-",
                      email_key="key")
    account.confirm_email()
    runners = [runner for runner in services.runners if runner.projection_name == "followers"]
    if confirmed_first:  # the accounts log is read first: the follow counts as it arrives
        services.accounts.save(account)
    services.follows.save(Follow(account_id=a, researcher_id=r, confirmed=False))  # as recorded before the rule
    for runner in runners:
        runner.catch_up()
    assert counts(services) == ({str(r): 1} if confirmed_first else {})
    assert len(services.followers_view.followers_of(str(r), None, 10)) == (1 if confirmed_first else 0)
    if not confirmed_first:
        services.accounts.save(account)
        for runner in runners:
            runner.catch_up()
        assert counts(services) == {str(r): 1}
    apply(services, FollowCommand(a, r, False))
    services.followers_runner.catch_up()
    assert counts(services) == {}
