"""Python's cycle collector, tuned once per process for PeerLedger's long batch loops.

An import, a projection batch or a replay allocates millions of short-lived dicts and lists.
With CPython's default (a young collection every 700 new containers) each one is scanned, and the
survivors (the id caches, a batch's events) again and again in the older generations: importing
200,000 skewed works (`peerledger import --jobs 1` of a bench.run ingest snapshot, SQLite) spent
76 s of CPU with the defaults and 41 s with this.
Nearly everything is freed by reference counting anyway; the collector is only for cycles.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # new containers between young collections (CPython's default: 700)
MIDDLE_THRESHOLD = 20  # young collections between middle ones (default 10)
OLD_THRESHOLD = 100  # middle collections between full ones, which CPython also holds back until
# the objects waiting are a quarter of the old generation (default 10)


def tune_collector() -> None:
    """Move what start-up made (modules, classes, settings) out of the collector's sight for good,
    and collect young objects far less often. Call once the process has imported what it runs."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
