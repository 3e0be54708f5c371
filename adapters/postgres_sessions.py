"""eventsourcing's PostgreSQL store, with the session settings PeerLedger's statements want.

JIT compilation is off. The views' batch statements join scratch tables whose row counts the
planner cannot know between batches; once an estimate crosses `jit_above_cost` (100,000 by
default) the server compiles the statement first: seen on a profiles batch, 1.3 s of JIT for
a 0.65 s co-author count, every batch. Nothing PeerLedger runs scans enough rows for JIT to pay
back. The setting travels in the connection's startup packet (libpq `options`), so it costs
no round trip. Selected by bootstrap/services.py: store_env (PERSISTENCE_MODULE names this factory).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresFactory

FACTORY_TOPIC = "adapters.postgres_sessions:PeerLedgerPostgresFactory"
SESSION_OPTIONS = "-c jit=off"


class PeerLedgerPostgresFactory(PostgresFactory):
    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # The pool opens its connections later, with these arguments.
        self.datastore.pool.kwargs["options"] = SESSION_OPTIONS
