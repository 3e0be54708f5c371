"""TrustRunner: follows the profile documents' and the follower counts' change feeds and keeps
each record's trust snapshot, adding a history point whenever a score changes. It is woken
when either read model changes (adapters/logwatch.py), and looks once a second without a wake-up.

It has the runner interface the services, the worker and /ready use (position, head, catch_up,
start, stop, wait). Rebuilding from scratch reads every current document and count once and
gives the same snapshots as the live view (history then starts from the current score).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timezone
from typing import Any


from domain.trust import TrustInputs, trust
from projections.profiles.documents import trust_inputs
from projections.runner import PollingRunner
from projections.sqlview import BatchTracking, view_changes
from projections.trust.view import COUNTS_FEED, DOCS_FEED, TrustView

log = logging.getLogger(__name__)
STEP = 200  # upstream batches per trust batch


def snapshot_of(inputs: TrustInputs) -> dict[str, Any]:
    s = trust(inputs)
    return {
        "score": s.score,
        "tier": s.tier,
        "components": [{"name": c.name, "points": c.points, "maximum": c.maximum, "facts": c.facts}
                       for c in s.components],
        "inputs": dataclasses.asdict(inputs),
    }


class TrustRunner(PollingRunner):
    def __init__(self, view: TrustView, profiles_view: Any, followers_view: Any, *, poll_interval: float = 0.05,
                 clock: Any = None) -> None:
        super().__init__(poll_interval=poll_interval)
        self.view = view
        self.profiles_view = profiles_view
        self.followers_view = followers_view
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    name = "trust <- profiles, followers"
    projection_name = "trust"
    # Woken when either read model commits a batch (in this process by its runner, from others by
    # the view's NOTIFY), instead of looking every 50 ms.
    applications = (view_changes("profiles"), view_changes("followers"))

    def position(self) -> int:
        return self.view.feed_position(DOCS_FEED) + self.view.feed_position(COUNTS_FEED)

    def head(self) -> int:
        return self.profiles_view.docs_position() + self.followers_view.counts_position()

    def run_batch(self) -> int:
        """Process the next range of both feeds; returns how many snapshots it looked at."""
        d0, c0 = self.view.feed_position(DOCS_FEED), self.view.feed_position(COUNTS_FEED)
        d1 = min(self.profiles_view.docs_position(), d0 + STEP)
        c1 = min(self.followers_view.counts_position(), c0 + STEP)
        if d1 <= d0 and c1 <= c0:
            return 0
        docs = {rid: doc for rid, doc, _ in self.profiles_view.docs_between(d0, d1)} if d1 > d0 else {}
        counts = {rid: (n, v) for rid, n, v, _ in self.followers_view.counts_between(c0, c1)} if c1 > c0 else {}
        from_docs = set(docs)
        affected = sorted(docs.keys() | counts.keys())
        docs |= self.profiles_view.docs_of([r for r in affected if r not in docs])
        counts |= self.followers_view.counts_of([r for r in affected if r not in counts])
        before = self.view.snapshots(affected)
        at = self.clock().isoformat()
        rows = []
        for rid in affected:
            if rid not in docs:
                continue  # counted before its profile exists: taken up when the profile appears
            inputs = trust_inputs(docs[rid], *counts.get(rid, (0, 0)))
            snap = snapshot_of(inputs)
            old = before.get(rid)
            if old == snap:
                continue
            changed = {k: [old["inputs"].get(k) if old else None, v] for k, v in snap["inputs"].items()
                       if not old or old["inputs"].get(k) != v}
            cause = {"feed": "profiles" if rid in from_docs else "followers", "changed": changed}
            rows.append({"researcher_id": rid, "score": snap["score"], "tier": snap["tier"], "snapshot": snap,
                         "at": at, "cause": cause, "point": old is None or old["score"] != snap["score"]})
        trackings = [BatchTracking(DOCS_FEED, d1, after=d0)] if d1 > d0 else []
        trackings += [BatchTracking(COUNTS_FEED, c1, after=c0)] if c1 > c0 else []
        self.view.apply_batch(rows, trackings, read_at=(d0, c0))
        return max(1, len(affected))
