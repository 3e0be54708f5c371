"""Read models read from a PostgreSQL hot standby, so reads scale past what the primary serves.

A standby replays the primary's WAL a little behind it. Readers that must see a write (a
viewer's own follow, `consistent_with`) first wait as today until the projection on the primary
has the write, then until the standby has replayed the primary's WAL up to that moment, for at
most `read_max_wait` seconds; if it has not by then, that one read goes to the primary.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.sqlstore import postgres_conninfo
from bootstrap.registry import VIEW_CLASSES
from bootstrap.settings import Settings
from bootstrap.versions import version_prefix

log = logging.getLogger("peerledger.standby")

STANDBY_READ_MODELS = ("profiles", "followers", "trust")  # what public reads use: profiles, counts, trust, graph


class StandbyReads:
    """Views of the standby (read only: no tables are made there) and its replay position."""

    def __init__(self, settings: Settings, store_env: Any, versions: dict[str, int]) -> None:
        self.settings = settings
        self.env = dict(settings.store_env, POSTGRES_HOST=settings.read_postgres_host,
                        POSTGRES_PORT=str(settings.read_postgres_port), CREATE_TABLE="n")
        self.conninfo = postgres_conninfo(self.env)
        self.primary_conninfo = postgres_conninfo(settings.store_env)
        self._factories: list[Any] = []
        self.views: dict[str, Any] = {}
        for name in STANDBY_READ_MODELS:
            prefix = version_prefix(name, versions[name])
            env = {**store_env(settings, prefix), **{k: v for k, v in self.env.items() if k.startswith("POSTGRES_")},
                   "CREATE_TABLE": "n"}
            factory: Any = InfrastructureFactory.construct(Environment(prefix, env))
            self._factories.append(factory)
            self.views[name] = factory.tracking_recorder(VIEW_CLASSES[name][settings.persistence_module])
        self.waits = {"standby": 0, "primary": 0}  # how reads that had to see a write were served

    def wait_for(self, lsn: str, timeout: float) -> bool:
        """Until the standby has replayed the primary's WAL up to `lsn`; False after `timeout`."""
        deadline = time.monotonic() + timeout
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=2) as conn:
                while True:
                    done = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]).fetchone()[0]
                    if done:
                        self.waits["standby"] += 1
                        return True
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.005)
        except psycopg.Error as e:
            log.warning("the standby does not answer (%s): reading the primary", e)
        self.waits["primary"] += 1
        return False

    def lag(self) -> tuple[float, float]:
        """(bytes of the primary's WAL not yet replayed, seconds since the last replayed commit
        while there is something to replay: 0 when caught up)."""
        with psycopg.connect(self.primary_conninfo, autocommit=True, connect_timeout=2) as primary:
            current = primary.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=2) as conn:
            behind, seconds = conn.execute(
                "SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()),"
                " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())", [current]).fetchone()
        behind = max(0.0, float(behind or 0))
        return behind, max(0.0, float(seconds or 0)) if behind else 0.0

    def close(self) -> None:
        for factory in self._factories:
            factory.close()


def primary_position(settings: Settings) -> str:
    """The primary's WAL position now: a write visible on the primary is at or before it."""
    with psycopg.connect(postgres_conninfo(settings.store_env), autocommit=True, connect_timeout=2) as conn:
        return conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
