"""ModerationProjection: claims events -> the queue's rows.

A claim's status follows from its whole history (evidence verified, info requested, appeals);
rather than restate those rules here, the projection asks the claims application for the
status of each claim a batch touches. A rebuild gives the same final rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.claims.model import Claim
from projections.moderation.view import ModerationView

ClaimStatus = Callable[[UUID], str]


class ModerationProjection(Projection[ModerationView]):
    name = "moderation"
    topics = ()

    def __init__(self, view: ModerationView, claim_status: ClaimStatus) -> None:
        super().__init__(view)
        self.claim_status = claim_status

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        rows: dict[UUID, dict[str, Any]] = {}
        for e in events:
            if isinstance(e, Claim.Opened):
                rows[e.originator_id] = {
                    "id": str(e.originator_id),
                    "researcher_id": str(e.researcher_id),
                    "account_id": str(e.account_id),
                    "opened_at": e.timestamp.isoformat(),
                }
            if isinstance(e, Claim.Event):
                row = rows.setdefault(e.originator_id, {"id": str(e.originator_id)})
                row["updated_at"] = e.timestamp.isoformat()
        known = self.view.rows_for([r["id"] for r in rows.values() if "opened_at" not in r])
        complete = []
        for claim_id, row in rows.items():
            if "opened_at" not in row:
                if row["id"] not in known:
                    continue  # not a claim this view has seen opened (events arrive in order)
                row = {**known[row["id"]], **row}
            complete.append({**row, "status": self.claim_status(claim_id)})
        self.view.apply_batch(complete, tracking)
