"""Processes that start together against one empty PostgreSQL schema all come up."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bootstrap.services import Services
from tests.conftest import settings_for

pytestmark = pytest.mark.postgres


def test_services_created_concurrently_on_an_empty_schema_all_start(tmp_path: Path, pg_schema: str) -> None:
    # Without the schema lock, concurrent CREATE ... IF NOT EXISTS failed with "tuple
    # concurrently updated" and took an API worker process down at start.
    settings = settings_for("postgres", tmp_path, pg_schema)
    # Three, not more: each holds 23 connections, the server allows 100, and the suite's other
    # process runs a test of its own meanwhile (four made that one, or this, wait past its timeout).
    with ThreadPoolExecutor(3) as pool:
        started = list(pool.map(lambda _: Services(settings), range(3)))
    try:
        assert all(s.follows.recorder.max_notification_id() in (None, 0) for s in started)
    finally:
        for s in started:
            s.close()
