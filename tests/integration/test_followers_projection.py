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
from domain.follows.model import Follow, follow_id
from projections.followers.projection import FollowersProjection
from projections.runner import BatchProjectionRunner
from bootstrap.services import VIEW_CLASSES, store_env
from tests.factories import register_confirmed

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


@pytest.mark.parametrize("claims_first", [False, True])
def test_an_owner_never_counts_as_its_own_follower_and_its_follow_ends_as_an_event(services, claims_first):
    """Issue 16's trust bug: follow a record, claim it, get approved. Whichever log the projection
    reads first (a replay may read the claims log before the follows log), the owner is not a
    follower; housekeeping then ends the follow with an Unfollowed event."""
    from domain.claims.application import EvidenceIn, RecordFacts
    from operations.expiry import end_owner_follows

    record, other = RESEARCHERS[0], ACCOUNTS[1]
    owner = register_confirmed(services, "owner@example.org", "Olga Owner")
    services.follows.apply_all([FollowCommand(owner, record, True, confirmed=True),
                                FollowCommand(other, record, True, confirmed=True)], known={record}, owners={})
    facts = RecordFacts(record, None, "L1", frozenset())
    claim = services.claims.open_claim(owner, facts, [EvidenceIn("statement", text="It is me.")])
    services.claims.approve(claim, uuid.uuid4(), "L2", "checked", facts)
    runners = sorted(services._runners["followers"], key=lambda r: (r.app.name == "Claims") != claims_first)
    for runner in runners:
        runner.catch_up()
    assert counts(services) == {str(record): 1}  # only the other follower, at once
    assert [a for _, a in services.followers_view.followers_of(str(record), None, 10)] == [str(other)]
    assert services.followers_view.counts_of([str(record)])[str(record)] == (1, 0)

    assert end_owner_follows(services) == 1
    assert end_owner_follows(services) == 0  # idempotent
    services.followers_runner.catch_up()
    assert services.followers_view.following(str(owner), None, 10) == []
    assert counts(services) == {str(record): 1}
    assert not services.follows.repository.get(follow_id(owner, record)).active
