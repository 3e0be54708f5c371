"""What every process reports on /metrics: projection lag (events and seconds) and failures, and
the relay's position against each log's head. The API adds its responses; the notify worker its
consumer's pending counts."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from adapters.prometheus import gauge


def lag_seconds(runner: Any) -> float:
    """Age of the oldest event the runner has not processed (0 when caught up; -1 if unreadable)."""
    app = getattr(runner, "app", None)
    if app is None:
        return 0.0
    waiting = app.recorder.select_notifications(start=runner.position(), limit=1, inclusive_of_start=False)
    if not waiting:
        return 0.0
    event = app.mapper.to_domain_event(waiting[0])
    return max(0.0, (datetime.now(timezone.utc) - event.timestamp).total_seconds())


def render(services: Any) -> list[str]:
    lags, seconds, failing, failed_events = [], [], [], []
    for runner in services.runners:
        labels = {"projection": runner.name}
        lags.append((labels, runner.head() - runner.position()))
        try:
            seconds.append((labels, lag_seconds(runner)))
        except Exception:  # noqa: BLE001 - an event it cannot decode: the lag in events still shows
            seconds.append((labels, -1))
        failing.append((labels, int(runner.error is not None)))
        event = getattr(runner, "failed_event", None)
        if event is not None and runner.error is not None:
            failed_events.append(({**labels, "application": event.application, "notification_id": str(event.notification_id),
                                   "topic": event.topic, "error": type(runner.error).__name__}, 1))
    lines = gauge("peerledger_projection_lag_events", "Events in the upstream log not yet in the read model", lags)
    lines += gauge("peerledger_projection_lag_seconds", "Age of the oldest event not yet in the read model", seconds)
    lines += gauge("peerledger_projection_failing", "1 while a projection's last batch failed", failing)
    lines += gauge("peerledger_projection_failed_event", "The event a failing projection cannot get past",
                   failed_events)
    standby = getattr(services, "standby", None)
    if standby is not None:
        try:
            behind, seconds = standby.lag()
        except Exception:  # noqa: BLE001 - a standby that does not answer shows as -1
            behind, seconds = -1.0, -1.0
        lines += gauge("peerledger_standby_replay_lag_bytes", "Bytes of the primary's WAL the read standby has not"
                       " replayed (-1: it does not answer)", [({}, behind)])
        lines += gauge("peerledger_standby_replay_lag_seconds", "Age of the standby's last replayed commit while it"
                       " is behind (0: caught up)", [({}, seconds)])
        lines += gauge("peerledger_standby_consistent_reads", "Reads that had to see a write, by where they were"
                       " served (the standby once it replayed the write, else the primary)",
                       [({"served_by": k}, v) for k, v in sorted(standby.waits.items())])
    relay = relay_positions(services)
    if relay:
        lines += gauge("peerledger_log_head", "Last notification id of each application's event log",
                       [({"application": a}, head) for a, (head, _) in relay.items()])
        lines += gauge("peerledger_relay_position", "Last notification id the relay has had acknowledged",
                       [({"application": a}, pos) for a, (_, pos) in relay.items()])
    return lines


def relay_positions(services: Any) -> dict[str, tuple[int, int]]:
    if not services.settings.is_postgres:
        return {}
    rows = services.sql.execute("SELECT to_regclass('peerledger_relay_positions') IS NOT NULL")
    stored = dict(services.sql.execute("SELECT application, position FROM peerledger_relay_positions")) \
        if rows and rows[0][0] else {}
    apps = services.applications.values()
    return {a.name: (a.recorder.max_notification_id() or 0, int(stored.get(a.name, 0))) for a in apps}
