"""Everything that goes over all business areas or all read models takes them from the registry:
a new entry there reaches the relay, notifications, metrics, the export, replay, shutdown and the
command line without another list to edit (and a list written by hand fails here)."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest

from bootstrap.registry import AREAS, PROJECTIONS, READ_MODELS
from bootstrap.services import Services
from operations import export
from operations.metrics import relay_positions
from operations.notifications import Notifier
from operations.replay import verify
from peerledger.cli import build_parser
from tests.conftest import settings_for
from workers.relay import relay_for

AREA_NAMES = {area.name for area in AREAS}


@pytest.fixture
def services(tmp_path):
    svc = Services(settings_for("sqlite", tmp_path, None))
    yield svc
    svc.close()


def test_every_area_is_built_once_and_reachable_by_name_and_attribute(services):
    assert set(services.applications) == AREA_NAMES
    for area in AREAS:
        assert getattr(services, area.attribute) is services.applications[area.name]


def test_the_relay_and_the_notifier_follow_every_area(services):
    assert {app.name for app in relay_for(services, services.settings).apps} == AREA_NAMES
    assert set(Notifier(services, services.notifications).apps) == AREA_NAMES


def test_the_history_export_reads_every_area(services, monkeypatch):
    read = []
    monkeypatch.setattr(export, "application_events", lambda app, *_: read.append(app.name) or iter(()))
    export.export_history(services, io.BytesIO(), since=datetime(2026, 1, 1, tzinfo=timezone.utc), until=None,
                          personal=False)
    assert set(read) == AREA_NAMES


def test_metrics_report_the_relay_for_every_area(services, monkeypatch):
    monkeypatch.setattr(type(services.settings), "is_postgres", property(lambda _: True))
    monkeypatch.setattr(services.sql, "execute", lambda statement, *_: [(False,)] if "to_regclass" in statement else [])
    assert set(relay_positions(services)) == AREA_NAMES


def test_shutdown_closes_every_area(tmp_path):
    services = Services(settings_for("sqlite", tmp_path, None))
    closed = []
    for app in services.applications.values():
        app.close = lambda name=app.name: closed.append(name)
    services.close()
    assert set(closed) == AREA_NAMES


def test_every_read_model_has_runners_and_replay_and_the_cli_know_it(services):
    assert PROJECTIONS == tuple(model.name for model in READ_MODELS)
    for model in READ_MODELS:
        assert services.runners_for(model.name, getattr(services, f"{model.name}_view"))
        assert set(model.follows) <= AREA_NAMES
    assert [r.projection for r in verify(services, None)] == list(PROJECTIONS)
    help_text = build_parser()._subparsers._group_actions[0].choices["replay"].format_help()
    assert all(name in help_text for name in PROJECTIONS)
