"""Claims: open a claim with evidence, verify it, moderate it, settle disputes, release and revoke.

Evidence strength: a proven ORCID iD equal to the record's is conclusive (approves at once at
L2). An institutional email address confirmed by a code is strong, but it proves affiliation,
not authorship: the claim then goes to a moderator. An address backs the claims of one account
only (`Mailbox`). A statement with links is weak (a moderator decides). Moderators never decide
about a record they own or have claimed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from domain.accounts.application import normalise_email
from domain.accounts.ports import Mailer, PersonalDataVault
from domain.claims.adoption import Adoptions
from domain.claims.flagging import Flagging
from domain.claims.model import Claim, LinkRequest, Mailbox, Record, mailbox_id_for, record_id_for
from domain.claims.ports import NoRecords, RecordFacts, RecordFactsSource
from domain.errors import (
    ClaimConflictError,
    ClaimNotFoundError,
    ErrorCode,
    ForbiddenError,
    InvalidInputError,
    LinkRequestNotFoundError,
    NotFoundError,
    ResearcherNotFoundError,
    WorkNotFoundError,
)
from domain.text import check_free_text, check_name

log = logging.getLogger(__name__)

STRENGTH = {"orcid": "conclusive", "institutional_email": "strong", "statement": "weak"}
MAX_STATEMENT = 5_000
MAX_HEADLINE = 160  # one line, as the profile's header shows it
MAX_ABOUT = 2_000
MAX_ATTRIBUTION_REASON = 2_000
NOT_MINE = "not_mine"
UNCHANGED: Any = object()  # change_profile_text: leave this part as it is
VOUCHES_FOR_L3 = 2
MAX_LINKS = 10
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]{0,2000}$")
SHARED_MAILBOX = "this address already backs the claims of another account: a moderator decides"
# Called before a code is mailed, with the claimant and the address's keyed hash; raises
# TooManyRequestsError past the limits (per claimant, per address, per day).
CodeMailQuota = Callable[[UUID, str], None]


def no_quota(account_id: UUID, mailbox: str) -> None:
    """For tests of other rules: no limit on code mails."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class EvidenceIn:
    kind: str  # orcid, institutional_email, statement
    email: str | None = None
    text: str | None = None
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribution:
    """A record's decision on one work as its owner and moderators see it."""

    researcher_id: UUID
    work_id: UUID
    decision: str | None  # "not_mine", or None: the profile follows OpenAlex
    role: str | None  # who decided: owner or moderator
    reason: str | None  # None once the account that wrote it is erased
    position: int | None  # the event's position (None when nothing changed)


@dataclass(frozen=True)
class LinkOutcome:
    """What asking to link a record did: linked at once (conclusive evidence), a request for the
    moderators (`request_id`), or, for a record someone else owns, a dispute of it (`claim_id`:
    the asker's claim); `position` is the position of the last event saved."""

    person: UUID
    record: UUID
    linked: bool
    request_id: UUID | None
    position: int
    claim_id: UUID | None = None


@dataclass(frozen=True)
class LinkRequestView:
    """A link request as its owner and moderators see it (statements opened)."""

    id: UUID
    person: UUID
    record: UUID
    account_id: UUID
    status: str  # pending, approved, rejected
    evidence: list[dict[str, Any]]
    reason: str | None  # the moderator's, once decided (None once their account is erased)
    opened_at: datetime
    position: int | None = None


