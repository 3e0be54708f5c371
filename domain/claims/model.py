"""Claim and Record aggregates.

A Claim is one account's request to own one author record, with its evidence. A Record holds
what a claim decides for an author record: its owner, its verification level and any dispute.
Approving a claim changes both, in one atomic save, and the Record's version makes "at most one
owner" hold whatever the timing: of two concurrent approvals, one save conflicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.catalogue.model import PEERLEDGER_NAMESPACE

LEVELS = ("L0", "L1", "L2", "L3")
OPEN = ("awaiting_verification", "pending", "info_requested", "disputing")
CLOSED = ("approved", "rejected", "withdrawn")


def open_status(disputes: bool, checks_waiting: bool) -> str:
    """An open claim's status: a dispute stays a dispute; otherwise the claim waits on its
    claimant (a code, an ORCID sign-in) or on the moderators."""
    if disputes:
        return "disputing"
    return "awaiting_verification" if checks_waiting else "pending"


def waiting_checks(evidence: list[dict[str, Any]]) -> set[str]:
    """Evidence waiting for its claimant to finish a check (a code, an ORCID sign-in)."""
    return {e["id"] for e in evidence if e["status"] == "pending" and e["kind"] != "statement"}


@dataclass(frozen=True)
class ClaimProgress:
    """A claim's status worked out from its events alone, for readers of the log (the moderation
    queue): the Claim's own rules (tests/unit/test_claims_stateful.py checks they agree)."""

    status: str
    disputes: bool
    checks: frozenset[str]  # evidence ids waiting for a check

    @classmethod
    def opened(cls, e: Claim.Opened) -> ClaimProgress:
        checks = frozenset(waiting_checks(e.evidence))
        disputes = e.disputes_owner is not None
        return cls(open_status(disputes, bool(checks)), disputes, checks)

    def after(self, e: Any) -> ClaimProgress:
        status, checks = self.status, self.checks
        if isinstance(e, Claim.EvidenceAdded):
            checks = checks | waiting_checks(e.evidence)
            if status in OPEN:
                status = open_status(self.disputes, bool(checks))
        elif isinstance(e, Claim.EvidenceVerified | Claim.EvidenceFailed):
            checks = checks - {e.evidence_id}
            if status == "awaiting_verification":
                status = open_status(self.disputes, bool(checks))
        elif isinstance(e, Claim.InfoRequested):
            status = "info_requested"
        elif isinstance(e, Claim.Approved):
            status = "approved"
        elif isinstance(e, Claim.Rejected):
            status = "rejected"
        elif isinstance(e, Claim.Withdrawn):
            status = "withdrawn"
        elif isinstance(e, Claim.Appealed):
            status = open_status(self.disputes, bool(checks))
        return ClaimProgress(status, self.disputes, frozenset(checks))


def record_id_for(researcher_id: UUID) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"claims:record:{researcher_id}")


def mailbox_id_for(email_key: str) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"claims:mailbox:{email_key}")


class Mailbox(Aggregate):
    """An address proven by a mailed code, and the one account whose claims it may back: an
    institutional mailbox shows that someone reads it, so it cannot speak for several people."""

    class Proven(Aggregate.Created):
        email_key: str  # the vault's keyed hash of the address, never the address
        account_id: UUID

    @event(Proven)
    def __init__(self, email_key: str, account_id: UUID) -> None:
        self.email_key = email_key
        self.account_id = account_id

    class HandedOver(Aggregate.Event):
        account_id: UUID  # the account that proved it again after the first was erased

    @classmethod
    def create_id(cls, email_key: str, **_: Any) -> UUID:
        return mailbox_id_for(email_key)

    @event(HandedOver)
    def hand_over(self, account_id: UUID) -> None:
        self.account_id = account_id


