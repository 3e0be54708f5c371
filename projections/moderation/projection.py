"""ModerationProjection: claims events -> the queues' rows (claims, and flags on records).

A claim's status follows from its whole history (evidence verified, info requested, appeals); the
view keeps what it follows from (domain.claims.model.ClaimProgress: the Claim's own rules) and the
projection folds each batch's events onto it, so the queue is built from the log alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.claims.flag import Flag
from domain.claims.model import Claim, ClaimProgress
from projections.moderation.view import ModerationView


class ModerationProjection(Projection[ModerationView]):
    name = "moderation"
    topics = ()

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.process_batch([domain_event], tracking)

    def process_batch(self, events: Sequence[Any], tracking: Tracking) -> None:
        claims = [e for e in events if isinstance(e, Claim.Event)]
        rows = self.view.rows_for(sorted({str(e.originator_id) for e in claims if not isinstance(e, Claim.Opened)}))
        for e in claims:
            cid = str(e.originator_id)
            if isinstance(e, Claim.Opened):
                rows[cid] = {"id": cid, "researcher_id": str(e.researcher_id), "account_id": str(e.account_id),
                             "opened_at": e.timestamp.isoformat(), "progress": ClaimProgress.opened(e)}
            elif cid in rows:
                rows[cid]["progress"] = rows[cid]["progress"].after(e)
            else:
                continue  # a claim this view has not seen opened (events arrive in order)
            rows[cid]["updated_at"] = e.timestamp.isoformat()
        flags: dict[str, tuple[str, ...]] = {}
        for e in events:
            if isinstance(e, Flag.Raised):
                at = e.timestamp.isoformat()
                flags[str(e.originator_id)] = (str(e.originator_id), str(e.researcher_id), str(e.work_id),
                                               str(e.account_id), "open", at, at)
            elif isinstance(e, Flag.Decided):
                fid = str(e.originator_id)
                # Raised in an earlier batch: the stored row keeps its opening columns (only the
                # status and time are updated); raised in this one: its row, decided.
                opened = flags.get(fid, (fid, "", "", "", "", "", ""))
                flags[fid] = (*opened[:4], e.outcome, opened[5], e.timestamp.isoformat())
        self.view.apply_batch([r for r in rows.values() if "updated_at" in r], tracking, list(flags.values()))
