"""Full replay of every projection from the PostgreSQL logs, against the raw read of the same logs.

    python -m bench.run replay [--events 1000000]

Writes the logs first (a tenth as works and their researchers, the rest follows and unfollows
of 10,000 records by 50,000 readers, plus claims approved for 200 records; the works skewed as
OpenAlex's are, tests/factories.py: skewed_works, or with --uniform 3 authors each), then, in the same
run: the baseline, every log read page by page with eventsourcing's recorder (raw rows, and
rows decoded into domain events); and `peerledger replay` in its own process (every projection
into new tables, then the switch), timed, with its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.run import PgSchema, calibration_ms, env_for
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.follows.model import Follow
from operations.importing import import_body
from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.factories import skewed_works, synthetic_works

PAGE = 5_000
AREAS = ("catalogue", "claims", "follows", "accounts", "invitations")


def write_logs(services: Services, events: int, rng: random.Random, *, skewed: bool = True) -> None:
    works = events // 10 // 2  # each work brings about one researcher event too
    researchers = max(1_000, works // 2)
    started = time.perf_counter()
    for start in range(0, works, 5_000):
        count = min(5_000, works - start)
        batch = (skewed_works(count, seed=start, first_id=start + 1) if skewed
                 else synthetic_works(count, researchers, authors_per_work=3, seed=start))
        for n, w in enumerate(batch):
            w["id"] = f"https://openalex.org/W{start + n + 1}"
        import_body(services.catalogue, json.dumps(batch).encode())
    print(f"  {works:,} {'skewed' if skewed else 'uniform'} works imported in {time.perf_counter() - started:.0f} s")
    known = [researcher_id_for(f"A{n}") for n in range(1, min(researchers, 10_000) + 1)]
    services.profiles_runner.catch_up()  # claims need the records' facts (from the catalogue)
    moderator = uuid.uuid4()
    for n in range(200):
        account = services.accounts.register(f"owner{n}@example.org", "a long enough password", f"Owner {n}")
        f = services.profiles_view.record_facts(str(known[n]))
        if f is None:
            continue
        facts = RecordFacts(known[n], f["orcid"], f["base_level"], f["institution_ids"])
        claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me",
                                                                       links=("https://example.org/",))])
        services.claims.approve(claim, moderator, "L2", "checked", facts)
    readers = [uuid.uuid4() for _ in range(50_000)]
    started, pair = time.perf_counter(), 0
    while sum(head(services, area) for area in AREAS) < events:
        follows = []
        for _ in range(PAGE // 2):  # each pair once: reader i % 50,000, a different record each round
            reader = pair % len(readers)
            follow = Follow(account_id=readers[reader], confirmed=True,
                            researcher_id=known[(reader * 7919 + pair // len(readers)) % len(known)])
            if rng.random() < 0.5:
                follow.unfollow()
            follows.append(follow)
            pair += 1
        services.follows.save(*follows)
    print(f"  follows written in {time.perf_counter() - started:.0f} s")


def head(services: Services, area: str) -> int:
    return getattr(services, area).recorder.max_notification_id() or 0


def baseline(services: Services) -> tuple[int, float, float]:
    """(events, raw rows/s, decoded events/s) reading every log page by page."""
    apps = [getattr(services, area) for area in AREAS]
    total, started = 0, time.perf_counter()
    for app in apps:
        last = 0
        while rows := app.recorder.select_notifications(start=last, limit=PAGE, inclusive_of_start=False):
            total += len(rows)
            last = rows[-1].id
    raw = total / (time.perf_counter() - started)
    started = time.perf_counter()
    for app in apps:
        last = 0
        while rows := app.recorder.select_notifications(start=last, limit=PAGE, inclusive_of_start=False):
            for row in rows:
                app.mapper.to_domain_event(row)
            last = rows[-1].id
    return total, raw, total / (time.perf_counter() - started)


def bench_replay(args: argparse.Namespace) -> None:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        env = env_for("postgres", Path(tmp), schema) | {"PEERLEDGER_PROJECTIONS": "external"}
        services = Services(Settings.from_env(env))
        print(f"writing about {args.events:,} events")
        write_logs(services, args.events, rng, skewed=args.skewed)
        events, raw, decoded = baseline(services)
        services.close()
        print(f"baseline, reading all {events:,} notifications in pages of {PAGE:,}: {raw:,.0f} rows/s raw,"
              f" {decoded:,.0f} events/s decoded")
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-m", "peerledger", "replay", *args.projections],
                               env={**os.environ, **env, "PEERLEDGER_LOG_LEVEL": "WARNING"},
                               capture_output=True, text=True)
        seconds = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        if child.returncode != 0:
            print(child.stdout[-2000:], child.stderr[-2000:])
            raise SystemExit(f"peerledger replay exited {child.returncode}")
        print(child.stdout.strip()[-1500:])
        print(f"replay of {', '.join(args.projections) or 'every projection'}: {events:,} events in {seconds:.1f} s:"
              f" {events / seconds:,.0f} events/s ({events / seconds / decoded:.0%} of the decoded read),"
              f" peak memory {peak:,.0f} MiB, {cpu:.0f} s of CPU in the replay process")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--uniform", dest="skewed", action="store_false",
                   help="works of 3 authors each, drawn evenly, instead of skewed ones (the figures before 2026-11-29)")
    p.add_argument("projections", nargs="*", help="only these (default: all)")