class Claim(Aggregate):
    class Opened(Aggregate.Created):
        researcher_id: UUID
        account_id: UUID
        evidence: list[dict[str, Any]]
        fingerprint: str
        disputes_owner: UUID | None

    class EvidenceAdded(Aggregate.Event):
        evidence: list[dict[str, Any]]

    class EvidenceVerified(Aggregate.Event):
        evidence_id: str
        proof: dict[str, Any]

    class EvidenceFailed(Aggregate.Event):
        evidence_id: str
        reason: str

    class EmailCodeIssued(Aggregate.Event):
        evidence_id: str
        code_hash: str
        expires_at: datetime

    class InfoRequested(Aggregate.Event):
        moderator_id: UUID
        question: str

    class Approved(Aggregate.Event):
        decided_by: str  # a moderator's account id, or "system" for conclusive evidence
        level: str
        reason: str

    class Rejected(Aggregate.Event):
        decided_by: str
        reason: str

    class Withdrawn(Aggregate.Event):
        pass

    class Appealed(Aggregate.Event):
        reason: str

    @event(Opened)
    def __init__(
        self,
        researcher_id: UUID,
        account_id: UUID,
        evidence: list[dict[str, Any]],
        fingerprint: str,
        disputes_owner: UUID | None,
    ) -> None:
        self.researcher_id = researcher_id
        self.account_id = account_id
        self.evidence = list(evidence)
        self.fingerprint = fingerprint
        self.disputes_owner = disputes_owner
        self.status = self._open_status()
        self.code: dict[str, Any] | None = None
        self.question: str | None = None
        self.decided_by: str | None = None
        self.decision_reason: str | None = None
        self.level: str | None = None
        self.appealed = False
        self.excluded_moderators: list[str] = []

    def _open_status(self) -> str:
        return open_status(bool(self.disputes_owner), bool(waiting_checks(self.evidence)))

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    def evidence_by_id(self, evidence_id: str) -> dict[str, Any] | None:
        return next((e for e in self.evidence if e["id"] == evidence_id), None)

    @event(EvidenceAdded)
    def add_evidence(self, evidence: list[dict[str, Any]]) -> None:
        self.evidence.extend(evidence)
        if self.status == "info_requested":
            self.question = None
        if self.status in ("info_requested", "pending", "awaiting_verification", "disputing"):
            self.status = self._open_status()

    @event(EvidenceVerified)
    def verify_evidence(self, evidence_id: str, proof: dict[str, Any]) -> None:
        e = self.evidence_by_id(evidence_id)
        assert e is not None
        e["status"] = "verified"
        e["proof"] = proof
        self.code = None
        if self.status == "awaiting_verification":
            self.status = self._open_status()

    @event(EvidenceFailed)
    def fail_evidence(self, evidence_id: str, reason: str) -> None:
        e = self.evidence_by_id(evidence_id)
        assert e is not None
        e["status"] = "failed"
        e["failure"] = reason
        if self.status == "awaiting_verification":
            self.status = self._open_status()

    @event(EmailCodeIssued)
    def issue_email_code(self, evidence_id: str, code_hash: str, expires_at: datetime) -> None:
        self.code = {"evidence_id": evidence_id, "code_hash": code_hash, "expires_at": expires_at}

    @event(InfoRequested)
    def request_info(self, moderator_id: UUID, question: str) -> None:
        self.status = "info_requested"
        self.question = question

    @event(Approved)
    def approve(self, decided_by: str, level: str, reason: str) -> None:
        self.status = "approved"
        self.decided_by = decided_by
        self.level = level
        self.decision_reason = reason

    @event(Rejected)
    def reject(self, decided_by: str, reason: str) -> None:
        self.status = "rejected"
        self.decided_by = decided_by
        self.decision_reason = reason

    @event(Withdrawn)
    def withdraw(self) -> None:
        self.status = "withdrawn"

    @event(Appealed)
    def appeal(self, reason: str) -> None:
        self.appealed = True
        if self.decided_by:
            self.excluded_moderators.append(self.decided_by)
        self.status = self._open_status()
        self.decided_by = None
        self.decision_reason = reason


class LinkRequest(Aggregate):
    """The owner of a claimed record asks the moderators to link another record into their
    person ("both records are me") when the evidence is not conclusive. Statements are sealed
    with the owner's key, a moderator's reason with the moderator's."""

    class Opened(Aggregate.Created):
        person: UUID  # the researcher id of the owner's record (the person's)
        record: UUID  # the researcher id of the record to link
        account_id: UUID  # who asked: the person's owner
        evidence: list[dict[str, Any]]

    class Decided(Aggregate.Event):
        outcome: str  # approved or rejected
        moderator_id: UUID
        sealed_reason: str | None

    @event(Opened)
    def __init__(self, person: UUID, record: UUID, account_id: UUID, evidence: list[dict[str, Any]]) -> None:
        self.person = person
        self.record = record
        self.account_id = account_id
        self.evidence = list(evidence)
        self.status = "pending"
        self.moderator_id: UUID | None = None
        self.sealed_reason: str | None = None

    @event(Decided)
    def decide(self, outcome: str, moderator_id: UUID, sealed_reason: str | None) -> None:
        self.status = outcome
        self.moderator_id = moderator_id
        self.sealed_reason = sealed_reason


