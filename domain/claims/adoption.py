"""Adopting a work: the owner of a claimed record says a work OpenAlex attributes to another record
is theirs. An authorship carrying an ORCID iD the owner proved moves at once; otherwise the
request (statements) waits for a moderator without a side in either record.

The decision is recorded on both records in one save (the adopter and the record the work is
taken from): an authorship is adopted by at most one record, and of two concurrent requests for
it one save conflicts. The profiles then show the work under the adopter instead of the other
record, whatever later imports say, until the adoption is undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.claims.model import AdoptionRequest, Record
from domain.claims.ports import RecordFacts
from domain.errors import (
    AdoptionRequestNotFoundError,
    ClaimConflictError,
    ErrorCode,
    ForbiddenError,
    InvalidInputError,
    WorkNotFoundError,
)
from domain.text import check_free_text

MAX_ADOPTION_REASON = 2_000


@dataclass(frozen=True)
class Adoption:
    """A record's adoption of one work as its owner and moderators see it, or what asking did."""

    researcher_id: UUID  # the adopter
    work_id: UUID
    from_record: UUID | None  # None: the work follows OpenAlex
    status: str | None  # adopted, pending (a request waits for the moderators), or None
    decided_by: str | None  # owner (ORCID-proven) or moderator
    evidence_kind: str | None  # orcid_proven or moderator_review
    request_id: UUID | None
    position: int | None  # the last event's position (None when nothing changed)


@dataclass(frozen=True)
class AdoptionRequestView:
    """An adoption request as its owner and moderators see it (statements opened)."""

    id: UUID
    adopter: UUID
    work_id: UUID
    from_record: UUID
    account_id: UUID
    status: str  # pending, approved, rejected
    evidence: list[dict[str, Any]]
    reason: str | None  # the moderator's, once decided (None once their account is erased)
    opened_at: datetime
    position: int | None = None


