"""Follow: one account following one researcher record, at most once (uuid5 over the pair)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.catalogue.model import PEERLEDGER_NAMESPACE


def follow_id(account_id: UUID, researcher_id: UUID) -> UUID:
    return uuid5(PEERLEDGER_NAMESPACE, f"follow:{account_id}:{researcher_id}")


def _not_recorded(state: dict[str, Any]) -> None:
    """Follows recorded before `confirmed` existed: count once the account is known to have confirmed."""
    state["confirmed"] = False


class Follow(Aggregate):
    """Events carry the follower and the researcher, so projections need no lookups, and whether
    the follower had confirmed their address (only such followers count)."""

    class Started(Aggregate.Created):
        class_version = 2
        account_id: UUID
        researcher_id: UUID
        confirmed: bool
        upcast_v1_v2 = staticmethod(_not_recorded)

    class Followed(Aggregate.Event):
        class_version = 2
        account_id: UUID
        researcher_id: UUID
        confirmed: bool
        upcast_v1_v2 = staticmethod(_not_recorded)

    class Unfollowed(Aggregate.Event):
        account_id: UUID
        researcher_id: UUID

    @event(Started)
    def __init__(self, account_id: UUID, researcher_id: UUID, confirmed: bool) -> None:
        self.account_id = account_id
        self.researcher_id = researcher_id
        self.active = True

    @classmethod
    def create_id(cls, account_id: UUID, researcher_id: UUID, **_: Any) -> UUID:
        return follow_id(account_id, researcher_id)

    def follow(self, confirmed: bool) -> bool:
        if self.active:
            return False
        self._follow(self.account_id, self.researcher_id, confirmed)
        return True

    @event(Followed)
    def _follow(self, account_id: UUID, researcher_id: UUID, confirmed: bool) -> None:
        self.active = True

    def unfollow(self) -> bool:
        if not self.active:
            return False
        self._unfollow(self.account_id, self.researcher_id)
        return True

    @event(Unfollowed)
    def _unfollow(self, account_id: UUID, researcher_id: UUID) -> None:
        self.active = False