class Record(Aggregate):
    """An author record as claims see it: owner, verification level, open claims, dispute, and
    the person it belongs to: a record is at most one person's, either the person's own record
    (with `members`) or a member of one (`person`)."""

    class Started(Aggregate.Created):
        researcher_id: UUID
        level: str

    class ClaimOpened(Aggregate.Event):
        claim_id: UUID
        account_id: UUID

    class ClaimClosed(Aggregate.Event):
        claim_id: UUID
        account_id: UUID
        outcome: str
        fingerprint: str

    class OwnerSet(Aggregate.Event):
        account_id: UUID
        claim_id: UUID

    class OwnerRemoved(Aggregate.Event):
        account_id: UUID
        how: str  # released, revoked, transferred
        actor: str
        reason: str

    class VerificationChanged(Aggregate.Event):
        old_level: str
        new_level: str
        reason: str
        evidence: list[dict[str, Any]]
        actor: str
        expires_at: datetime | None

    class DisputeOpened(Aggregate.Event):
        claim_id: UUID
        account_id: UUID

    class Vouched(Aggregate.Event):
        account_id: UUID  # the voucher
        voucher_record: UUID  # the co-author record, at L2 or above, that the voucher owns

    class DisputeResolved(Aggregate.Event):
        claim_id: UUID
        outcome: str  # kept or transferred
        actor: str

    class ProfileTextChanged(Aggregate.Event):
        """The owner's headline and about text, both as they are now (None: not given), sealed
        with the owner's key: erasing the account erases them."""

        account_id: UUID
        sealed_headline: str | None
        sealed_about: str | None

    class WorkDisowned(Aggregate.Event):
        """A work OpenAlex lists this record on is not the person's ("not mine"): the profile
        leaves it out whatever later imports say. The reason is sealed with the key of the
        account that gave it: erasing that account erases the words, the decision stays."""

        work_id: UUID
        account_id: UUID  # who decided
        role: str  # owner or moderator
        sealed_reason: str | None

    class DisownUndone(Aggregate.Event):
        """The "not mine" on a work is taken back: the profile follows OpenAlex for it again."""

        work_id: UUID
        account_id: UUID
        role: str

    class LinkRequested(Aggregate.Event):
        """Asked to be linked into a person, waiting for the moderators: one request at a time,
        so of two concurrent requests for one record, one save conflicts."""

        request_id: UUID
        person: UUID
        account_id: UUID

    class LinkRequestClosed(Aggregate.Event):
        request_id: UUID
        outcome: str  # approved or rejected
        moderator_id: UUID
        sealed_reason: str | None  # the moderator's, sealed with their key

    class Linked(Aggregate.Event):
        """`member` is linked into `person`: recorded on both records in one save (the person's
        record gains a member, the member gains its person). `sealed_reason`: a moderator's,
        sealed with their key."""

        person: UUID
        member: UUID
        account_id: UUID  # the owner (conclusive evidence) or the moderator who approved
        role: str  # owner or moderator
        evidence_kind: str  # orcid (conclusive) or moderator_review
        request_id: UUID | None
        sealed_reason: str | None

    class Unlinked(Aggregate.Event):
        """`member` is no longer part of `person`'s profile: both records as if never linked."""

        person: UUID
        member: UUID
        account_id: UUID
        role: str  # owner or moderator

    @event(Started)
    def __init__(self, researcher_id: UUID, level: str) -> None:
        self.researcher_id = researcher_id
        self.level = level
        self.owner: UUID | None = None
        self.owner_claim: UUID | None = None
        self.open_claims: dict[str, str] = {}  # account id -> claim id (str keys: JSON-safe)
        self.dispute_claim: UUID | None = None
        self.rejections: dict[str, str] = {}  # account id -> fingerprint of the last rejected claim
        self.level_expires_at: datetime | None = None
        self.vouchers: dict[str, str] = {}  # voucher account id -> their co-author record id
        # Worked out from the events below (nothing extra is stored):
        self.claimants: dict[str, str] = {}  # every account that ever claimed it -> its last claim
        self.rejected_claims: dict[str, str] = {}  # account id -> its last rejected claim
        self.owner_identities: list[str] = []  # what proved the owner: "orcid:<iD>", "mailbox:<key>"
        self.level_by_address_alone = False  # approved by the system on an institutional address (the old rule)
        self.sealed_headline: str | None = None  # the owner's words: a new owner starts without them
        self.sealed_about: str | None = None
        # Works said not to be the person's: work id -> who decided, their role, the sealed reason.
        # Decisions outlive owners: they are about the record's attribution, not about an owner.
        self.disowned: dict[str, dict[str, Any]] = {}
        # Links outlive owners too: they say which records are one person.
        self.person: UUID | None = None  # the person this record is a member of
        self.members: list[str] = []  # the records linked into this one (it is the person's)
        self.pending_link: str | None = None  # the link request waiting on this record
        # Adoptions (domain/claims/adoption.py): works this record took over from another record
        # (work id -> the decision), works taken from it (work id -> adopter), requests waiting.
        self.adoptions: dict[str, dict[str, Any]] = {}
        self.adopted_away: dict[str, str] = {}
        self.pending_adoptions: dict[str, str] = {}  # work id -> the adoption request waiting on it

    @classmethod
    def create_id(cls, researcher_id: UUID, **_: Any) -> UUID:
        return record_id_for(researcher_id)

    def conflicts_with(self, account_id: UUID) -> bool:
        """The account owns this record, or has ever claimed it: it has a side in any decision on it."""
        return self.owner == account_id or str(account_id) in self.claimants

    @property
    def status(self) -> str:
        if self.dispute_claim is not None:
            return "disputed"
        return "claimed" if self.owner else "unclaimed"

    @event(ClaimOpened)
    def note_claim_opened(self, claim_id: UUID, account_id: UUID) -> None:
        self.open_claims[str(account_id)] = str(claim_id)
        self.claimants[str(account_id)] = str(claim_id)

    @event(ClaimClosed)
    def note_claim_closed(self, claim_id: UUID, account_id: UUID, outcome: str, fingerprint: str) -> None:
        self.open_claims.pop(str(account_id), None)
        if outcome == "rejected":
            self.rejections[str(account_id)] = fingerprint
            self.rejected_claims[str(account_id)] = str(claim_id)

    @event(OwnerSet)
    def set_owner(self, account_id: UUID, claim_id: UUID) -> None:
        self.owner = account_id
        self.owner_claim = claim_id
        self.vouchers = {}  # vouching is for an owner: a new owner starts again
        self.sealed_headline = self.sealed_about = None

    @event(OwnerRemoved)
    def remove_owner(self, account_id: UUID, how: str, actor: str, reason: str) -> None:
        self.owner = None
        self.owner_claim = None
        self.owner_identities = []
        self.sealed_headline = self.sealed_about = None

    @event(VerificationChanged)
    def change_level(
        self,
        old_level: str,
        new_level: str,
        reason: str,
        evidence: list[dict[str, Any]],
        actor: str,
        expires_at: datetime | None,
    ) -> None:
        self.level = new_level
        self.level_expires_at = expires_at
        self.level_by_address_alone = (actor == "system" and new_level in ("L2", "L3") and bool(evidence)
                                       and all(item["kind"] == "institutional_email" for item in evidence))
        identities = [item["identity"] for item in evidence if item.get("identity")]
        if identities:  # a claim's proof behind the level; a lapse or a vouch keeps the owner's
            self.owner_identities = identities

    @event(Vouched)
    def vouch(self, account_id: UUID, voucher_record: UUID) -> None:
        self.vouchers[str(account_id)] = str(voucher_record)

    @event(DisputeOpened)
    def open_dispute(self, claim_id: UUID, account_id: UUID) -> None:
        self.dispute_claim = claim_id

    @event(DisputeResolved)
    def resolve_dispute(self, claim_id: UUID, outcome: str, actor: str) -> None:
        self.dispute_claim = None

    @event(ProfileTextChanged)
    def change_profile_text(self, account_id: UUID, sealed_headline: str | None, sealed_about: str | None) -> None:
        self.sealed_headline = sealed_headline
        self.sealed_about = sealed_about

    @event(WorkDisowned)
    def disown_work(self, work_id: UUID, account_id: UUID, role: str, sealed_reason: str | None) -> None:
        self.disowned[str(work_id)] = {"account_id": str(account_id), "role": role, "sealed_reason": sealed_reason}

    @event(DisownUndone)
    def undo_disown(self, work_id: UUID, account_id: UUID, role: str) -> None:
        self.disowned.pop(str(work_id), None)

    @event(LinkRequested)
    def request_link(self, request_id: UUID, person: UUID, account_id: UUID) -> None:
        self.pending_link = str(request_id)

    @event(LinkRequestClosed)
    def close_link_request(self, request_id: UUID, outcome: str, moderator_id: UUID,
                           sealed_reason: str | None) -> None:
        self.pending_link = None

    @event(Linked)
    def link(self, person: UUID, member: UUID, account_id: UUID, role: str, evidence_kind: str,
             request_id: UUID | None, sealed_reason: str | None) -> None:
        if member == self.researcher_id:
            self.person = person
        else:
            self.members = sorted({*self.members, str(member)})

    @event(Unlinked)
    def unlink(self, person: UUID, member: UUID, account_id: UUID, role: str) -> None:
        if member == self.researcher_id:
            self.person = None
        else:
            self.members = [m for m in self.members if m != str(member)]

    # -- adoption: a work OpenAlex lists under another record is this person's --------------------
    # Each event is recorded on both records in one save (the adopter and the record the work is
    # taken from), so of two concurrent adoptions of one authorship one save conflicts.

    class AdoptionRequested(Aggregate.Event):
        """The adopter's owner asked the moderators to move `work_id` from `from_record` to them."""

        request_id: UUID
        work_id: UUID
        adopter: UUID
        from_record: UUID
        account_id: UUID

    class AdoptionRequestClosed(Aggregate.Event):
        request_id: UUID
        work_id: UUID
        adopter: UUID
        from_record: UUID
        outcome: str  # approved or rejected
        moderator_id: UUID
        sealed_reason: str | None  # the moderator's, sealed with their key

    class WorkAdopted(Aggregate.Event):
        """`work_id` is `adopter`'s and not `from_record`'s, whatever later imports say: the
        profiles move OpenAlex's authorship from the one record to the other."""

        work_id: UUID
        adopter: UUID
        from_record: UUID
        account_id: UUID  # the owner (ORCID-proven) or the moderator who approved
        role: str  # owner or moderator
        evidence_kind: str  # orcid_proven or moderator_review
        request_id: UUID | None
        sealed_reason: str | None  # a moderator's, sealed with their key

    class AdoptionUndone(Aggregate.Event):
        """The work follows OpenAlex's attribution again."""

        work_id: UUID
        adopter: UUID
        from_record: UUID
        account_id: UUID
        role: str  # owner or moderator

    @event(AdoptionRequested)
    def request_adoption(self, request_id: UUID, work_id: UUID, adopter: UUID, from_record: UUID,
                         account_id: UUID) -> None:
        self.pending_adoptions[str(work_id)] = str(request_id)

    @event(AdoptionRequestClosed)
    def close_adoption_request(self, request_id: UUID, work_id: UUID, adopter: UUID, from_record: UUID,
                               outcome: str, moderator_id: UUID, sealed_reason: str | None) -> None:
        self.pending_adoptions.pop(str(work_id), None)

    @event(WorkAdopted)
    def adopt_work(self, work_id: UUID, adopter: UUID, from_record: UUID, account_id: UUID, role: str,
                   evidence_kind: str, request_id: UUID | None, sealed_reason: str | None) -> None:
        if adopter == self.researcher_id:
            self.adoptions[str(work_id)] = {"from_record": str(from_record), "account_id": str(account_id),
                                            "role": role, "evidence_kind": evidence_kind,
                                            "request_id": None if request_id is None else str(request_id),
                                            "sealed_reason": sealed_reason}
        else:
            self.adopted_away[str(work_id)] = str(adopter)

    @event(AdoptionUndone)
    def undo_adoption(self, work_id: UUID, adopter: UUID, from_record: UUID, account_id: UUID, role: str) -> None:
        if adopter == self.researcher_id:
            self.adoptions.pop(str(work_id), None)
        else:
            self.adopted_away.pop(str(work_id), None)


