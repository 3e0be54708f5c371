"""`peerledger replay --verify`: rebuild read models from the event log into scratch tables and
report every row that differs from the live ones.

Run it while writes are quiet: events recorded during the rebuild reach the scratch tables and
the live ones at different moments. Columns a rebuild numbers differently (batch positions) and
the trust history (stamped when processed) are left out of the comparison.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.services import PROJECTIONS, Services


@dataclass
class Difference:
    table: str
    only_live: list[Any] = field(default_factory=list)
    only_rebuilt: list[Any] = field(default_factory=list)


@dataclass
class Verified:
    projection: str
    rows: int
    events: int
    differences: list[Difference]


def verify(services: Services, names: list[str] | None = None,
           progress: Callable[[str], None] = lambda _: None) -> list[Verified]:
    results = []
    for name in names or list(PROJECTIONS):
        live = getattr(services, f"{name}_view")
        prefix = f"verify{uuid.uuid4().hex[:6]}_{name}"
        scratch = services.open_view(name, table_prefix=prefix)
        try:
            progress(f"{name}: rebuilding from the event log")
            events = sum(runner.catch_up() for runner in services.runners_for(name, scratch))
            differences, rows = [], 0
            for table in live.TABLES:
                if "*" in live.VERIFY_SKIP.get(table, ()):
                    continue
                mine, theirs = live.dump(table), scratch.dump(table)
                rows += len(mine)
                only_live = sorted(set(mine) - set(theirs), key=repr)
                only_rebuilt = sorted(set(theirs) - set(mine), key=repr)
                if only_live or only_rebuilt:
                    differences.append(Difference(table, only_live, only_rebuilt))
            results.append(Verified(name, rows, events, differences))
        finally:
            drop(services, scratch, prefix)
    return results


def drop(services: Services, view: Any, prefix: str) -> None:
    """Remove a scratch view's tables (or its SQLite file)."""
    if services.settings.is_postgres:
        with view.datastore.get_connection() as conn:
            for table in (*view._tables.values(),):
                conn.execute(f"DROP TABLE IF EXISTS {table}".encode())
    else:
        path = services.settings.data_dir / f"{prefix.lower()}.sqlite"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")
