"""Counts a profile shows that come straight from domain events, declared on the event itself.

A domain event class that also derives from `CountedOnProfile` adds `delta` to the count named
`count` on the profile of the researcher its `subject` attribute names, and is an entry of kind
`history` in that researcher's history. Nothing else is written for it: the profiles projection
keeps each such event as a row (who, which count, by how much, when), so the profile shows the
sum, time travel the sum up to a moment, and a replay rebuilds both; the history projection
makes the entry. A new count is then an event, the command that records it, and its route.

    class Endorsed(Aggregate.Event, CountedOnProfile):
        count, subject, history = "endorsements", "coauthor", "endorsement.added"
        coauthor: UUID
        account_id: UUID

Counts of a person (records linked into one) add up over its records. The event's `account_id`,
if it has one, is the actor: personal in the history, as every actor is.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CountedOnProfile:
    count: ClassVar[str]  # the count's name on the profile ("endorsements")
    delta: ClassVar[int] = 1  # what the event adds (-1 for the event that takes one back)
    subject: ClassVar[str]  # the event's attribute holding the researcher id counted on
    history: ClassVar[str]  # the kind of the entry in that researcher's history
    role: ClassVar[str] = "owner"  # the role of whoever caused it, as the history shows it

    def counted_on(self: Any) -> str:
        return str(getattr(self, self.subject))
