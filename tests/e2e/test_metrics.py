"""GET /metrics: Prometheus text an operator's scraper reads."""

from __future__ import annotations

import re

from workers.relay import RelayPositions
from tests.conftest import settings_for
from tests.e2e.support import started


def value(text: str, name: str, **labels: str) -> float:
    label = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{re.escape(label)}}} (\S+)$", text, re.M)
    assert match, f"{name}{{{label}}} missing from:\n{text}"
    return float(match.group(1))


def test_metrics_count_responses_and_show_projection_and_relay_lag(tmp_path, pg_schema):
    settings = settings_for("postgres", tmp_path, pg_schema, PEERLEDGER_DEMO_DATA="yes")
    with started(settings) as client:
        services = client.app.state.services
        assert services.wait_for_projections()
        before = client.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain; version=0.0.4")
        not_found = value(before.text, "peerledger_http_responses_total", status="4xx") \
            if 'status="4xx"' in before.text else 0
        assert client.get("/researchers/A1").status_code == 404
        after = client.get("/metrics").text
        assert value(after, "peerledger_http_responses_total", status="4xx") == not_found + 1
        assert value(after, "peerledger_projection_lag_events", projection="profiles <- Catalogue") == 0
        assert value(after, "peerledger_projection_failing", projection="trust <- profiles, followers") == 0
        head = services.catalogue.recorder.max_notification_id()
        RelayPositions(services.sql).save("Catalogue", head - 5)
        relay = client.get("/metrics").text
        assert value(relay, "peerledger_log_head", application="Catalogue") == head
        assert value(relay, "peerledger_relay_position", application="Catalogue") == head - 5
