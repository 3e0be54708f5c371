"""FollowersProjection: follows, erasures and claims decisions -> relations and exact counts.

Follows its three applications with one runner each. Within a batch only the last state of
each (record, account) pair matters; the view compares it with what is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.accounts.model import Account
from domain.claims.model import Record, record_id_for
from domain.follows.application import Follows
from domain.follows.model import Follow
from projections.bulk import RawLog
from projections.followers.view import FollowerChanges, FollowersView


class FollowersProjection(Projection[FollowersView]):
    name = "followers"
    topics = ()

    def apply_log(self, log: RawLog) -> int:
        """A from-scratch build's set-wise pass over a whole log (projections/bulk.py): the follows
        log, most of every store's events; the others go event by event."""
        return self.view.apply_follows_log(log) if log.application == Follows.name else 0

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        changes = FollowerChanges()
        records = [str(e.originator_id) for e in events if isinstance(e, Record.Event)]
        owned = self.view.load_owned(records) if records else {}
        for e in events:
            if isinstance(e, Follow.Started | Follow.Followed):
                pair = (str(e.researcher_id), str(e.account_id))
                if isinstance(e, Follow.Followed):
                    changes.restarted.add(pair)
                changes.pairs[pair] = (True, e.timestamp.isoformat())
                (changes.confirmed_pairs.add if e.confirmed else changes.confirmed_pairs.discard)(pair)
            elif isinstance(e, Follow.Unfollowed):
                changes.pairs[(str(e.researcher_id), str(e.account_id))] = (False, e.timestamp.isoformat())
            elif isinstance(e, Account.EmailConfirmed):
                changes.confirmed.add(str(e.originator_id))
            elif isinstance(e, Account.Erased):
                account = str(e.originator_id)
                changes.erased.add(account)
                # A follow of the erased account earlier in this batch goes too.
                for pair in [p for p in changes.pairs if p[1] == account]:
                    changes.pairs[pair] = (False, changes.pairs[pair][1])
            elif isinstance(e, Record.Linked | Record.Unlinked):
                if e.originator_id == record_id_for(e.member):  # both records carry it: count it once
                    changes.links.append((str(e.person), str(e.member), isinstance(e, Record.Linked)))
            elif isinstance(e, Record.Event):
                row = owned.setdefault(str(e.originator_id), {"owner_id": None, "level": None})
                if isinstance(e, Record.Started):
                    row["level"] = e.level
                elif isinstance(e, Record.OwnerSet):
                    row["owner_id"] = str(e.account_id)
                elif isinstance(e, Record.OwnerRemoved):
                    row["owner_id"] = None
                    changes.owner_touched.add(str(e.account_id))
                elif isinstance(e, Record.VerificationChanged):
                    row["level"] = e.new_level
                changes.owned[str(e.originator_id)] = row
        self.view.apply_batch(changes, tracking)
