"""Follows: applies many follow and unfollow commands in one transaction (group commit).

One save per request holds the table lock across round trips; a writer that gathers the
commands arriving together and saves them at once is what makes thousands per second possible.
Commands are applied in arrival order, so a follow and an unfollow of one pair in one batch
end as the later one says. Idempotent: following twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.batching import ReadsManyAggregates
from domain.errors import ConflictError, ErrorCode, DomainError, ForbiddenError, InvalidInputError, ResearcherNotFoundError
from domain.follows.model import Follow, follow_id
from domain.follows.ports import NoRecords, RecordDirectory


@dataclass(frozen=True)
class FollowCommand:
    account_id: UUID
    researcher_id: UUID
    follow: bool  # False: unfollow
    confirmed: bool = False  # the follower confirmed their address: only such people follow


@dataclass(frozen=True)
class FollowOutcome:
    changed: bool  # a follow that was new, or an unfollow that ended a follow
    position: int | None  # notification id of the event written (None when nothing changed)
    error: DomainError | None = None


def follow_refusal(account_id: UUID, *, confirmed: bool, owner: UUID | None) -> DomainError | None:
    """Why this account may not follow a record now, or None."""
    if not confirmed:
        return ForbiddenError("confirm your email address first (POST /accounts/confirm), then follow",
                              code=ErrorCode.EMAIL_UNCONFIRMED)
    if owner == account_id:
        return InvalidInputError("you cannot follow a record you own", code=ErrorCode.FOLLOW_OWN_RECORD)
    return None


class Follows(ReadsManyAggregates):
    name = "Follows"
    save_retries = 5

    def __init__(self, env: Any = None, *, records: RecordDirectory | None = None) -> None:
        super().__init__(env)
        self.records: RecordDirectory = records or NoRecords()  # which records exist, and their owners

    def apply_commands(self, commands: Sequence[FollowCommand]) -> list[FollowOutcome]:
        """apply_all, with the records' existence and owners read through the RecordDirectory port
        (one lookup for the whole batch)."""
        known, owners = self.records.existing_and_owners(sorted({c.researcher_id for c in commands}))
        return self.apply_all(commands, known=known, owners=owners)

    def apply_all(
        self,
        commands: Sequence[FollowCommand],
        *,
        known: set[UUID],
        owners: dict[UUID, UUID],
    ) -> list[FollowOutcome]:
        """`known`: researcher records that exist; `owners`: record -> its owner's account.
        Refused commands get their error; the rest are saved together."""
        for _ in range(self.save_retries):
            follows = self.get_many({follow_id(c.account_id, c.researcher_id) for c in commands})
            outcomes: list[FollowOutcome | None] = []
            changed: dict[UUID, Follow] = {}
            for c in commands:
                if c.researcher_id not in known:
                    outcomes.append(FollowOutcome(False, None, ResearcherNotFoundError(str(c.researcher_id))))
                    continue
                refused = c.follow and follow_refusal(c.account_id, confirmed=c.confirmed,
                                                       owner=owners.get(c.researcher_id))
                if refused:
                    outcomes.append(FollowOutcome(False, None, refused))
                    continue
                fid = follow_id(c.account_id, c.researcher_id)
                follow = follows.get(fid)
                if follow is None:
                    if not c.follow:
                        outcomes.append(FollowOutcome(False, None))
                        continue
                    follow = follows[fid] = Follow(account_id=c.account_id, researcher_id=c.researcher_id,
                                                   confirmed=True)
                    did = True
                else:
                    did = follow.follow(confirmed=True) if c.follow else follow.unfollow()
                if did:
                    changed[fid] = follow
                outcomes.append(FollowOutcome(did, None) if did else FollowOutcome(False, None))
            if not changed:
                return [o for o in outcomes if o is not None]
            try:
                recordings = self.save(*changed.values())
            except IntegrityError:
                continue  # another process changed one of these follows: read them again
            position = recordings[-1].notification.id
            return [FollowOutcome(o.changed, position if o.changed else None, o.error) for o in outcomes]
        raise ConflictError("these follows are changing too fast; try again", code=ErrorCode.CHANGED_CONCURRENTLY)

    def end_owners_follows(self, owned: Sequence[tuple[UUID, UUID]]) -> int:
        """(account, record) pairs where the account now owns the record it followed: each follow
        ends with an Unfollowed event, since an owner is never its own follower. Idempotent."""
        commands = [FollowCommand(account_id, record_id, False) for account_id, record_id in owned]
        outcomes = self.apply_all(commands, known={record_id for _, record_id in owned}, owners={})
        return sum(1 for outcome in outcomes if outcome.changed)
