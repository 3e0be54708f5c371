"""Follow rules on the in-memory store: idempotent, ordered within a batch, refusals per command."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.errors import ForbiddenError, InvalidInputError, ResearcherNotFoundError
from domain.follows.application import FollowCommand, Follows, follow_refusal
from domain.follows.model import Follow, follow_id

ME, RECORD, MINE = uuid4(), uuid4(), uuid4()


@pytest.fixture
def follows():
    app = Follows(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    yield app
    app.close()


def run(follows, *commands):
    return follows.apply_all(list(commands), known={RECORD, MINE}, owners={MINE: ME})


def test_following_twice_changes_nothing_the_second_time(follows):
    [first] = run(follows, FollowCommand(ME, RECORD, True, confirmed=True))
    [second] = run(follows, FollowCommand(ME, RECORD, True, confirmed=True))
    assert (first.changed, second.changed) == (True, False)
    assert first.position is not None and second.position is None
    assert len(list(follows.events.get(follow_id(ME, RECORD)))) == 1


def test_unfollow_then_follow_again_records_each_change(follows):
    run(follows, FollowCommand(ME, RECORD, True, confirmed=True))
    assert [o.changed for o in run(follows, FollowCommand(ME, RECORD, False, confirmed=True), FollowCommand(ME, RECORD, False, confirmed=True))] == [
        True, False]
    run(follows, FollowCommand(ME, RECORD, True, confirmed=True))
    kinds = [type(e) for e in follows.events.get(follow_id(ME, RECORD))]
    assert kinds == [Follow.Started, Follow.Unfollowed, Follow.Followed]


def test_a_batch_applies_commands_in_arrival_order(follows):
    outcomes = run(follows, FollowCommand(ME, RECORD, True, confirmed=True), FollowCommand(ME, RECORD, False, confirmed=True),
                   FollowCommand(ME, RECORD, True, confirmed=True))
    assert [o.changed for o in outcomes] == [True, True, True]
    assert follows.repository.get(follow_id(ME, RECORD)).active is True


def test_unfollowing_what_you_never_followed_is_harmless(follows):
    [outcome] = run(follows, FollowCommand(ME, RECORD, False, confirmed=True))
    assert (outcome.changed, outcome.error) == (False, None)


def test_refusals_are_per_command_and_the_rest_is_saved(follows):
    outcomes = run(follows, FollowCommand(ME, MINE, True, confirmed=True), FollowCommand(ME, uuid4(), True, confirmed=True),
                   FollowCommand(ME, RECORD, True, confirmed=True))
    assert isinstance(outcomes[0].error, InvalidInputError)
    assert "record you own" in outcomes[0].error.detail
    assert isinstance(outcomes[1].error, ResearcherNotFoundError)
    assert outcomes[2].changed and outcomes[2].error is None


def test_only_people_who_confirmed_their_address_follow_and_the_event_says_they_had(follows):
    [refused] = run(follows, FollowCommand(ME, RECORD, True))
    assert isinstance(refused.error, ForbiddenError) and not refused.changed
    assert "confirm your email address" in refused.error.detail
    [followed] = run(follows, FollowCommand(ME, RECORD, True, confirmed=True))
    assert followed.changed
    [started] = follows.events.get(follow_id(ME, RECORD))
    assert started.confirmed is True


def test_a_follow_stored_before_confirmation_was_recorded_reads_as_not_confirmed(follows):
    """Events written by the first version carry no `confirmed`: they are read as not confirmed."""
    from eventsourcing.persistence import StoredEvent

    legacy = follows.mapper.to_stored_event(Follow(account_id=ME, researcher_id=RECORD, confirmed=True).collect_events()[0])
    state = follows.mapper.transcoder.decode(legacy.state)
    del state["confirmed"], state["class_version"]
    old = StoredEvent(legacy.originator_id, legacy.originator_version, legacy.topic, follows.mapper.transcoder.encode(state))
    assert follows.mapper.to_domain_event(old).confirmed is False


class Directory:
    """RECORD and MINE exist, MINE is owned by ME; it counts its lookups."""

    def __init__(self):
        self.lookups = []

    def existing_and_owners(self, ids):
        self.lookups.append(list(ids))
        return {RECORD, MINE} & set(ids), {MINE: ME} if MINE in ids else {}


def test_commands_read_existence_and_owners_through_the_record_directory_once_per_batch():
    directory = Directory()
    app = Follows(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, records=directory)
    try:
        unknown = uuid4()
        outcomes = app.apply_commands([FollowCommand(ME, RECORD, True, confirmed=True),
                                       FollowCommand(ME, MINE, True, confirmed=True),
                                       FollowCommand(ME, unknown, True, confirmed=True),
                                       FollowCommand(uuid4(), RECORD, True, confirmed=True)])
    finally:
        app.close()
    assert [o.changed for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, InvalidInputError)  # the directory says ME owns MINE
    assert isinstance(outcomes[2].error, ResearcherNotFoundError)
    assert directory.lookups == [sorted({RECORD, MINE, unknown})]


def test_without_a_record_directory_no_record_exists(follows):
    [outcome] = follows.apply_commands([FollowCommand(ME, RECORD, True, confirmed=True)])
    assert isinstance(outcome.error, ResearcherNotFoundError)


@pytest.mark.parametrize(("confirmed", "owner", "error", "code"), [
    (False, None, ForbiddenError, "email_unconfirmed"),
    (False, ME, ForbiddenError, "email_unconfirmed"),  # confirming comes first, even on one's own record
    (True, ME, InvalidInputError, "follow_own_record"),
    (True, uuid4(), None, None),  # someone else's record
    (True, None, None, None),  # nobody's
], ids=["unconfirmed", "unconfirmed-owner", "owner", "other-owner", "unclaimed"])
def test_who_may_follow_a_record(confirmed, owner, error, code):
    refused = follow_refusal(ME, confirmed=confirmed, owner=owner)
    if error is None:
        assert refused is None
    else:
        assert isinstance(refused, error) and refused.code == code


def test_unfollowing_needs_neither_a_confirmed_address_nor_a_record_one_does_not_own(follows):
    run(follows, FollowCommand(ME, RECORD, True, confirmed=True))
    [ended] = follows.apply_all([FollowCommand(ME, RECORD, False)], known={RECORD}, owners={RECORD: ME})
    assert ended.changed and ended.error is None
