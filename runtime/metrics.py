"""Prometheus text for every process: projection lag (events and seconds) and failures, and the
relay's position against each log's head. The API adds its responses; the notify worker its
consumer's pending counts. Workers serve it on PEERLEDGER_METRICS_PORT (`serve_metrics`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("peerledger.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def gauge(name: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        label = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{label}}} {value:g}" if label else f"{name} {value:g}")
    return lines


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
    apps = (services.catalogue, services.accounts, services.claims, services.follows, services.invitations)
    return {a.name: (a.recorder.max_notification_id() or 0, int(stored.get(a.name, 0))) for a in apps}


def serve_metrics(port: int, lines: Callable[[], list[str]], host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A worker's GET /metrics, on a thread of its own."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's hook
            if self.path != "/metrics":
                self.send_error(404)
                return
            try:
                body = ("\n".join(lines()) + "\n").encode()
                status = 200
            except Exception as e:  # noqa: BLE001 - the store away: say so, do not die
                body, status = f"# metrics unavailable: {type(e).__name__}\n".encode(), 503
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", host, server.server_port)
    return server
