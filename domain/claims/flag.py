"""Flag: someone signed in tells the moderators that OpenAlex lists an unclaimed record on a work
that is not the person's. Only a moderator changes the attribution (upholding the flag applies
"not mine" as a moderator); the flag itself changes nothing on the record.

A flag's id is made of who raised it, the record, the work and how many such flags came before
(`nth`), so the store's uniqueness makes "one open flag per account, record and work" hold
whatever the timing: of two flags raised at the same moment, one save conflicts.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.catalogue.model import PEERLEDGER_NAMESPACE


def flag_id_for(account_id: UUID, researcher_id: UUID, work_id: UUID, nth: int) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"claims:flag:{account_id}:{researcher_id}:{work_id}:{nth}")


class Flag(Aggregate):
    """A suspected misattribution, open until a moderator upholds or dismisses it. The flagger's
    reason is sealed with their key and the moderator's with theirs: erasing either account
    erases their words, the decision stays."""

    class Raised(Aggregate.Created):
        researcher_id: UUID
        work_id: UUID
        account_id: UUID  # who raised it
        nth: int  # how many flags this account raised on this record and work before
        sealed_reason: str

    class Decided(Aggregate.Event):
        researcher_id: UUID  # the flag's, repeated for readers of the log (history)
        work_id: UUID
        account_id: UUID  # who raised it
        outcome: str  # upheld or dismissed
        moderator_id: UUID
        sealed_reason: str  # the moderator's

    @classmethod
    def create_id(cls, researcher_id: UUID, work_id: UUID, account_id: UUID, nth: int, **_: object) -> UUID:
        return flag_id_for(account_id, researcher_id, work_id, nth)

    @event(Raised)
    def __init__(self, researcher_id: UUID, work_id: UUID, account_id: UUID, nth: int,
                 sealed_reason: str) -> None:
        self.researcher_id = researcher_id
        self.work_id = work_id
        self.account_id = account_id
        self.nth = nth
        self.sealed_reason = sealed_reason
        self.status = "open"
        self.moderator_id: UUID | None = None
        self.sealed_decision: str | None = None

    def decide(self, outcome: str, moderator_id: UUID, sealed_reason: str) -> None:
        self._decide(self.researcher_id, self.work_id, self.account_id, outcome, moderator_id, sealed_reason)

    @event(Decided)
    def _decide(self, researcher_id: UUID, work_id: UUID, account_id: UUID, outcome: str, moderator_id: UUID,
                sealed_reason: str) -> None:
        self.status = outcome
        self.moderator_id = moderator_id
        self.sealed_decision = sealed_reason