@dataclass(frozen=True)
class ClaimView:
    """A claim as its claimant and moderators see it (sealed fields opened)."""

    id: UUID
    researcher_id: UUID
    account_id: UUID
    status: str
    evidence: list[dict[str, Any]]
    question: str | None
    decided_by: str | None
    decision_reason: str | None
    level: str | None
    appealed: bool
    opened_at: datetime
    updated_at: datetime


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def mailbox_of(address: str) -> str:
    """The mailbox an address reaches: `name+tag@uni.example` is `name@uni.example`'s."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def _proof_expiry(claim: Claim) -> datetime | None:
    """When an approval resting on institutional addresses lapses (the earliest proof's end); an
    ORCID iD proven, or no address proven, does not lapse."""
    verified = [e for e in claim.evidence if e["status"] == "verified"]
    if any(e["kind"] == "orcid" for e in verified):
        return None
    ends = [datetime.fromisoformat(e["proof"]["expires_at"]) for e in verified
            if e["kind"] == "institutional_email" and "expires_at" in e.get("proof", {})]
    return min(ends, default=None)


def _identity(evidence: dict[str, Any]) -> str | None:
    """What verified evidence proves the person holds: an ORCID iD, or a mailbox (its keyed hash)."""
    if evidence["kind"] == "orcid" and evidence.get("expected_orcid"):
        return f"orcid:{evidence['expected_orcid']}"
    if evidence["kind"] == "institutional_email" and evidence.get("mailbox"):
        return f"mailbox:{evidence['mailbox']}"
    return None


class Claims(Adoptions, Flagging, Application[UUID]):  # domain/claims/adoption.py, flagging.py
    name = "Claims"

    def __init__(
        self,
        env: Any = None,
        *,
        vault: PersonalDataVault,
        mailer: Mailer,
        institution_domains: Callable[[str], frozenset[str]],
        clock: Callable[[], datetime] = utcnow,
        email_proof_ttl: timedelta = timedelta(days=365),
        code_ttl: timedelta = timedelta(minutes=30),
        code_mail_quota: CodeMailQuota = no_quota,
        account_exists: Callable[[UUID], bool] = lambda _: True,
        records: RecordFactsSource | None = None,
    ) -> None:
        super().__init__(env)
        self.vault = vault
        self.mailer = mailer
        self.institution_domains = institution_domains
        self.code_mail_quota = code_mail_quota
        self.account_exists = account_exists  # an erased account's mailbox is free again
        self.records: RecordFactsSource = records or NoRecords()  # the catalogue's facts of a record
        self.clock = clock
        self.email_proof_ttl = email_proof_ttl
        self.code_ttl = code_ttl

    def facts_of(self, researcher_id: UUID, *, asked_as: str | None = None) -> RecordFacts:
        """The facts the claims rules need of a record, read through the RecordFactsSource port;
        ResearcherNotFoundError (naming it `asked_as`, as the caller gave it) when there is none."""
        facts = self.records.record_facts(researcher_id)
        if facts is None:
            raise ResearcherNotFoundError(asked_as or str(researcher_id))
        return facts

    # -- claimant -------------------------------------------------------------------------------

    def open_claim(self, account_id: UUID, facts: RecordFacts, evidence: list[EvidenceIn]) -> UUID:
        if not evidence:
            raise InvalidInputError("a claim needs at least one piece of evidence")
        entries, plain, addresses = self._evidence_entries(account_id, facts, evidence)
        fingerprint = _digest(json.dumps(sorted(plain), sort_keys=True))
        counted = False
        for _ in range(5):  # claims by others on the same record are saved one after another
            record = self._load_record(facts)
            refused = self._claim_refusal(record, account_id)
            if refused is not None:
                raise refused
            if record.rejections.get(str(account_id)) == fingerprint and not self._decided_with_a_side(record, account_id):
                raise ClaimConflictError(
                    "this is the evidence of your rejected claim: add new evidence, or appeal the decision",
                    code=ErrorCode.EVIDENCE_ALREADY_REJECTED,
                )
            # An owner below L2 (a lapsed proof) claims again to be verified: no dispute with themselves.
            disputes = record.owner if record.owner != account_id else None
            claim = Claim(
                researcher_id=facts.researcher_id,
                account_id=account_id,
                evidence=entries,
                fingerprint=fingerprint,
                disputes_owner=disputes,
            )
            record.note_claim_opened(claim.id, account_id)
            if disputes:
                record.open_dispute(claim.id, account_id)
            if not counted:  # only codes that will be mailed count, and once whatever the retries
                self._count_code_mails(account_id, addresses)
                counted = True
            mails = self._issue_codes(claim, addresses)
            try:
                self.save(claim, record)
            except IntegrityError:
                continue
            self._send_codes(mails, account_id)
            return claim.id
        raise ClaimConflictError("the record is changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    def claim_refusal(self, account_id: UUID, facts: RecordFacts) -> ClaimConflictError | None:
        """Why `account_id` may not claim the record now whatever the evidence, or None: the rules
        `open_claim` applies, read without writing."""
        return self._claim_refusal(self._load_record(facts), account_id)

    @staticmethod
    def _claim_refusal(record: Record, account_id: UUID) -> ClaimConflictError | None:
        if record.owner == account_id and record.level in ("L2", "L3"):
            return ClaimConflictError(f"you already own this record, verified at {record.level}",
                                      code=ErrorCode.ALREADY_OWNER)
        if str(account_id) in record.open_claims:
            return ClaimConflictError(
                f"you already have an open claim on this record: {record.open_claims[str(account_id)]}",
                code=ErrorCode.CLAIM_ALREADY_OPEN, claim_id=str(record.open_claims[str(account_id)]),
            )
        if record.owner not in (None, account_id) and record.dispute_claim is not None:
            return ClaimConflictError("this record is already under dispute; wait for the moderators' decision",
                                      code=ErrorCode.DISPUTE_OPEN)
        if record.person is not None:  # it is part of someone's person: their profile shows it
            return ClaimConflictError(f"this record is linked into the person of record {record.person}: claim that"
                                      " record instead (which opens a dispute)", code=ErrorCode.ALREADY_LINKED)
        return None

    def evidence_kinds(self, facts: RecordFacts, *, orcid_sign_in: bool) -> list[str]:
        """The kinds of evidence that can work for this record: ORCID when the record has an iD
        (and sign-in is configured), an institutional address when one of its institutions has
        known domains, a statement always (a moderator decides)."""
        kinds = []
        if orcid_sign_in and facts.orcid:
            kinds.append("orcid")
        if any(self.institution_domains(i) for i in facts.institution_ids):
            kinds.append("institutional_email")
        return [*kinds, "statement"]

    def add_evidence(self, claim_id: UUID, account_id: UUID, facts: RecordFacts, evidence: list[EvidenceIn]) -> None:
        """The claimant adds evidence; in a dispute, the record's owner adds theirs too."""
        claim = self._party_claim(claim_id, account_id)
        if not claim.is_open:
            raise ClaimConflictError(f"the claim is {claim.status}; evidence can only be added to an open claim", code=ErrorCode.CLAIM_NOT_OPEN, claim_status=claim.status)
        entries, _, addresses = self._evidence_entries(account_id, facts, evidence)
        if account_id != claim.account_id:
            if any(e["kind"] != "statement" for e in entries):
                raise InvalidInputError("in a dispute the owner adds statements; their ORCID or address proof stands", code=ErrorCode.INVALID_EVIDENCE)
            for entry in entries:
                entry["by"] = str(account_id)  # the owner's side, sealed with the owner's key
        claim.add_evidence(entries)
        self._count_code_mails(account_id, addresses)
        mails = self._issue_codes(claim, addresses)
        self.save(claim)
        self._send_codes(mails, account_id)

    def confirm_email_code(self, claim_id: UUID, account_id: UUID, code: str, facts: RecordFacts) -> str:
        """Returns the claim's status afterwards."""
        claim = self._own_claim(claim_id, account_id)
        pending = claim.code
        if (
            not claim.is_open
            or pending is None
            or pending["expires_at"] < self.clock()
            or not hmac.compare_digest(pending["code_hash"], _digest(f"{claim.id}:{code.strip()}"))
        ):
            raise InvalidInputError("the code is wrong or has expired", code=ErrorCode.INVALID_EMAIL_CODE)
        expires_at = self.clock() + self.email_proof_ttl
        proof = {"confirmed_at": self.clock().isoformat(), "expires_at": expires_at.isoformat()}
        return self._verify(claim_id, pending["evidence_id"], proof, facts,
                            "institutional email address confirmed", expires_at, approve=False)

    def prove_orcid(self, claim_id: UUID, account_id: UUID, proven_orcid: str, facts: RecordFacts) -> str:
        """The ORCID iD that ORCID sign-in proved the claimant holds. Only the claimant's own
        sign-in counts: a sign-in completed by someone else cannot verify another's claim."""
        claim = self._own_claim(claim_id, account_id)
        pending = next((e for e in claim.evidence if e["kind"] == "orcid" and e["status"] == "pending"), None)
        if not claim.is_open or pending is None:
            raise ClaimConflictError("this claim is not waiting for an ORCID sign-in", code=ErrorCode.CLAIM_NOT_OPEN)
        if facts.orcid is None or proven_orcid != facts.orcid:
            claim.fail_evidence(
                pending["id"], f"ORCID sign-in proved {proven_orcid}, which is not this record's ORCID iD"
            )
            self.save(claim)
            return claim.status
        proof = {"orcid": proven_orcid, "proven_at": self.clock().isoformat()}
        return self._verify(claim_id, pending["id"], proof, facts, "ORCID iD proven by ORCID sign-in", None)

    def _verify(
        self, claim_id: UUID, evidence_id: str, proof: dict[str, Any], facts: RecordFacts, reason: str,
        expires_at: datetime | None, *, approve: bool = True,
    ) -> str:
        """Record verified evidence and, for conclusive evidence (`approve`), approve at L2 at once
        where nobody owns the record; other evidence leaves the decision to a moderator.

        A concurrent change of the record (another claim opened, a vouch) makes the save conflict:
        the claim and record are read again and the step is retried. Once another account owns the
        record, nothing is saved and the answer is a conflict; a dispute waits for moderators. An
        address that another account proved first fails instead: it backs that account's claims.
        """
        for _ in range(5):
            claim = self._claim(claim_id)
            evidence = claim.evidence_by_id(evidence_id)
            if not claim.is_open or evidence is None or evidence["status"] != "pending":
                raise ClaimConflictError(f"the claim is {claim.status}; this evidence was already settled", code=ErrorCode.CLAIM_NOT_OPEN, claim_status=claim.status)
            mailbox = None
            if evidence.get("mailbox"):
                if self._held_by_another(evidence["mailbox"], claim.account_id):
                    claim.fail_evidence(evidence_id, SHARED_MAILBOX)
                    self.save(claim)
                    return claim.status
                mailbox = self._mailbox(evidence["mailbox"])
                if mailbox is None:
                    mailbox = Mailbox(email_key=evidence["mailbox"], account_id=claim.account_id)
                elif mailbox.account_id != claim.account_id:
                    mailbox.hand_over(claim.account_id)  # its account was erased
            proven = [mailbox] if mailbox is not None else []  # saved with the claim: a new one is created once
            claim.verify_evidence(evidence_id, proof)
            record = self._load_record(facts)
            if claim.disputes_owner is not None or not approve:
                try:
                    self.save(claim, *proven)
                except IntegrityError:
                    continue  # another account proved the address at the same moment: look again
                return claim.status
            if record.owner not in (None, claim.account_id) or record.dispute_claim is not None:
                raise ClaimConflictError(
                    "another account became this record's owner first; withdraw this claim and claim again "
                    "to open a dispute", code=ErrorCode.RECORD_HAS_OWNER,
                )
            claim.approve("system", "L2", reason)
            self._make_owner(record, claim, "L2", reason, "system", expires_at)
            try:
                self.save(claim, record, *proven)
            except IntegrityError:
                continue
            return claim.status
        raise ClaimConflictError("the record is changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    def withdraw(self, claim_id: UUID, account_id: UUID) -> None:
        claim = self._own_claim(claim_id, account_id)
        if not claim.is_open:
            raise ClaimConflictError(f"the claim is {claim.status}; only an open claim can be withdrawn", code=ErrorCode.CLAIM_NOT_OPEN, claim_status=claim.status)
        record = self._record_of(claim)
        claim.withdraw()
        record.note_claim_closed(claim.id, claim.account_id, "withdrawn", claim.fingerprint)
        if record.dispute_claim == claim.id:
            record.resolve_dispute(claim.id, "withdrawn", str(account_id))
        self.save(claim, record)

    def appeal(self, claim_id: UUID, account_id: UUID, reason: str) -> None:
        check_free_text("reason", reason)
        claim = self._own_claim(claim_id, account_id)
        if claim.status != "rejected":
            raise ClaimConflictError(f"the claim is {claim.status}; only a rejected claim can be appealed", code=ErrorCode.CLAIM_NOT_OPEN, claim_status=claim.status)
        if claim.appealed:
            raise ClaimConflictError("this claim was appealed once already", code=ErrorCode.CLAIM_ALREADY_APPEALED)
        record = self._record_of(claim)
        if record.owner == account_id and record.level in ("L2", "L3"):  # as for a new claim: nothing to gain
            raise ClaimConflictError(f"you already own this record, verified at {record.level}",
                                     code=ErrorCode.ALREADY_OWNER)
        if str(account_id) in record.open_claims:
            raise ClaimConflictError("you have another open claim on this record", code=ErrorCode.CLAIM_ALREADY_OPEN)
        if claim.disputes_owner is not None:
            if record.owner != claim.disputes_owner:
                raise ClaimConflictError("the record's owner has changed since this dispute; claim it again", code=ErrorCode.OWNER_CHANGED)
            if record.dispute_claim is not None:
                raise ClaimConflictError("this record is already under another dispute", code=ErrorCode.DISPUTE_OPEN)
        elif record.owner not in (None, account_id):
            raise ClaimConflictError("the record has an owner now; claim it again to open a dispute", code=ErrorCode.RECORD_HAS_OWNER)
        claim.appeal(reason)
        record.note_claim_opened(claim.id, account_id)
        if claim.disputes_owner is not None:
            record.open_dispute(claim.id, account_id)
        self.save(claim, record)

    # -- moderators -----------------------------------------------------------------------------

    def approve(self, claim_id: UUID, moderator_id: UUID, level: str, reason: str, facts: RecordFacts) -> None:
        if level not in ("L2", "L3"):
            raise InvalidInputError("a moderator approves at L2 or L3")
        check_free_text("reason", reason)
        claim, record = self._decidable(claim_id, moderator_id)
        actor = str(moderator_id)
        if claim.disputes_owner is not None:
            if record.dispute_claim != claim.id or record.owner != claim.disputes_owner:
                raise ClaimConflictError("this dispute no longer stands: the record's owner has changed", code=ErrorCode.OWNER_CHANGED)
            record.remove_owner(record.owner, "transferred", actor, reason)
            record.resolve_dispute(claim.id, "transferred", actor)
        elif record.owner not in (None, claim.account_id):
            raise ClaimConflictError("the record has an owner already; this claim cannot be approved", code=ErrorCode.RECORD_HAS_OWNER)
        claim.approve(actor, level, reason)
        self._make_owner(record, claim, level, reason, actor, _proof_expiry(claim))
        self._save_decision(claim, record)

    def reject(self, claim_id: UUID, moderator_id: UUID, reason: str) -> None:
        check_free_text("reason", reason)
        claim, record = self._decidable(claim_id, moderator_id)
        claim.reject(str(moderator_id), reason)
        if claim.disputes_owner is not None and record.dispute_claim == claim.id:
            record.resolve_dispute(claim.id, "kept", str(moderator_id))
        record.note_claim_closed(claim.id, claim.account_id, "rejected", claim.fingerprint)
        self._save_decision(claim, record)

    def request_info(self, claim_id: UUID, moderator_id: UUID, question: str) -> None:
        check_free_text("question", question)
        claim, _ = self._decidable(claim_id, moderator_id)
        claim.request_info(moderator_id, question)
        self.save(claim)

    def revoke_owner(self, facts: RecordFacts, moderator_id: UUID, reason: str) -> None:
        check_free_text("reason", reason)
        record = self._load_record(facts)
        if record.conflicts_with(moderator_id):
            raise ForbiddenError("a moderator cannot revoke the ownership of a record they own or have claimed", code=ErrorCode.MODERATOR_INVOLVED)
        if record.owner is None:
            raise ClaimConflictError("the record has no owner", code=ErrorCode.RECORD_UNCLAIMED)
        if record.dispute_claim is not None:
            raise ClaimConflictError(f"the record is under dispute: decide claim {record.dispute_claim} first", code=ErrorCode.DISPUTE_OPEN, claim_id=str(record.dispute_claim))
        record.remove_owner(record.owner, "revoked", str(moderator_id), reason)
        self._change_level(record, facts.base_level, f"ownership revoked: {reason}", [], str(moderator_id), None)
        self.save(record)

    # -- owners ---------------------------------------------------------------------------------

    def release(self, facts: RecordFacts, account_id: UUID, reason: str) -> None:
        check_free_text("reason", reason)
        record = self._load_record(facts)
        if record.owner != account_id:
            raise ForbiddenError("only the record's owner can release it", code=ErrorCode.NOT_OWNER)
        if record.dispute_claim is not None:
            raise ClaimConflictError("the record is under dispute: the moderators decide first", code=ErrorCode.DISPUTE_OPEN)
        record.remove_owner(account_id, "released", str(account_id), reason)
        self._change_level(record, facts.base_level, f"released by its owner: {reason}", [], str(account_id), None)
        self.save(record)

    def change_profile_text(self, researcher_id: UUID, account_id: UUID, headline: str | None = UNCHANGED,
                            about: str | None = UNCHANGED) -> tuple[str | None, str | None, int | None]:
        """The owner writes the profile's headline (one line) and about text; None or blank removes
        one, UNCHANGED keeps it. Returns both as they are now, and the position of the event
        (None when nothing changed)."""
        if headline is not UNCHANGED and headline is not None:
            headline = check_name("headline", headline) if headline.strip() else None
            if headline is not None and len(headline) > MAX_HEADLINE:
                raise InvalidInputError(f"a headline has at most {MAX_HEADLINE} characters", field="headline")
        if about is not UNCHANGED and about is not None:
            about = check_free_text("about", about).strip() or None
            if about is not None and len(about) > MAX_ABOUT:
                raise InvalidInputError(f"the about text has at most {MAX_ABOUT} characters", field="about")
        record = self.get_record(researcher_id)
        if record is None or record.owner != account_id:
            raise ForbiddenError("only the record's owner can edit its profile", code=ErrorCode.NOT_OWNER)
        now = self.profile_text(record)
        wanted = (now[0] if headline is UNCHANGED else headline, now[1] if about is UNCHANGED else about)
        if wanted == now:
            return *now, None
        record.change_profile_text(
            account_id,
            None if wanted[0] is None else self.vault.seal(account_id, wanted[0]),
            None if wanted[1] is None else self.vault.seal(account_id, wanted[1]),
        )
        recordings = self.save(record)
        return *wanted, recordings[-1].notification.id

    def profile_text(self, record: Record) -> tuple[str | None, str | None]:
        """The owner's headline and about text (None once the owner's account is erased)."""
        if record.owner is None:
            return None, None
        return (None if record.sealed_headline is None else self.vault.open(record.owner, record.sealed_headline),
                None if record.sealed_about is None else self.vault.open(record.owner, record.sealed_about))

    def change_attribution(self, facts: RecordFacts, work_id: UUID, account_id: UUID, *, is_moderator: bool,
                           not_mine: bool, reason: str | None = None, asked_as: str | None = None,
                           together: tuple[Any, ...] = ()) -> Attribution:
        """The owner (or a moderator without a side in the record) says a work is not the
        person's, or takes that back. Saying it again changes nothing (a new reason replaces the
        old one); only a work that lists the record can be disowned, and any decision undone.
        While a dispute on the record is open only moderators change it. `together`: aggregates
        saved in the same transaction when the decision changes (an upheld flag)."""
        if reason is not None:
            reason = check_free_text("reason", reason).strip() or None
            if reason is not None and len(reason) > MAX_ATTRIBUTION_REASON:
                raise InvalidInputError(f"a reason has at most {MAX_ATTRIBUTION_REASON} characters", field="reason")
        record = self._load_record(facts)
        role = self._attribution_role(record, account_id, is_moderator)
        self._refuse_owner_during_dispute(record, role, "change which works are the record's")
        authors = self.records.work_authors(work_id)
        if authors is None:
            raise WorkNotFoundError(asked_as or str(work_id))
        current = record.disowned.get(str(work_id))
        if not_mine:
            if current is not None and self._attribution_reason(current) == reason:
                return self.attribution(record, work_id)
            if current is None and facts.researcher_id not in authors:
                raise ClaimConflictError("the work does not list this record among its authors: there is nothing"
                                         " to disown", code=ErrorCode.NOT_AN_AUTHOR)
            sealed = None if reason is None else self.vault.seal(account_id, reason)
            record.disown_work(work_id, account_id, role, sealed)
        else:
            if current is None:
                return self.attribution(record, work_id)
            record.undo_disown(work_id, account_id, role)
        recordings = self.save(record, *together)
        return self.attribution(record, work_id, recordings[-1].notification.id)

    def attribution(self, record: Record, work_id: UUID, position: int | None = None) -> Attribution:
        current = record.disowned.get(str(work_id))
        if current is None:
            return Attribution(record.researcher_id, work_id, None, None, None, position)
        return Attribution(record.researcher_id, work_id, NOT_MINE, current["role"],
                           self._attribution_reason(current), position)

    def _attribution_reason(self, decision: dict[str, Any]) -> str | None:
        sealed = decision["sealed_reason"]
        return None if sealed is None else self.vault.open(UUID(decision["account_id"]), sealed)

    def _refuse_owner_during_dispute(self, record: Record, role: str, what: str) -> None:
        """While someone disputes the record, or the person it is linked into, its owner may be
        about to lose it: the moderators decide first (they themselves still act on it)."""
        if role != "owner":
            return
        disputed = record if record.dispute_claim is not None else None
        if disputed is None and record.person is not None:
            person = self.get_record(record.person)
            disputed = person if person is not None and person.dispute_claim is not None else None
        if disputed is not None:
            raise ClaimConflictError(f"the record is under dispute: you cannot {what} until the moderators decide"
                                     f" claim {disputed.dispute_claim}", code=ErrorCode.DISPUTE_OPEN,
                                     claim_id=str(disputed.dispute_claim))

    def has_a_side(self, record: Record | None, account_id: UUID) -> bool:
        """The account owns or has claimed the record, or the person it is linked into: a
        moderator with a side in any decision on it (a member record has no owner of its own)."""
        if record is None:
            return False
        if record.conflicts_with(account_id):
            return True
        person = self.get_record(record.person) if record.person is not None else None
        return person is not None and person.conflicts_with(account_id)

    def _attribution_role(self, record: Record, account_id: UUID, is_moderator: bool) -> str:
        """Who may change a record's attribution: its owner, or a moderator without a side in it."""
        if record.owner == account_id:
            return "owner"
        if not is_moderator:
            raise ForbiddenError("only the record's owner or a moderator can change which works are its",
                                 code=ErrorCode.NOT_OWNER)
        if self.has_a_side(record, account_id):
            raise ForbiddenError("a moderator cannot decide the attribution of a record they have claimed",
                                 code=ErrorCode.MODERATOR_INVOLVED)
        return "moderator"

    # -- links: several records, one person -------------------------------------------------------

    def link(self, person_facts: RecordFacts, other_facts: RecordFacts, account_id: UUID,
             evidence: list[EvidenceIn], *, asked_as: str | None = None) -> LinkOutcome:
        """The owner of a record verified at L2 or above says another record is them too. Its
        ORCID iD equal to one the owner proved links at once; other evidence (statements) becomes
        a request for the moderators. The other record must be in no person and waiting on no other
        request: both records are saved together, so of two concurrent requests for one record one
        save conflicts and is refused on its retry. A record someone else owns is not linked:
        asking opens a dispute of it (a claim by the asker with this evidence, as a claim on an
        owned record does), which the moderators decide; the owner keeps it meanwhile."""
        if other_facts.researcher_id == person_facts.researcher_id:
            raise InvalidInputError("a record cannot be linked to itself", field="record")
        entries, conclusive = self._link_evidence(account_id, other_facts, evidence)
        for _ in range(5):
            person = self._load_record(person_facts)
            other = self._load_record(other_facts)
            self._check_link_asker(person, account_id)
            self._refuse_owner_during_dispute(person, "owner", "link records to it")
            if conclusive and not (other_facts.orcid and f"orcid:{other_facts.orcid}" in person.owner_identities):
                raise InvalidInputError("the record's ORCID iD is not one you proved when you claimed your record:"
                                        " give a statement for the moderators instead", code=ErrorCode.INVALID_EVIDENCE)
            if other.owner not in (None, account_id) and other.person is None and not other.members:
                try:
                    return self._dispute_by_link(person, other, other_facts, account_id, evidence)
                except IntegrityError:
                    continue
            self._check_linkable(person, other, account_id, asked_as or str(other_facts.researcher_id))
            if conclusive:
                for record in (person, other):
                    record.link(person.researcher_id, other.researcher_id, account_id, "owner", "orcid", None, None)
                try:
                    recordings = self.save(person, other)
                except IntegrityError:
                    continue
                return LinkOutcome(person.researcher_id, other.researcher_id, True, None,
                                   recordings[-1].notification.id)
            request = LinkRequest(person=person.researcher_id, record=other.researcher_id, account_id=account_id,
                                  evidence=entries)
            other.request_link(request.id, person.researcher_id, account_id)
            try:
                recordings = self.save(request, other)
            except IntegrityError:
                continue
            return LinkOutcome(person.researcher_id, other.researcher_id, False, request.id,
                               recordings[-1].notification.id)
        raise ClaimConflictError("the records are changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    def _link_evidence(self, account_id: UUID, other: RecordFacts,
                       evidence: list[EvidenceIn]) -> tuple[list[dict[str, Any]], bool]:
        """Evidence of a link as stored (statements sealed with the owner's key), and whether it
        is conclusive (an ORCID iD, checked against the owner's proven ones by the caller)."""
        if not evidence:
            raise InvalidInputError("a link needs at least one piece of evidence", code=ErrorCode.INVALID_EVIDENCE)
        if any(item.kind == "institutional_email" for item in evidence):
            raise InvalidInputError("a link rests on an ORCID iD you proved or on statements; an address proves"
                                    " affiliation, not that two records are one person", code=ErrorCode.INVALID_EVIDENCE)
        if any(item.kind == "orcid" for item in evidence) and other.orcid is None:
            raise InvalidInputError("the record to link has no ORCID iD: give a statement for the moderators",
                                    code=ErrorCode.INVALID_EVIDENCE)
        entries, _, _ = self._evidence_entries(account_id, other, evidence)
        return entries, any(item.kind == "orcid" for item in evidence)

    def _dispute_by_link(self, person: Record, other: Record, other_facts: RecordFacts, account_id: UUID,
                         evidence: list[EvidenceIn]) -> LinkOutcome:
        """Asking to link a record someone else owns: the asker disputes it, as a claim on an owned
        record does (the same refusals: a claim of theirs open already, another dispute, the
        evidence of their rejected claim). An ORCID iD the asker proved when claiming their own
        record is verified evidence at once. Raises IntegrityError when the record changed
        meanwhile (the caller looks again)."""
        refused = self._claim_refusal(other, account_id)
        if refused is not None:
            raise refused
        entries, plain, _ = self._evidence_entries(account_id, other_facts, evidence)
        fingerprint = _digest(json.dumps(sorted(plain), sort_keys=True))
        if other.rejections.get(str(account_id)) == fingerprint and not self._decided_with_a_side(other, account_id):
            raise ClaimConflictError("this is the evidence of your rejected claim on this record: add new evidence,"
                                     " or appeal the decision", code=ErrorCode.EVIDENCE_ALREADY_REJECTED)
        for entry in entries:
            if entry["kind"] == "orcid":  # checked by the caller: an iD the asker proved for their own record
                entry |= {"status": "verified", "proof": {"orcid": entry["expected_orcid"],
                                                          "proven_at": self.clock().isoformat(),
                                                          "claim_id": str(person.owner_claim)}}
        claim = Claim(researcher_id=other.researcher_id, account_id=account_id, evidence=entries,
                      fingerprint=fingerprint, disputes_owner=other.owner)
        other.note_claim_opened(claim.id, account_id)
        other.open_dispute(claim.id, account_id)
        recordings = self.save(claim, other)
        return LinkOutcome(person.researcher_id, other.researcher_id, False, None, recordings[-1].notification.id,
                           claim.id)

    @staticmethod
    def _check_link_asker(person: Record, account_id: UUID) -> None:
        """Why this account cannot link records into `person` at all, raised."""
        if person.owner != account_id:
            raise ForbiddenError("only the record's owner can link other records to it", code=ErrorCode.NOT_OWNER)
        if person.level not in ("L2", "L3"):
            raise ForbiddenError(f"your record is at {person.level}: links come from owners verified at L2 or above",
                                 code=ErrorCode.OWNER_NOT_VERIFIED)
        if person.person is not None:
            raise ClaimConflictError(f"your record is itself linked into the person of record {person.person}:"
                                     " link from that record", code=ErrorCode.ALREADY_LINKED)

    def _check_linkable(self, person: Record, other: Record, account_id: UUID, asked_as: str) -> None:
        """Why `other` cannot become part of `person`'s profile now, raised; nothing if it can."""
        self._check_link_asker(person, account_id)
        if other.person is not None or other.members:
            whose = "yours" if other.person == person.researcher_id else "a person's"
            raise ClaimConflictError(f"record {asked_as} is part of {whose} already (a record belongs to at most"
                                     " one person)", code=ErrorCode.ALREADY_LINKED)
        if other.owner not in (None, account_id):
            raise ClaimConflictError(f"record {asked_as} is owned by someone else now: reject the request (asking"
                                     " again opens a dispute of it)", code=ErrorCode.RECORD_HAS_OWNER)
        if other.dispute_claim is not None:
            raise ClaimConflictError(f"record {asked_as} is under dispute; wait for the moderators' decision",
                                     code=ErrorCode.DISPUTE_OPEN)
        if other.pending_link is not None:
            raise ClaimConflictError(f"a request to link record {asked_as} is waiting for the moderators already",
                                     code=ErrorCode.LINK_PENDING)

    def decide_link(self, request_id: UUID, moderator_id: UUID, *, approve: bool, reason: str) -> LinkRequestView:
        """A moderator without a side in either record approves or rejects a link request; an
        approval checks the rules again (the records may have changed since the request)."""
        reason = check_free_text("reason", reason).strip()
        if not reason:
            raise InvalidInputError("a decision needs a reason", field="reason")
        if len(reason) > MAX_ATTRIBUTION_REASON:
            raise InvalidInputError(f"a reason has at most {MAX_ATTRIBUTION_REASON} characters", field="reason")
        request = self._link_request(request_id)
        person, other = self.get_record(request.person), self.get_record(request.record)
        assert person is not None and other is not None  # a request is saved with its record's event
        if moderator_id == request.account_id or self.has_a_side(person, moderator_id) \
                or self.has_a_side(other, moderator_id):
            raise ForbiddenError("a moderator cannot decide a link on a person they own or have claimed",
                                 code=ErrorCode.MODERATOR_INVOLVED)
        if request.status != "pending":
            raise ClaimConflictError(f"the link request is {request.status} already", code=ErrorCode.LINK_NOT_OPEN)
        sealed = self.vault.seal(moderator_id, reason)
        other.close_link_request(request.id, "approved" if approve else "rejected", moderator_id, sealed)
        changed = [request, other]
        if approve:
            if person.owner != request.account_id:
                raise ClaimConflictError("the person's record has another owner since the request: it no longer"
                                         " stands; reject it", code=ErrorCode.OWNER_CHANGED)
            self._check_linkable(person, other, request.account_id, str(request.record))
            for record in (person, other):
                record.link(person.researcher_id, other.researcher_id, moderator_id, "moderator", "moderator_review",
                            request.id, sealed)
            changed.append(person)
        request.decide("approved" if approve else "rejected", moderator_id, sealed)
        try:
            recordings = self.save(*changed)
        except IntegrityError:
            raise ClaimConflictError("the records changed at the same moment; look at the request again",
                                     code=ErrorCode.CHANGED_CONCURRENTLY) from None
        return self.link_request(request.id, recordings[-1].notification.id)

    def unlink(self, person_facts: RecordFacts, member: UUID, account_id: UUID, *, is_moderator: bool,
               asked_as: str | None = None) -> int:
        """The person's owner, or a moderator without a side in the person's record, takes a
        record out of the person: both are as if never linked. Returns the event's position."""
        person = self._load_record(person_facts)
        role = self._unlink_role(person, account_id, is_moderator)
        self._refuse_owner_during_dispute(person, role, "unlink its records")
        if str(member) not in person.members:
            raise NotFoundError(f"record {asked_as or member} is not linked to this record")
        other = self.get_record(member)
        assert other is not None  # linked in the same save as the person
        for record in (person, other):
            record.unlink(person.researcher_id, member, account_id, role)
        recordings = self.save(person, other)
        return recordings[-1].notification.id

    @staticmethod
    def _unlink_role(person: Record, account_id: UUID, is_moderator: bool) -> str:
        if person.owner == account_id:
            return "owner"
        if not is_moderator:
            raise ForbiddenError("only the person's owner or a moderator can unlink its records",
                                 code=ErrorCode.NOT_OWNER)
        if person.conflicts_with(account_id):
            raise ForbiddenError("a moderator cannot unlink records of a person they own or have claimed",
                                 code=ErrorCode.MODERATOR_INVOLVED)
        return "moderator"

    def link_request(self, request_id: UUID, position: int | None = None) -> LinkRequestView:
        request = self._link_request(request_id)
        evidence = [self._open_evidence(request.account_id, e) for e in request.evidence]
        reason = None if request.sealed_reason is None or request.moderator_id is None \
            else self.vault.open(request.moderator_id, request.sealed_reason)
        return LinkRequestView(request.id, request.person, request.record, request.account_id, request.status,
                               evidence, reason, request.created_on, position)

    def link_request_for(self, request_id: UUID, moderator_id: UUID) -> LinkRequestView:
        """A request as a moderator may read it: not one about a person they have a side in (404)."""
        request = self.link_request(request_id)
        for researcher in (request.person, request.record):
            if moderator_id == request.account_id or self.has_a_side(self.get_record(researcher), moderator_id):
                raise LinkRequestNotFoundError
        return request

    def members_of(self, researcher_id: UUID) -> list[UUID]:
        record = self.get_record(researcher_id)
        return [] if record is None else [UUID(m) for m in record.members]

    def _link_request(self, request_id: UUID) -> LinkRequest:
        try:
            request = self.repository.get(request_id)
        except AggregateNotFoundError:
            raise LinkRequestNotFoundError from None
        if not isinstance(request, LinkRequest):
            raise LinkRequestNotFoundError
        return request

    def vouch(self, facts: RecordFacts, voucher_id: UUID, voucher_records: list[RecordFacts]) -> str:
        """An owner of an L2+ record that shares works with this one vouches for its owner;
        two such vouchers raise an L2 record to L3. `voucher_records` are the voucher's records
        that are co-authors of this one. Returns the record's level afterwards."""
        record = self._load_record(facts)
        if record.owner is None:
            raise ClaimConflictError("only a claimed record can be vouched for", code=ErrorCode.RECORD_UNCLAIMED)
        if record.owner == voucher_id:
            raise ForbiddenError("owners cannot vouch for themselves", code=ErrorCode.VOUCH_NOT_ALLOWED)
        if str(voucher_id) in record.vouchers:
            raise ClaimConflictError("you have vouched for this record already", code=ErrorCode.ALREADY_VOUCHED)
        verified = [
            own for r in voucher_records
            if (own := self.get_record(r.researcher_id)) is not None and own.owner == voucher_id and own.level in ("L2", "L3")
        ]
        if not verified:
            raise ForbiddenError("only the owner of a co-author record verified at L2 or L3 can vouch", code=ErrorCode.VOUCH_NOT_ALLOWED)
        # Vouches come from other people: not from the owner's own mailbox or ORCID iD under another
        # account, nor twice from one mailbox or iD.
        taken = set(record.owner_identities)
        for other in record.vouchers.values():
            vouched_with = self.get_record(UUID(other))
            taken.update(vouched_with.owner_identities if vouched_with is not None else ())
        qualifying = [own for own in verified if not taken.intersection(own.owner_identities)]
        if not qualifying:
            raise ForbiddenError("a vouch must come from another person: your record was verified with the same "
                                 "address or ORCID iD as this record's owner or another voucher",
                                 code=ErrorCode.VOUCH_NOT_ALLOWED)
        record.vouch(voucher_id, qualifying[0].researcher_id)
        if record.level == "L2" and len(record.vouchers) >= VOUCHES_FOR_L3:
            evidence = [{"kind": "vouch", "account_id": a, "record": r} for a, r in sorted(record.vouchers.items())]
            self._change_level(record, "L3", "vouched for by two verified co-authors", evidence, "vouching",
                               record.level_expires_at)
        self.save(record)
        return record.level

    def lapse_expired_evidence(self, researcher_id: UUID) -> bool:
        """Lower a record whose time-limited proof has lapsed (L2 by institutional email -> L1),
        through the same VerificationChanged event; and one the system approved on an
        institutional address alone, as it once did: an address proves affiliation, not
        authorship. True if it was lowered; its owner can claim it again for a moderator."""
        record = self.get_record(researcher_id)
        if record is None or record.owner is None:
            return False
        if record.level_by_address_alone:
            reason = "an institutional address alone does not verify authorship: claim again for a moderator"
            lapsed = [{"kind": "institutional_email", "claim_id": str(record.owner_claim)}]
        elif record.level_expires_at is not None and record.level_expires_at <= self.clock():
            reason = "the institutional email proof lapsed"
            lapsed = [{"kind": "institutional_email", "expired_at": record.level_expires_at.isoformat(),
                       "claim_id": str(record.owner_claim)}]
        else:
            return False
        self._change_level(record, "L1", reason, lapsed, "system", None)
        self.save(record)
        return True

    # -- reading ----------------------------------------------------------------------------------

    def view(self, claim_id: UUID, viewer_id: UUID, *, is_moderator: bool) -> ClaimView:
        """Visible to its claimant and to moderators; to anyone else it does not exist."""
        claim = self._claim(claim_id)
        if viewer_id not in (claim.account_id, claim.disputes_owner):
            # A moderator with a side in the record (owns it, has claimed it) reads none of it.
            if not is_moderator or self._record_of(claim).conflicts_with(viewer_id):
                raise ClaimNotFoundError
        return ClaimView(
            id=claim.id,
            researcher_id=claim.researcher_id,
            account_id=claim.account_id,
            status=claim.status,
            evidence=[self._open_evidence(UUID(e.get("by", str(claim.account_id))), e) for e in claim.evidence],
            question=claim.question,
            decided_by=claim.decided_by,
            decision_reason=claim.decision_reason,
            level=claim.level,
            appealed=claim.appealed,
            opened_at=claim.created_on,
            updated_at=claim.modified_on,
        )

    def claimant(self, claim_id: UUID) -> UUID:
        return self._claim(claim_id).account_id

    def claim_researcher(self, claim_id: UUID) -> UUID:
        return self._claim(claim_id).researcher_id

    def get_record(self, researcher_id: UUID) -> Record | None:
        try:
            return self.repository.get(record_id_for(researcher_id))
        except AggregateNotFoundError:
            return None

    # -- inside -----------------------------------------------------------------------------------

    def _evidence_entries(
        self, account_id: UUID, facts: RecordFacts, evidence: list[EvidenceIn]
    ) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
        """Evidence as stored (personal parts sealed), its plain form (for the fingerprint) and the
        addresses to mail codes to, by evidence id."""
        entries: list[dict[str, Any]] = []
        plain: list[str] = []
        addresses: dict[str, str] = {}
        for item in evidence:
            entry: dict[str, Any] = {"id": uuid4().hex, "kind": item.kind, "strength": STRENGTH.get(item.kind)}
            if item.kind == "orcid":
                if facts.orcid is None:
                    raise InvalidInputError("this record has no ORCID iD: use another kind of evidence", code=ErrorCode.INVALID_EVIDENCE)
                entry |= {"status": "pending", "expected_orcid": facts.orcid}
                plain.append(f"orcid:{facts.orcid}")
            elif item.kind == "institutional_email":
                address = normalise_email(item.email or "")
                domain = address.rpartition("@")[2]
                institution = self._institution_for(domain, facts)
                mailbox = self.vault.email_key(mailbox_of(address))
                entry |= {
                    "status": "pending",
                    "domain": domain,
                    "institution_id": institution,
                    "sealed_email": self.vault.seal(account_id, address),
                    "mailbox": mailbox,  # a keyed hash: which account the address backs (Mailbox)
                }
                plain.append(f"email:{address}")
                if self._held_by_another(mailbox, account_id):
                    # No code: the address cannot back this account's claims; a moderator sees why.
                    entry |= {"status": "failed", "failure": SHARED_MAILBOX}
                else:
                    addresses[entry["id"]] = address
            elif item.kind == "statement":
                text = check_free_text("text", (item.text or "").strip())
                if not text:
                    raise InvalidInputError("a statement needs some text", code=ErrorCode.INVALID_EVIDENCE)
                if len(text) > MAX_STATEMENT:
                    raise InvalidInputError(f"a statement has at most {MAX_STATEMENT} characters", code=ErrorCode.INVALID_EVIDENCE)
                for link in item.links:
                    check_free_text("links", link)
                if len(item.links) > MAX_LINKS or not all(_URL.match(link) for link in item.links):
                    raise InvalidInputError(f"links must be at most {MAX_LINKS} http(s) addresses", code=ErrorCode.INVALID_EVIDENCE)
                entry |= {
                    "status": "submitted",
                    "sealed_text": self.vault.seal(account_id, text),
                    "links": list(item.links),
                }
                plain.append(f"statement:{text}|{'|'.join(item.links)}")
            else:
                raise InvalidInputError(
                    f"unknown kind of evidence {item.kind!r}: use orcid, institutional_email or statement"
                )
            entries.append(entry)
        return entries, plain, addresses

    def _institution_for(self, domain: str, facts: RecordFacts) -> str:
        for institution in sorted(facts.institution_ids):
            for known in self.institution_domains(institution):
                if domain == known or domain.endswith("." + known):
                    return institution
        raise InvalidInputError(
            f"{domain} is not the domain of an institution of this record; "
            "use an address of one of the record's institutions, or another kind of evidence"
        )

    def _count_code_mails(self, account_id: UUID, addresses: dict[str, str]) -> None:
        for address in addresses.values():
            self.code_mail_quota(account_id, self.vault.email_key(mailbox_of(address)))

    def _held_by_another(self, mailbox: str, account_id: UUID) -> bool:
        """Another live account proved this mailbox first (an erased one holds nothing)."""
        proven = self._mailbox(mailbox)
        return proven is not None and proven.account_id != account_id and self.account_exists(proven.account_id)

    def _issue_codes(self, claim: Claim, addresses: dict[str, str]) -> list[tuple[str, str]]:
        mails = []
        for evidence_id, address in addresses.items():  # the last address added is the one whose code counts
            code = f"{secrets.randbelow(1_000_000):06d}"
            claim.issue_email_code(evidence_id, _digest(f"{claim.id}:{code}"), self.clock() + self.code_ttl)
            mails.append((address, code))
        return mails

    def _send_codes(self, mails: list[tuple[str, str]], account_id: UUID) -> None:
        """After the save: a mail failure is logged (without the address); the claimant adds the
        address again for a new code."""
        for to, code in mails:
            try:
                self._send_code(to, code, account_id)
            except Exception as e:  # noqa: BLE001 - any mail failure
                log.warning("claim code not mailed: %s", type(e).__name__)

    def _send_code(self, to: str, code: str, account_id: UUID) -> None:
        self.mailer.send(
            account_id=account_id,
            to=to,
            subject="Confirm your PeerLedger claim",
            body=f"Your claim confirmation code is {code}.\n\nEnter it on PeerLedger to confirm that this "
            "address is yours. If you did not claim a researcher record, ignore this message.\n",
        )

    def _make_owner(
        self, record: Record, claim: Claim, level: str, reason: str, actor: str, expires_at: datetime | None
    ) -> None:
        record.set_owner(claim.account_id, claim.id)
        record.note_claim_closed(claim.id, claim.account_id, "approved", claim.fingerprint)
        verified = [
            {"kind": e["kind"], "strength": e["strength"], "evidence_id": e["id"], "claim_id": str(claim.id),
             **({"identity": identity} if (identity := _identity(e)) else {})}
            for e in claim.evidence
            if e["status"] == "verified"
        ]
        # Always an event: even at the same level, the evidence behind it is now another claim's.
        record.change_level(record.level, level, reason, verified, actor, expires_at)

    @staticmethod
    def _change_level(
        record: Record, level: str, reason: str, evidence: list[dict[str, Any]], actor: str, expires_at: datetime | None
    ) -> None:
        if record.level != level or record.level_expires_at != expires_at:
            record.change_level(record.level, level, reason, evidence, actor, expires_at)

    def _save_decision(self, claim: Claim, record: Record) -> None:
        """Claim and record change together; a concurrent decision on the record conflicts."""
        try:
            self.save(claim, record)
        except IntegrityError:
            raise ClaimConflictError(
                "the record changed at the same moment (another claim was decided); this claim was not approved",
                code=ErrorCode.CHANGED_CONCURRENTLY,
            ) from None

    def _decidable(self, claim_id: UUID, moderator_id: UUID) -> tuple[Claim, Record]:
        """The claim and its record, if this moderator may decide it: never their own claim, nor
        any claim, dispute or appeal about a record they own or have claimed (a side in it)."""
        claim = self._claim(claim_id)
        record = self._record_of(claim)
        if claim.account_id == moderator_id:
            raise ForbiddenError("a moderator cannot decide their own claim", code=ErrorCode.MODERATOR_INVOLVED)
        if claim.disputes_owner == moderator_id:
            raise ForbiddenError("a moderator cannot decide a dispute about their own record", code=ErrorCode.MODERATOR_INVOLVED)
        if record.conflicts_with(moderator_id):
            raise ForbiddenError("a moderator cannot decide claims about a record they own or have claimed", code=ErrorCode.MODERATOR_INVOLVED)
        if str(moderator_id) in claim.excluded_moderators:
            raise ForbiddenError("an appeal goes to a different moderator than the first decision", code=ErrorCode.MODERATOR_INVOLVED)
        if claim.status not in ("pending", "info_requested", "disputing", "awaiting_verification"):
            raise ClaimConflictError(f"the claim is {claim.status}; it cannot be decided", code=ErrorCode.CLAIM_NOT_OPEN, claim_status=claim.status)
        return claim, record

    def _decided_with_a_side(self, record: Record, account_id: UUID) -> bool:
        """The account's last rejection here was decided by a moderator with a side in the record
        (recorded before moderators were kept out): it does not hold the same evidence back."""
        rejected = record.rejected_claims.get(str(account_id))
        if rejected is None:
            return False
        decided_by = self._claim(UUID(rejected)).decided_by
        return decided_by not in (None, "system") and record.conflicts_with(UUID(decided_by))

    def _mailbox(self, email_key: str) -> Mailbox | None:
        try:
            return self.repository.get(mailbox_id_for(email_key))
        except AggregateNotFoundError:
            return None

    def _load_record(self, facts: RecordFacts) -> Record:
        try:
            return self.repository.get(record_id_for(facts.researcher_id))
        except AggregateNotFoundError:
            return Record(researcher_id=facts.researcher_id, level=facts.base_level)

    def _record_of(self, claim: Claim) -> Record:
        return self.repository.get(record_id_for(claim.researcher_id))

    def _claim(self, claim_id: UUID) -> Claim:
        try:
            claim = self.repository.get(claim_id)
        except AggregateNotFoundError:
            raise ClaimNotFoundError from None
        if not isinstance(claim, Claim):
            raise ClaimNotFoundError
        return claim

    def _party_claim(self, claim_id: UUID, account_id: UUID) -> Claim:
        """The claimant's claim, or a dispute against this owner's record."""
        claim = self._claim(claim_id)
        if account_id == claim.account_id or (claim.status == "disputing" and account_id == claim.disputes_owner):
            return claim
        raise ClaimNotFoundError

    def _own_claim(self, claim_id: UUID, account_id: UUID) -> Claim:
        claim = self._claim(claim_id)
        if claim.account_id != account_id:
            raise ClaimNotFoundError  # another person's claim does not exist for them
        return claim

    def _open_evidence(self, account_id: UUID, entry: dict[str, Any]) -> dict[str, Any]:
        shown = {k: v for k, v in entry.items() if not k.startswith("sealed_")}
        if "sealed_email" in entry:
            shown["email"] = self.vault.open(account_id, entry["sealed_email"])
        if "sealed_text" in entry:
            shown["text"] = self.vault.open(account_id, entry["sealed_text"])
        return shown


