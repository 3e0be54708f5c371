"""Prometheus' text format, and a worker's GET /metrics on a thread of its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
