"""Linking records into one person on the in-memory event store: who may link what, at once or
through the moderators, and what is refused (nothing saved on a refusal)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from domain.claims.application import Claims, EvidenceIn, RecordFacts
from domain.errors import ClaimConflictError, ForbiddenError, InvalidInputError, NotFoundError
from tests.factories import orcid_with_checksum
from tests.fakes import Clock, Outbox

ORCID = orcid_with_checksum("000000021825009")
OTHER_ORCID = orcid_with_checksum("000000021694233")
STATEMENT = [EvidenceIn("statement", text="Both records are me: I moved from I1 to I2.")]


@pytest.fixture
def claims(tmp_path):
    app = Claims(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                 vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"), mailer=Outbox(),
                 institution_domains=lambda i: frozenset(), clock=Clock())
    yield app
    app.close()


def facts(orcid: str | None = None) -> RecordFacts:
    return RecordFacts(uuid4(), orcid, "L1", frozenset())


def owned(claims: Claims, owner, orcid: str = ORCID) -> RecordFacts:
    """A record `owner` owns at L2, having proven its ORCID iD."""
    record = facts(orcid)
    claims.prove_orcid(claims.open_claim(owner, record, [EvidenceIn("orcid")]), owner, orcid, record)
    return record


def saved_events(claims: Claims) -> int:
    return claims.recorder.max_notification_id() or 0


def test_an_orcid_equal_to_the_owners_proven_one_links_at_once_on_both_records(claims):
    owner = uuid4()
    person, other = owned(claims, owner), facts(ORCID)

    done = claims.link(person, other, owner, [EvidenceIn("orcid")])

    assert (done.linked, done.request_id) == (True, None)
    assert claims.get_record(person.researcher_id).members == [str(other.researcher_id)]
    assert claims.get_record(other.researcher_id).person == person.researcher_id


def test_statements_go_to_the_moderators_and_an_approval_links(claims):
    owner, moderator = uuid4(), uuid4()
    person, other = owned(claims, owner), facts()

    done = claims.link(person, other, owner, STATEMENT)
    assert done.linked is False and done.request_id is not None
    assert claims.get_record(other.researcher_id).person is None
    view = claims.link_request(done.request_id)
    assert (view.status, view.evidence[0]["text"]) == ("pending", STATEMENT[0].text)

    decided = claims.decide_link(done.request_id, moderator, approve=True, reason="Same co-authors, same years.")

    assert (decided.status, decided.reason) == ("approved", "Same co-authors, same years.")
    assert claims.get_record(other.researcher_id).person == person.researcher_id
    assert claims.get_record(other.researcher_id).pending_link is None


def test_a_rejection_leaves_the_records_apart_and_frees_the_record_for_another_request(claims):
    owner, moderator = uuid4(), uuid4()
    person, other = owned(claims, owner), facts()
    request = claims.link(person, other, owner, STATEMENT).request_id

    assert claims.decide_link(request, moderator, approve=False, reason="Different fields.").status == "rejected"

    assert claims.get_record(other.researcher_id).person is None
    assert claims.link(person, other, owner, STATEMENT).request_id not in (None, request)
    with pytest.raises(ClaimConflictError) as refused:
        claims.decide_link(request, moderator, approve=True, reason="again")
    assert refused.value.code == "link_not_open"


def test_unlink_by_the_owner_or_a_moderator_takes_the_record_out_of_both(claims):
    owner, moderator = uuid4(), uuid4()
    person = owned(claims, owner)
    first, second = facts(ORCID), facts(ORCID)
    claims.link(person, first, owner, [EvidenceIn("orcid")])
    claims.link(person, second, owner, [EvidenceIn("orcid")])

    claims.unlink(person, first.researcher_id, owner, is_moderator=False)
    claims.unlink(person, second.researcher_id, moderator, is_moderator=True)

    assert claims.get_record(person.researcher_id).members == []
    assert claims.get_record(first.researcher_id).person is None
    with pytest.raises(NotFoundError):
        claims.unlink(person, first.researcher_id, owner, is_moderator=False)


@pytest.mark.parametrize("case, code", [
    ("stranger", "not_owner"), ("below_l2", "owner_not_verified"), ("owned_by_another_in_a_person", "already_linked"),
    ("already_member", "already_linked"), ("person_with_members", "already_linked"), ("pending", "link_pending"),
    ("wrong_orcid", "invalid_evidence"), ("no_orcid", "invalid_evidence"), ("address", "invalid_evidence"),
    ("itself", "invalid_input"),
])
def test_refusals_say_why_and_save_nothing(claims, case, code):
    owner, someone = uuid4(), uuid4()
    person, other = owned(claims, owner), facts(ORCID)
    evidence = [EvidenceIn("orcid")]
    actor = owner
    if case == "stranger":
        actor = someone
    elif case == "below_l2":  # still the owner, but the proof lapsed to L1
        record = claims.get_record(person.researcher_id)
        record.change_level("L2", "L1", "the proof lapsed", [], "system", None)
        claims.save(record)
    elif case == "owned_by_another_in_a_person":  # someone else's person: not disputed through a link
        other = owned(claims, someone, OTHER_ORCID)
        claims.link(other, facts(OTHER_ORCID), someone, [EvidenceIn("orcid")])
        evidence = STATEMENT
    elif case == "already_member":
        claims.link(owned(claims, someone, ORCID), other, someone, [EvidenceIn("orcid")])
    elif case == "person_with_members":
        other = owned(claims, owner, OTHER_ORCID)  # the same owner's second record, itself a person
        claims.link(other, facts(OTHER_ORCID), owner, [EvidenceIn("orcid")])
        evidence = STATEMENT
    elif case == "pending":
        other = facts()
        claims.link(owned(claims, someone, OTHER_ORCID), other, someone, STATEMENT)
        evidence = STATEMENT
    elif case == "wrong_orcid":
        other = facts(OTHER_ORCID)
    elif case == "no_orcid":
        other = facts()
    elif case == "address":
        evidence = [EvidenceIn("institutional_email", email="me@uni.example")]
    elif case == "itself":
        other = person
    before = saved_events(claims)

    with pytest.raises((ForbiddenError, ClaimConflictError, InvalidInputError)) as refused:
        claims.link(person, other, actor, evidence)

    assert refused.value.code == code, refused.value.detail
    assert saved_events(claims) == before


def test_a_moderator_decides_no_link_on_a_person_they_have_a_side_in(claims):
    owner = uuid4()
    person, other = owned(claims, owner), facts()
    request = claims.link(person, other, owner, STATEMENT).request_id
    claimant = uuid4()
    claims.open_claim(claimant, person, STATEMENT)  # a moderator who claimed the person's record

    for moderator in (owner, claimant):
        with pytest.raises(ForbiddenError) as refused:
            claims.decide_link(request, moderator, approve=True, reason="fine")
        assert refused.value.code == "moderator_involved"
    assert claims.link_request(request).status == "pending"


def test_a_linked_record_cannot_be_claimed_by_anyone(claims):
    owner = uuid4()
    person, other = owned(claims, owner), facts(ORCID)
    claims.link(person, other, owner, [EvidenceIn("orcid")])

    with pytest.raises(ClaimConflictError) as refused:
        claims.open_claim(uuid4(), other, STATEMENT)
    assert refused.value.code == "already_linked"


def test_an_approval_checks_the_rules_again_and_refuses_when_the_owner_changed(claims):
    owner, moderator = uuid4(), uuid4()
    person, other = owned(claims, owner), facts()
    request = claims.link(person, other, owner, STATEMENT).request_id
    claims.release(person, owner, "moving on")

    with pytest.raises(ClaimConflictError) as refused:
        claims.decide_link(request, moderator, approve=True, reason="fine")

    assert refused.value.code == "owner_changed"
    assert claims.link_request(request).status == "pending"
    assert claims.get_record(other.researcher_id).person is None


def test_asking_to_link_a_record_someone_else_owns_disputes_it_and_links_nothing(claims):
    owner, someone = uuid4(), uuid4()
    person, other = owned(claims, owner), owned(claims, someone, OTHER_ORCID)

    done = claims.link(person, other, owner, STATEMENT)

    assert (done.linked, done.request_id) == (False, None) and done.claim_id is not None
    record = claims.get_record(other.researcher_id)
    assert (record.owner, record.dispute_claim, record.person) == (someone, done.claim_id, None)
    assert claims.get_record(person.researcher_id).members == []
    view = claims.view(done.claim_id, owner, is_moderator=False)
    assert (view.status, view.evidence[0]["text"]) == ("disputing", STATEMENT[0].text)
    with pytest.raises(ClaimConflictError) as again:
        claims.link(person, other, owner, STATEMENT)
    assert again.value.code == "claim_already_open"


def test_an_orcid_the_asker_proved_is_verified_evidence_of_the_dispute(claims):
    owner, someone = uuid4(), uuid4()
    person = owned(claims, owner)
    other = facts(ORCID)  # the same iD, claimed by someone else with a statement
    claims.approve(claims.open_claim(someone, other, STATEMENT), uuid4(), "L2", "checked", other)

    done = claims.link(person, other, owner, [EvidenceIn("orcid")])

    view = claims.view(done.claim_id, owner, is_moderator=False)
    assert [(e["kind"], e["status"], e["proof"]["orcid"]) for e in view.evidence] == [("orcid", "verified", ORCID)]
    claims.approve(done.claim_id, uuid4(), "L2", "the owner proved the iD", other)
    assert claims.get_record(other.researcher_id).owner_identities == [f"orcid:{ORCID}"]
    assert claims.link(person, other, owner, [EvidenceIn("orcid")]).linked  # now Ada's own record


def test_while_the_persons_record_is_disputed_its_owner_neither_links_nor_unlinks_but_a_moderator_unlinks(claims):
    owner, claimant, moderator = uuid4(), uuid4(), uuid4()
    person, member = owned(claims, owner), facts(ORCID)
    claims.link(person, member, owner, [EvidenceIn("orcid")])
    dispute = claims.open_claim(claimant, person, STATEMENT)
    before = saved_events(claims)

    for attempt in (lambda: claims.link(person, facts(), owner, STATEMENT),
                    lambda: claims.unlink(person, member.researcher_id, owner, is_moderator=False)):
        with pytest.raises(ClaimConflictError) as refused:
            attempt()
        assert (refused.value.code, refused.value.facts["claim_id"]) == ("dispute_open", str(dispute))
    assert saved_events(claims) == before

    claims.unlink(person, member.researcher_id, moderator, is_moderator=True)
    assert claims.get_record(person.researcher_id).members == []
