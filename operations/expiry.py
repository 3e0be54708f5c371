"""Ending what has run out of time, as events: invitations past their 14 days become `Expired`
(which frees the pair and the sender's quota), records whose institutional email proof has
lapsed are lowered, and an owner's follow of its own record ends. Safe in several processes: each change is a save that conflicts if another
process made it first. Run by `peerledger worker expire`, or inside the API in the embedded default.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from bootstrap.services import Services
from operations.timetravel import take_snapshots

log = logging.getLogger("peerledger.expiry")


def expire_due(services: Services) -> int:
    """One pass over what is due now (by the invitations application's clock)."""
    services.invitations_runner.catch_up()
    now = services.invitations.clock().isoformat()
    expired = 0
    while due := services.invitations_view.due(now):
        done = [i for i in due if services.invitations.expire(UUID(i))]
        expired += len(done)
        services.invitations_runner.catch_up()
        if not done:
            break  # what is left is not due by the aggregate's own reckoning
    return expired


def lapse_due(services: Services) -> int:
    return sum(1 for r in services.profiles_view.owned_records() if services.claims.lapse_expired_evidence(UUID(r)))


def end_owner_follows(services: Services) -> int:
    """Follows of a record by its own owner (made before the claim was approved) end as events;
    this also corrects records that were in that state before the rule existed."""
    ended = 0
    while owned := services.followers_view.owners_following_their_records():
        done = services.follows.end_owners_follows([(UUID(a), UUID(r)) for r, a in owned])
        ended += done
        services.followers_runner.catch_up()
        if not done:
            break  # already ended in the log, not yet in the view
    return ended


def expire_loop(services: Services, interval: float, stop: threading.Event,
                passed: Callable[[], None] | None = None) -> None:
    """Also run inside the API process in the embedded default (no separate workers there).
    Each pass also takes the time-travel snapshots that are due; `passed` is called after each
    pass that worked."""
    failed = 0  # passes failed in a row: an operator sees when they work again
    while True:
        try:
            expired, lapsed, snapshots = expire_due(services), lapse_due(services), take_snapshots(services)
            ended = end_owner_follows(services)
            if expired or lapsed or snapshots or ended:
                log.info("expired %d invitation(s), lowered %d record(s), took %d snapshot(s), ended %d owner's"
                         " follow(s) of their own record", expired, lapsed, snapshots, ended)
            if failed:
                log.warning("expiry passes work again after %d failed", failed)
            failed = 0
            if passed is not None:
                passed()
        except Exception:  # noqa: BLE001 - keep going; the store may be back next round
            failed += 1
            log.exception("expiry pass failed; trying again in %.0f s", interval)
        if stop.wait(interval):
            return