class Adoptions:
    """The adoption use cases of `Claims` (mixed into it: domain/claims/application.py)."""

    # Provided by Claims:
    vault: Any
    records: Any
    repository: Any

    def adopt(self, adopter_facts: RecordFacts, work_id: UUID, account_id: UUID, evidence: list[Any],
              from_record: RecordFacts | None = None, *, asked_as: str | None = None) -> Adoption:
        """The owner of a record verified at L2 or above asks to adopt a work listed under another
        record (`from_record`; when None, the one record whose authorship carries an ORCID iD the
        owner proved). `evidence` as for links: `orcid` moves it at once when that authorship
        carries an iD the owner proved; statements make a request for the moderators."""
        for _ in range(5):
            adopter = self._load_record(adopter_facts)  # type: ignore[attr-defined]
            self._check_adopter(adopter, account_id)
            self._refuse_owner_during_dispute(adopter, "owner", "adopt works")  # type: ignore[attr-defined]
            listing = self.records.work_orcids(work_id)
            if listing is None:
                raise WorkNotFoundError(asked_as or str(work_id))
            if str(work_id) in adopter.adoptions:
                return self.adoption(adopter, work_id)  # adopted already: nothing changes
            source_facts = from_record or self._derived_source(adopter, listing)
            source = self._load_record(source_facts)  # type: ignore[attr-defined]
            self._check_adoptable(adopter, source, work_id, listing, None)
            entries, conclusive = self._adoption_evidence(account_id, source_facts, evidence)
            if conclusive:
                proven = listing[source.researcher_id]
                if not (proven and f"orcid:{proven}" in adopter.owner_identities):
                    raise InvalidInputError("the work's authorship under that record carries no ORCID iD you proved"
                                            " when you claimed your record: give a statement for the moderators"
                                            " instead", code=ErrorCode.INVALID_EVIDENCE)
                for record in (adopter, source):
                    record.adopt_work(work_id, adopter.researcher_id, source.researcher_id, account_id, "owner",
                                      "orcid_proven", None, None)
                try:
                    recordings = self.save(adopter, source)  # type: ignore[attr-defined]
                except IntegrityError:
                    continue
                return self.adoption(adopter, work_id, recordings[-1].notification.id)
            request = AdoptionRequest(adopter=adopter.researcher_id, work_id=work_id,
                                      from_record=source.researcher_id, account_id=account_id, evidence=entries)
            for record in (adopter, source):
                record.request_adoption(request.id, work_id, adopter.researcher_id, source.researcher_id, account_id)
            try:
                recordings = self.save(request, adopter, source)  # type: ignore[attr-defined]
            except IntegrityError:
                continue
            return Adoption(adopter.researcher_id, work_id, source.researcher_id, "pending", None, None, request.id,
                            recordings[-1].notification.id)
        raise ClaimConflictError("the records are changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    @staticmethod
    def _check_adopter(adopter: Record, account_id: UUID) -> None:
        if adopter.owner != account_id:
            raise ForbiddenError("only the record's owner can adopt works into it", code=ErrorCode.NOT_OWNER)
        if adopter.level not in ("L2", "L3"):
            raise ForbiddenError(f"your record is at {adopter.level}: adoptions come from owners verified at L2 or"
                                 " above", code=ErrorCode.OWNER_NOT_VERIFIED)
        if adopter.person is not None:
            raise ClaimConflictError(f"your record is linked into the person of record {adopter.person}: adopt"
                                     " from that record", code=ErrorCode.ALREADY_LINKED)

    def _derived_source(self, adopter: Record, listing: dict[UUID, str | None]) -> RecordFacts:
        """The record to adopt from when none is named: the only one listed with an iD the owner proved."""
        found = [r for r, orcid in listing.items()
                 if r != adopter.researcher_id and orcid and f"orcid:{orcid}" in adopter.owner_identities]
        if len(found) != 1:
            raise InvalidInputError("say which record the work is listed under (`from_record`): "
                                    + ("no authorship of it carries an ORCID iD you proved" if not found else
                                       "several of its authorships carry an ORCID iD you proved"),
                                    field="from_record")
        return self.facts_of(found[0])  # type: ignore[attr-defined]

    def _check_adoptable(self, adopter: Record, source: Record, work_id: UUID, listing: dict[UUID, str | None],
                         request_id: UUID | None) -> None:
        """Why the work cannot move from `source` to `adopter` now, raised; nothing if it can.
        `request_id`: the request being decided (it does not count as another one waiting)."""
        wid = str(work_id)
        if source.researcher_id == adopter.researcher_id:
            raise InvalidInputError("a work cannot be adopted from the adopting record itself", field="from_record")
        if adopter.researcher_id in listing or any(UUID(m) in listing for m in adopter.members):
            raise ClaimConflictError("the work lists your record already: it is on your profile",
                                     code=ErrorCode.ALREADY_AN_AUTHOR)
        if source.researcher_id not in listing:
            raise ClaimConflictError("the work does not list that record among its authors: there is nothing to"
                                     " adopt from it", code=ErrorCode.NOT_AN_AUTHOR)
        if source.owner is not None or source.person is not None or source.members:
            raise ClaimConflictError("that record is someone's (owned, or part of a person): its owner says"
                                     " \"not mine\" instead", code=ErrorCode.RECORD_HAS_OWNER)
        if wid in source.adopted_away:
            raise ClaimConflictError(f"record {source.adopted_away[wid]} adopted this work from that record already",
                                     code=ErrorCode.ALREADY_ADOPTED)
        waiting = {adopter.pending_adoptions.get(wid), source.pending_adoptions.get(wid)} - {None}
        if waiting - {None if request_id is None else str(request_id)}:
            raise ClaimConflictError("a request to adopt this work is waiting for the moderators already",
                                     code=ErrorCode.ADOPTION_PENDING)

    def _adoption_evidence(self, account_id: UUID, source: RecordFacts,
                           evidence: list[Any]) -> tuple[list[dict[str, Any]], bool]:
        """Statements as stored (sealed with the owner's key), and whether an ORCID iD is given
        (checked against the authorship by the caller)."""
        if not evidence:
            raise InvalidInputError("an adoption needs at least one piece of evidence", code=ErrorCode.INVALID_EVIDENCE)
        if any(item.kind == "institutional_email" for item in evidence):
            raise InvalidInputError("an adoption rests on an ORCID iD you proved or on statements; an address proves"
                                    " affiliation, not authorship", code=ErrorCode.INVALID_EVIDENCE)
        statements = [item for item in evidence if item.kind != "orcid"]
        entries, _, _ = self._evidence_entries(account_id, source, statements)  # type: ignore[attr-defined]
        return entries, len(statements) < len(evidence)

    def decide_adoption(self, request_id: UUID, moderator_id: UUID, *, approve: bool,
                        reason: str) -> AdoptionRequestView:
        """A moderator without a side in either record approves or rejects; an approval checks
        the rules again (the records and the work may have changed since the request)."""
        reason = check_free_text("reason", reason).strip()
        if not reason:
            raise InvalidInputError("a decision needs a reason", field="reason")
        if len(reason) > MAX_ADOPTION_REASON:
            raise InvalidInputError(f"a reason has at most {MAX_ADOPTION_REASON} characters", field="reason")
        request = self._adoption_request(request_id)
        adopter, source = self.get_record(request.adopter), self.get_record(request.from_record)  # type: ignore[attr-defined]
        assert adopter is not None and source is not None  # a request is saved with both records' events
        if moderator_id == request.account_id or self.has_a_side(adopter, moderator_id) \
                or self.has_a_side(source, moderator_id):  # type: ignore[attr-defined]
            raise ForbiddenError("a moderator cannot decide an adoption for or from a record they own or have"
                                 " claimed", code=ErrorCode.MODERATOR_INVOLVED)
        if request.status != "pending":
            raise ClaimConflictError(f"the adoption request is {request.status} already",
                                     code=ErrorCode.ADOPTION_NOT_OPEN)
        sealed = self.vault.seal(moderator_id, reason)
        outcome = "approved" if approve else "rejected"
        if approve:
            if adopter.owner != request.account_id:
                raise ClaimConflictError("the adopting record has another owner since the request: it no longer"
                                         " stands; reject it", code=ErrorCode.OWNER_CHANGED)
            listing = self.records.work_orcids(request.work_id)
            if listing is None:
                raise WorkNotFoundError(str(request.work_id))
            self._check_adoptable(adopter, source, request.work_id, listing, request.id)
        for record in (adopter, source):
            record.close_adoption_request(request.id, request.work_id, request.adopter, request.from_record, outcome,
                                          moderator_id, sealed)
            if approve:
                record.adopt_work(request.work_id, request.adopter, request.from_record, moderator_id, "moderator",
                                  "moderator_review", request.id, sealed)
        request.decide(outcome, moderator_id, sealed)
        try:
            recordings = self.save(request, adopter, source)  # type: ignore[attr-defined]
        except IntegrityError:
            raise ClaimConflictError("the records changed at the same moment; look at the request again",
                                     code=ErrorCode.CHANGED_CONCURRENTLY) from None
        return self.adoption_request(request.id, recordings[-1].notification.id)

    def undo_adoption(self, adopter_facts: RecordFacts, work_id: UUID, account_id: UUID, *,
                      is_moderator: bool) -> Adoption:
        """The adopter's owner, or a moderator without a side in it, gives the work back to
        OpenAlex's attribution. Undoing what is not adopted changes nothing."""
        adopter = self._load_record(adopter_facts)  # type: ignore[attr-defined]
        role = self._attribution_role(adopter, account_id, is_moderator)  # type: ignore[attr-defined]
        self._refuse_owner_during_dispute(adopter, role, "undo an adoption")  # type: ignore[attr-defined]
        decision = adopter.adoptions.get(str(work_id))
        if decision is None:
            return self.adoption(adopter, work_id)
        source = self.get_record(UUID(decision["from_record"]))  # type: ignore[attr-defined]
        assert source is not None  # adopted in the same save
        if role == "moderator" and self.has_a_side(source, account_id):  # type: ignore[attr-defined]
            raise ForbiddenError("a moderator cannot undo an adoption from a record they own or have claimed",
                                 code=ErrorCode.MODERATOR_INVOLVED)
        for record in (adopter, source):
            record.undo_adoption(work_id, adopter.researcher_id, source.researcher_id, account_id, role)
        try:
            recordings = self.save(adopter, source)  # type: ignore[attr-defined]
        except IntegrityError:
            raise ClaimConflictError("the records changed at the same moment; try again",
                                     code=ErrorCode.CHANGED_CONCURRENTLY) from None
        return self.adoption(adopter, work_id, recordings[-1].notification.id)

    @staticmethod
    def adoption(record: Record, work_id: UUID, position: int | None = None) -> Adoption:
        decision = record.adoptions.get(str(work_id))
        if decision is None:
            pending = record.pending_adoptions.get(str(work_id))
            return Adoption(record.researcher_id, work_id, None, None, None, None,
                            None if pending is None else UUID(pending), position)
        return Adoption(record.researcher_id, work_id, UUID(decision["from_record"]), "adopted", decision["role"],
                        decision["evidence_kind"],
                        None if decision["request_id"] is None else UUID(decision["request_id"]), position)

    def adoption_request(self, request_id: UUID, position: int | None = None) -> AdoptionRequestView:
        request = self._adoption_request(request_id)
        evidence = [self._open_evidence(request.account_id, e) for e in request.evidence]  # type: ignore[attr-defined]
        reason = None if request.sealed_reason is None or request.moderator_id is None \
            else self.vault.open(request.moderator_id, request.sealed_reason)
        return AdoptionRequestView(request.id, request.adopter, request.work_id, request.from_record,
                                   request.account_id, request.status, evidence, reason, request.created_on, position)

    def adoption_request_for(self, request_id: UUID, moderator_id: UUID) -> AdoptionRequestView:
        """A request as a moderator may read it: not one about a record they have a side in (404)."""
        request = self.adoption_request(request_id)
        for researcher in (request.adopter, request.from_record):
            record = self.get_record(researcher)  # type: ignore[attr-defined]
            if moderator_id == request.account_id or self.has_a_side(record, moderator_id):  # type: ignore[attr-defined]
                raise AdoptionRequestNotFoundError
        return request

    def _adoption_request(self, request_id: UUID) -> AdoptionRequest:
        try:
            request = self.repository.get(request_id)
        except AggregateNotFoundError:
            raise AdoptionRequestNotFoundError from None
        if not isinstance(request, AdoptionRequest):
            raise AdoptionRequestNotFoundError
        return request