class AdoptionRequest(Aggregate):
    """The owner of a claimed record asks the moderators to move a work OpenAlex attributes to
    another record to theirs, when the authorship does not carry an ORCID iD they proved.
    Statements are sealed with the owner's key, a moderator's reason with the moderator's."""

    class Opened(Aggregate.Created):
        adopter: UUID  # the researcher id of the owner's record
        work_id: UUID
        from_record: UUID  # the record OpenAlex lists on the work
        account_id: UUID  # who asked: the adopter's owner
        evidence: list[dict[str, Any]]

    class Decided(Aggregate.Event):
        outcome: str  # approved or rejected
        moderator_id: UUID
        sealed_reason: str | None

    @event(Opened)
    def __init__(self, adopter: UUID, work_id: UUID, from_record: UUID, account_id: UUID,
                 evidence: list[dict[str, Any]]) -> None:
        self.adopter = adopter
        self.work_id = work_id
        self.from_record = from_record
        self.account_id = account_id
        self.evidence = list(evidence)
        self.status = "pending"
        self.moderator_id: UUID | None = None
        self.sealed_reason: str | None = None

    @event(Decided)
    def decide(self, outcome: str, moderator_id: UUID, sealed_reason: str | None) -> None:
        self.status = outcome
        self.moderator_id = moderator_id
        self.sealed_reason = sealed_reason
