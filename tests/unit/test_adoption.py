"""Adopting a work on the in-memory event store: who may adopt what, at once or through the
moderators, what is refused (nothing saved on a refusal), and undo."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from domain.claims.application import Claims, EvidenceIn, RecordFacts
from domain.errors import ClaimConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tests.factories import orcid_with_checksum
from tests.fakes import Clock, Outbox

ORCID = orcid_with_checksum("000000021825009")
OTHER_ORCID = orcid_with_checksum("000000021694233")
STATEMENT = [EvidenceIn("statement", text="I wrote it at Institute 2.")]


class Catalogue:
    """The records port over a few records and works kept in the test."""

    def __init__(self) -> None:
        self.facts: dict[UUID, RecordFacts] = {}
        self.works: dict[UUID, dict[UUID, str | None]] = {}

    def record(self, orcid: str | None = None) -> RecordFacts:
        found = RecordFacts(uuid4(), orcid, "L1", frozenset())
        self.facts[found.researcher_id] = found
        return found

    def record_facts(self, researcher_id: UUID) -> RecordFacts | None:
        return self.facts.get(researcher_id)

    def work_authors(self, work_id: UUID) -> frozenset[UUID] | None:
        listing = self.works.get(work_id)
        return None if listing is None else frozenset(listing)

    def work_orcids(self, work_id: UUID) -> dict[UUID, str | None] | None:
        return self.works.get(work_id)


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue()


@pytest.fixture
def claims(tmp_path, catalogue):
    app = Claims(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                 vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"), mailer=Outbox(),
                 institution_domains=lambda i: frozenset(), clock=Clock(), records=catalogue)
    yield app
    app.close()


def owned(claims: Claims, catalogue: Catalogue, owner: UUID, orcid: str = ORCID) -> RecordFacts:
    """A record `owner` owns at L2, having proven its ORCID iD."""
    record = catalogue.record(orcid)
    claims.prove_orcid(claims.open_claim(owner, record, [EvidenceIn("orcid")]), owner, orcid, record)
    return record


def saved_events(claims: Claims) -> int:
    return claims.recorder.max_notification_id() or 0


def test_an_authorship_with_the_owners_proven_orcid_moves_at_once_on_both_records(claims, catalogue):
    owner = uuid4()
    mine, other = owned(claims, catalogue, owner), catalogue.record()
    work = uuid4()
    catalogue.works[work] = {other.researcher_id: ORCID}

    done = claims.adopt(mine, work, owner, [EvidenceIn("orcid")], other)

    assert (done.status, done.decided_by, done.evidence_kind, done.from_record) == (
        "adopted", "owner", "orcid_proven", other.researcher_id)
    assert claims.get_record(mine.researcher_id).adoptions[str(work)]["from_record"] == str(other.researcher_id)
    assert claims.get_record(other.researcher_id).adopted_away == {str(work): str(mine.researcher_id)}
    again = claims.adopt(mine, work, owner, [EvidenceIn("orcid")], other)
    assert (again.status, again.position) == ("adopted", None)


def test_statements_go_to_the_moderators_and_an_approval_moves_the_work(claims, catalogue):
    owner, moderator = uuid4(), uuid4()
    mine, other = owned(claims, catalogue, owner), catalogue.record()
    work = uuid4()
    catalogue.works[work] = {other.researcher_id: None}

    asked = claims.adopt(mine, work, owner, STATEMENT, other)
    assert asked.status == "pending" and str(work) not in claims.get_record(mine.researcher_id).adoptions
    assert claims.adoption_request(asked.request_id).evidence[0]["text"] == STATEMENT[0].text

    decided = claims.decide_adoption(asked.request_id, moderator, approve=True, reason="Same institute.")

    assert (decided.status, decided.reason) == ("approved", "Same institute.")
    assert claims.get_record(mine.researcher_id).adoptions[str(work)]["role"] == "moderator"
    assert claims.get_record(other.researcher_id).pending_adoptions == {}
    with pytest.raises(ClaimConflictError) as refused:
        claims.decide_adoption(asked.request_id, moderator, approve=False, reason="again")
    assert refused.value.code == "adoption_not_open"


def test_the_from_record_is_the_one_authorship_with_the_owners_proven_orcid(claims, catalogue):
    owner = uuid4()
    mine, other = owned(claims, catalogue, owner), catalogue.record()
    work = uuid4()
    catalogue.works[work] = {catalogue.record().researcher_id: None, other.researcher_id: ORCID}

    assert claims.adopt(mine, work, owner, [EvidenceIn("orcid")]).from_record == other.researcher_id


def test_undo_by_the_owner_or_a_moderator_gives_the_work_back(claims, catalogue):
    owner, moderator = uuid4(), uuid4()
    mine, other = owned(claims, catalogue, owner), catalogue.record()
    first, second = uuid4(), uuid4()
    catalogue.works[first] = catalogue.works[second] = {other.researcher_id: ORCID}
    claims.adopt(mine, first, owner, [EvidenceIn("orcid")], other)
    claims.adopt(mine, second, owner, [EvidenceIn("orcid")], other)

    assert claims.undo_adoption(mine, first, owner, is_moderator=False).status is None
    assert claims.undo_adoption(mine, second, moderator, is_moderator=True).position is not None

    assert claims.get_record(mine.researcher_id).adoptions == {}
    assert claims.get_record(other.researcher_id).adopted_away == {}
    assert claims.undo_adoption(mine, first, owner, is_moderator=False).position is None
    with pytest.raises(ForbiddenError) as refused:
        claims.undo_adoption(mine, first, uuid4(), is_moderator=False)
    assert refused.value.code == "not_owner"


@pytest.mark.parametrize("case, code", [
    ("stranger", "not_owner"), ("below_l2", "owner_not_verified"), ("listed", "already_an_author"),
    ("member_listed", "already_an_author"), ("not_listed", "not_an_author"), ("owned", "record_has_owner"),
    ("adopted_by_another", "already_adopted"), ("pending", "adoption_pending"), ("wrong_orcid", "invalid_evidence"),
    ("address", "invalid_evidence"), ("itself", "invalid_input"), ("not_derivable", "invalid_input"),
    ("my_record_is_a_member", "already_linked"), ("disputed", "dispute_open"),
])
def test_refusals_say_why_and_save_nothing(claims, catalogue, case, code):
    owner, someone = uuid4(), uuid4()
    mine, other = owned(claims, catalogue, owner), catalogue.record()
    work = uuid4()
    catalogue.works[work] = {other.researcher_id: ORCID}
    evidence, actor, source = [EvidenceIn("orcid")], owner, other
    if case == "stranger":
        actor = someone
    elif case == "below_l2":
        record = claims.get_record(mine.researcher_id)
        record.change_level("L2", "L1", "the proof lapsed", [], "system", None)
        claims.save(record)
    elif case == "listed":
        catalogue.works[work][mine.researcher_id] = None
    elif case == "member_listed":
        member = catalogue.record(ORCID)
        claims.link(mine, member, owner, [EvidenceIn("orcid")])
        catalogue.works[work][member.researcher_id] = None
    elif case == "not_listed":
        source = catalogue.record()
    elif case == "owned":
        source = owned(claims, catalogue, someone, OTHER_ORCID)
        catalogue.works[work][source.researcher_id] = None
    elif case == "adopted_by_another":
        claims.adopt(owned(claims, catalogue, someone), work, someone, [EvidenceIn("orcid")], other)
    elif case == "pending":
        claims.adopt(owned(claims, catalogue, someone, OTHER_ORCID), work, someone, STATEMENT, other)
    elif case == "wrong_orcid":
        catalogue.works[work][other.researcher_id] = OTHER_ORCID
    elif case == "address":
        evidence = [EvidenceIn("institutional_email", email="me@uni.example")]
    elif case == "itself":
        source = mine
    elif case == "not_derivable":
        catalogue.works[work][other.researcher_id] = None
        source = None
    elif case == "my_record_is_a_member":
        person = owned(claims, catalogue, owner, OTHER_ORCID)
        claims.link(person, mine, owner, STATEMENT)  # a request: approved below
        request = claims.get_record(mine.researcher_id).pending_link
        claims.decide_link(UUID(request), uuid4(), approve=True, reason="same person")
    elif case == "disputed":  # someone claims the owner's record: the owner waits for the moderators
        claims.open_claim(someone, mine, STATEMENT)
    before = saved_events(claims)

    with pytest.raises((ForbiddenError, ClaimConflictError, InvalidInputError)) as refused:
        claims.adopt(mine, work, actor, evidence, source)

    assert refused.value.code == code, refused.value.detail
    assert saved_events(claims) == before


def test_an_unknown_work_or_request_is_not_found(claims, catalogue):
    owner = uuid4()
    mine = owned(claims, catalogue, owner)
    with pytest.raises(NotFoundError):
        claims.adopt(mine, uuid4(), owner, STATEMENT, catalogue.record())
    with pytest.raises(NotFoundError):
        claims.decide_adoption(uuid4(), uuid4(), approve=True, reason="fine")


def test_a_moderator_decides_no_adoption_for_or_from_a_record_they_have_a_side_in(claims, catalogue):
    owner = uuid4()
    mine, other = owned(claims, catalogue, owner), catalogue.record()
    work = uuid4()
    catalogue.works[work] = {other.researcher_id: None}
    request = claims.adopt(mine, work, owner, STATEMENT, other).request_id
    claimant = uuid4()
    claims.open_claim(claimant, other, STATEMENT)  # a moderator who claimed the other record

    for moderator in (owner, claimant):
        with pytest.raises(ForbiddenError) as refused:
            claims.decide_adoption(request, moderator, approve=True, reason="fine")
        assert refused.value.code == "moderator_involved"
    assert claims.adoption_request(request).status == "pending"
