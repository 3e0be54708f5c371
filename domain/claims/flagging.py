"""Flags on unclaimed records: raised by anyone signed in, decided by moderators. Part of the
Claims application (the same log and rules: `Claims` takes these use cases in), kept apart from
its other use cases.

Upholding a flag is "not mine" said by the moderator (`Claims.change_attribution` with the
moderator's role), saved in one transaction with the flag's decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from domain.claims.flag import Flag, flag_id_for
from domain.claims.ports import RecordFacts
from domain.errors import (
    ClaimConflictError,
    ErrorCode,
    FlagNotFoundError,
    ForbiddenError,
    InvalidInputError,
    WorkNotFoundError,
)
from domain.text import check_free_text

if TYPE_CHECKING:
    from domain.claims.application import Claims

MAX_FLAG_REASON = 2_000
MAX_FLAGS_ONE_WORK = 1_000  # rounds looked through: far past what the rate limits let anyone raise


@dataclass(frozen=True)
class FlagView:
    """A flag as its author and moderators see it (reasons opened; None once their writer is erased)."""

    id: UUID
    researcher_id: UUID
    work_id: UUID
    account_id: UUID
    status: str  # open, upheld, dismissed
    reason: str | None
    decision_reason: str | None
    opened_at: datetime
    decided_at: datetime | None
    position: int | None = None  # the last event saved by the command that answered with it


def flag_reason(field: str, reason: str) -> str:
    reason = check_free_text(field, reason).strip()
    if not reason:
        raise InvalidInputError(f"a {field} is needed", field=field)
    if len(reason) > MAX_FLAG_REASON:
        raise InvalidInputError(f"a {field} has at most {MAX_FLAG_REASON} characters", field=field)
    return reason


class Flagging:
    """Use cases of flags, for Claims."""

    def raise_flag(self: Claims, facts: RecordFacts, work_id: UUID, account_id: UUID, reason: str, *,
                   asked_as: str | None = None) -> FlagView:
        """Anyone signed in tells the moderators a work OpenAlex lists on an unclaimed record is not
        the person's. Refused when the record has an owner (they decide), when the work does not
        list the record (or a "not mine" took it out already), and while this account has an open
        flag on the same record and work."""
        reason = flag_reason("reason", reason)
        authors = self.records.work_authors(work_id)
        if authors is None:
            raise WorkNotFoundError(asked_as or str(work_id))
        record = self.get_record(facts.researcher_id)
        if record is not None:
            owned = record.owner is not None
            if record.person is not None:  # a member of a person: the person's owner decides
                person = self.get_record(record.person)
                owned = owned or (person is not None and person.owner is not None)
            if owned:
                raise ClaimConflictError("this record has an owner, who decides which works are theirs: a flag is"
                                         " for a record nobody has claimed", code=ErrorCode.RECORD_CLAIMED)
            if str(work_id) in record.disowned:
                raise ClaimConflictError("this work is already marked as not this record's",
                                         code=ErrorCode.NOT_AN_AUTHOR)
        if facts.researcher_id not in authors:
            raise ClaimConflictError("the work does not list this record among its authors: there is nothing to"
                                     " flag", code=ErrorCode.NOT_AN_AUTHOR)
        sealed = self.vault.seal(account_id, reason)
        nth = 0
        for _ in range(MAX_FLAGS_ONE_WORK):
            earlier = self._flag_or_none(flag_id_for(account_id, facts.researcher_id, work_id, nth))
            if earlier is not None:
                if earlier.status == "open":
                    raise ClaimConflictError("you have an open flag on this work of this record already: the"
                                             " moderators will decide it", code=ErrorCode.ALREADY_FLAGGED)
                nth += 1
                continue
            flag = Flag(researcher_id=facts.researcher_id, work_id=work_id, account_id=account_id, nth=nth,
                        sealed_reason=sealed)
            try:
                recordings = self.save(flag)
            except IntegrityError:
                continue  # raised at the same moment by the same account: look at it again
            return self.flag_view(flag, recordings[-1].notification.id)
        raise ClaimConflictError("too many flags on this work of this record", code=ErrorCode.ALREADY_FLAGGED)

    def decide_flag(self: Claims, flag_id: UUID, moderator_id: UUID, facts: RecordFacts, *, uphold: bool,
                    reason: str) -> FlagView:
        """A moderator without a side in the record upholds a flag (the work is "not mine", decided
        by the moderator with their reason) or dismisses it (nothing changes)."""
        reason = flag_reason("reason", reason)
        flag = self.flag_for_moderator(flag_id, moderator_id, deciding=True)
        if flag.status != "open":
            raise ClaimConflictError(f"the flag is {flag.status} already", code=ErrorCode.FLAG_NOT_OPEN)
        flag.decide("upheld" if uphold else "dismissed", moderator_id, self.vault.seal(moderator_id, reason))
        record = self.get_record(flag.researcher_id)
        try:
            if uphold and (record is None or str(flag.work_id) not in record.disowned):
                done = self.change_attribution(facts, flag.work_id, moderator_id, is_moderator=True, not_mine=True,
                                               reason=reason, together=(flag,))
                if done.position is not None:
                    return self.flag_view(flag, done.position)
            recordings = self.save(flag)  # dismissed, or the work was disowned meanwhile: the decision stands
        except IntegrityError:
            raise ClaimConflictError("the flag or its record changed at the same moment; look at it again",
                                     code=ErrorCode.CHANGED_CONCURRENTLY) from None
        return self.flag_view(flag, recordings[-1].notification.id)

    def flag_for_moderator(self: Claims, flag_id: UUID, moderator_id: UUID, *, deciding: bool = False) -> Flag:
        """A flag a moderator may read: not their own to decide (403 when deciding), nor one on a
        record they own or have claimed (404 to read, 403 to decide)."""
        flag = self._flag(flag_id)
        record = self.get_record(flag.researcher_id)
        involved = self.has_a_side(record, moderator_id)
        if deciding and (flag.account_id == moderator_id or involved):
            raise ForbiddenError("a moderator cannot decide a flag they raised or one on a record they own or have"
                                 " claimed", code=ErrorCode.MODERATOR_INVOLVED)
        if involved:
            raise FlagNotFoundError
        return flag

    def flag_seen_by(self: Claims, flag_id: UUID, viewer_id: UUID, *, is_moderator: bool) -> FlagView:
        """Its author and moderators without a side in the record read a flag; to anyone else it does not exist."""
        flag = self._flag(flag_id)
        if flag.account_id != viewer_id:
            if not is_moderator:
                raise FlagNotFoundError
            flag = self.flag_for_moderator(flag_id, viewer_id)
        return self.flag_view(flag)

    def flag_view(self: Claims, flag: Flag, position: int | None = None) -> FlagView:
        decision = None
        if flag.sealed_decision is not None and flag.moderator_id is not None:
            decision = self.vault.open(flag.moderator_id, flag.sealed_decision)
        return FlagView(flag.id, flag.researcher_id, flag.work_id, flag.account_id, flag.status,
                        self.vault.open(flag.account_id, flag.sealed_reason), decision, flag.created_on,
                        flag.modified_on if flag.status != "open" else None, position)

    def flag_researcher(self: Claims, flag_id: UUID) -> UUID:
        return self._flag(flag_id).researcher_id

    def _flag(self: Claims, flag_id: UUID) -> Flag:
        flag = self._flag_or_none(flag_id)
        if flag is None:
            raise FlagNotFoundError
        return flag

    def _flag_or_none(self: Claims, flag_id: UUID) -> Flag | None:
        try:
            found: Any = self.repository.get(flag_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, Flag) else None
