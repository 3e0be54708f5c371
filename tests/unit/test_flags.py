"""Flags on unclaimed records on the in-memory event store: one open flag per account, record and
work whatever the timing; a moderator upholds (the record's "not mine") or dismisses."""

from __future__ import annotations

import threading
from uuid import UUID, uuid4

import pytest

from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from domain.claims.application import Claims, EvidenceIn, RecordFacts
from domain.errors import ClaimConflictError, ForbiddenError
from tests.fakes import Clock, Outbox

RECORD = RecordFacts(uuid4(), None, "L1", frozenset())
WORK, OTHER_WORK = uuid4(), uuid4()


class Works:
    """The catalogue's facts these tests need: RECORD is an author of both works."""

    def record_facts(self, researcher_id: UUID) -> RecordFacts | None:
        return RECORD if researcher_id == RECORD.researcher_id else None

    def work_authors(self, work_id: UUID) -> frozenset[UUID] | None:
        return frozenset({RECORD.researcher_id}) if work_id in (WORK, OTHER_WORK) else None


@pytest.fixture
def claims(tmp_path):
    app = Claims(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                 vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"), mailer=Outbox(),
                 institution_domains=lambda i: frozenset(), clock=Clock(), records=Works())
    yield app
    app.close()


def test_one_open_flag_per_account_record_and_work_and_a_new_one_after_a_decision(claims):
    reader, moderator = uuid4(), uuid4()
    first = claims.raise_flag(RECORD, WORK, reader, "Not hers.")
    with pytest.raises(ClaimConflictError) as again:
        claims.raise_flag(RECORD, WORK, reader, "Really not hers.")
    assert again.value.code == "already_flagged"
    assert claims.raise_flag(RECORD, OTHER_WORK, reader, "Nor this.").status == "open"  # another work
    assert claims.raise_flag(RECORD, WORK, uuid4(), "Agreed.").status == "open"  # another reader

    claims.decide_flag(first.id, moderator, RECORD, uphold=False, reason="It is hers.")

    second = claims.raise_flag(RECORD, WORK, reader, "Still not hers.")
    assert second.id != first.id and second.status == "open"


def test_of_two_flags_raised_at_the_same_moment_one_is_made(claims):
    reader, start, outcomes = uuid4(), threading.Barrier(2), []

    def raise_one() -> None:
        start.wait()
        try:
            outcomes.append(claims.raise_flag(RECORD, WORK, reader, "Not hers.").status)
        except ClaimConflictError as e:
            outcomes.append(e.code)

    threads = [threading.Thread(target=raise_one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(outcomes) == ["already_flagged", "open"]


def test_upholding_disowns_the_work_as_the_moderator_and_saves_both_together(claims):
    reader, moderator = uuid4(), uuid4()
    flag = claims.raise_flag(RECORD, WORK, reader, "Not hers.")

    upheld = claims.decide_flag(flag.id, moderator, RECORD, uphold=True, reason="Checked.")

    assert (upheld.status, upheld.decision_reason) == ("upheld", "Checked.")
    record = claims.get_record(RECORD.researcher_id)
    assert record.disowned[str(WORK)]["role"] == "moderator"
    assert claims.attribution(record, WORK).reason == "Checked."
    with pytest.raises(ClaimConflictError) as twice:
        claims.decide_flag(flag.id, uuid4(), RECORD, uphold=False, reason="No.")
    assert twice.value.code == "flag_not_open"
    with pytest.raises(ClaimConflictError) as disowned:
        claims.raise_flag(RECORD, WORK, uuid4(), "Not hers.")
    assert disowned.value.code == "not_an_author"


def test_a_claimed_record_is_its_owners_to_decide_and_a_moderator_with_a_side_decides_no_flag(claims):
    reader, claimant = uuid4(), uuid4()
    flag = claims.raise_flag(RECORD, WORK, reader, "Not hers.")
    claim = claims.open_claim(claimant, RECORD, [EvidenceIn("statement", text="I am her.")])
    for moderator in (reader, claimant):
        with pytest.raises(ForbiddenError) as refused:
            claims.decide_flag(flag.id, moderator, RECORD, uphold=True, reason="Mine to say.")
        assert refused.value.code == "moderator_involved"

    claims.approve(claim, uuid4(), "L2", "checked", RECORD)

    with pytest.raises(ClaimConflictError) as owned:
        claims.raise_flag(RECORD, OTHER_WORK, uuid4(), "Not hers.")
    assert owned.value.code == "record_claimed"
