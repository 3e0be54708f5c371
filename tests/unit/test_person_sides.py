"""A person's records share their owner's side: a moderator who owns a person has a side in every
record linked into it (a member record has no owner of its own), and an owner whose person is
disputed is held back on its member records too (in-memory event store)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from domain.claims.application import Claims, EvidenceIn, RecordFacts
from domain.errors import ClaimConflictError, FlagNotFoundError, ForbiddenError
from tests.factories import orcid_with_checksum
from tests.fakes import Clock, Outbox

ORCID = orcid_with_checksum("000000021825009")
PERSON, MEMBER = RecordFacts(uuid4(), ORCID, "L1", frozenset()), RecordFacts(uuid4(), ORCID, "L1", frozenset())
WORK = uuid4()
STATEMENT = [EvidenceIn("statement", text="These are my papers.")]


class Works:
    """Both records are authors of WORK."""

    def record_facts(self, researcher_id: UUID) -> RecordFacts | None:
        return {r.researcher_id: r for r in (PERSON, MEMBER)}.get(researcher_id)

    def work_authors(self, work_id: UUID) -> frozenset[UUID] | None:
        return frozenset({PERSON.researcher_id, MEMBER.researcher_id}) if work_id == WORK else None


@pytest.fixture
def claims(tmp_path):
    app = Claims(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                 vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"), mailer=Outbox(),
                 institution_domains=lambda i: frozenset(), clock=Clock(), records=Works())
    yield app
    app.close()


def own(claims: Claims, account: UUID, record: RecordFacts) -> None:
    claims.prove_orcid(claims.open_claim(account, record, [EvidenceIn("orcid")]), account, ORCID, record)


def test_a_moderator_who_owns_a_person_decides_nothing_on_its_member_records(claims):
    moderator, reader = uuid4(), uuid4()
    own(claims, moderator, PERSON)
    flag = claims.raise_flag(MEMBER, WORK, reader, "Not theirs.")  # while MEMBER was nobody's
    claims.link(PERSON, MEMBER, moderator, [EvidenceIn("orcid")])
    saved = claims.recorder.max_notification_id()

    with pytest.raises(ForbiddenError) as attribution:
        claims.change_attribution(MEMBER, WORK, moderator, is_moderator=True, not_mine=True)
    with pytest.raises(ForbiddenError) as deciding:
        claims.decide_flag(flag.id, moderator, MEMBER, uphold=True, reason="Checked.")
    with pytest.raises(FlagNotFoundError):
        claims.flag_seen_by(flag.id, moderator, is_moderator=True)

    assert (attribution.value.code, deciding.value.code) == ("moderator_involved", "moderator_involved")
    assert claims.recorder.max_notification_id() == saved
    other_moderator = uuid4()  # one without a side decides
    assert claims.decide_flag(flag.id, other_moderator, MEMBER, uphold=True, reason="Checked.").status == "upheld"


def test_an_owner_whose_person_is_disputed_cannot_change_a_member_record_they_also_own(claims):
    owner, challenger, moderator = uuid4(), uuid4(), uuid4()
    own(claims, owner, PERSON)
    own(claims, owner, MEMBER)
    claims.link(PERSON, MEMBER, owner, [EvidenceIn("orcid")])
    dispute = claims.open_claim(challenger, PERSON, STATEMENT)
    saved = claims.recorder.max_notification_id()

    with pytest.raises(ClaimConflictError) as refused:
        claims.change_attribution(MEMBER, WORK, owner, is_moderator=False, not_mine=True)

    assert (refused.value.code, refused.value.facts["claim_id"]) == ("dispute_open", str(dispute))
    assert claims.recorder.max_notification_id() == saved
    claims.reject(dispute, moderator, "The owner is the author.")
    assert claims.change_attribution(MEMBER, WORK, owner, is_moderator=False, not_mine=True).decision == "not_mine"
