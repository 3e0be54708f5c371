"""Time travel of one record with many events, against the live profile read in the same run.

    python -m bench.run timetravel [--works 1000] [--follows 8990]

The record gets `works` works (one Work.Imported each), a claim approved by a moderator and
`follows` follow and unfollow events from 2,000 readers: with the defaults, 10,000 events that
concern it. Then GET /researchers/{id}?as_of=... and /trust?as_of=... at random moments over
its history, one client, through a real server process on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.run import PgSchema, calibration_ms, env_for, serving
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.follows.application import FollowCommand
from operations.importing import import_body
from bootstrap.services import Services
from bootstrap.settings import Settings
from operations.timetravel import SETTLED, take_snapshots
from tests.factories import author, work


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, max {ordered[-1]:.1f} ms"


def timed(client: httpx.Client, url: str, params: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    response = client.get(url, params=params)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    return elapsed


def bench_timetravel(args: argparse.Namespace) -> None:
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        env = env_for("postgres", Path(tmp), schema)
        services = Services(Settings.from_env(env))
        rid = researcher_id_for("A1")
        moments = []
        for start in range(0, args.works, 500):  # the record's works, over several imports
            import_body(services.catalogue, json.dumps(
                [work(n, [author(1, "Travel One"), author(2 + n % 50)], year=1990 + n % 35,
                      topics=[(n % 40, f"Topic {n % 40}")]) for n in range(start, min(args.works, start + 500))]
            ).encode())
            moments.append(datetime.now(UTC))
        for runner in services.runners:
            runner.catch_up()
        account = services.accounts.register("owner@example.org", "a long enough password", "Travel Owner")
        f = services.profiles_view.record_facts(str(rid))
        facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
        claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me",
                                                                       links=("https://example.org/",))])
        services.claims.approve(claim, uuid.uuid4(), "L2", "checked", facts)
        readers = [uuid.uuid4() for _ in range(2_000)]
        following: set[uuid.UUID] = set()
        done = 0
        while done < args.follows:
            batch = []
            for reader in rng.sample(readers, min(500, args.follows - done)):
                batch.append(FollowCommand(reader, rid, reader not in following, confirmed=True))
                following.symmetric_difference_update({reader})
            services.follows.apply_all(batch, known={rid}, owners={rid: account})
            done += len(batch)
            moments.append(datetime.now(UTC))
        for runner in services.runners:
            runner.catch_up()
        for runner in services.runners:
            runner.catch_up()
        entries = services.history_view.entries(str(rid), None, 100_000, newest_first=False)
        store = services.claims.repository.event_store
        claim_events = len(list(store.get(claim))) + len(list(store.get(services.claims.get_record(rid).id)))
        total = args.works + 1 + claim_events + done
        print(f"record A1: {args.works:,} works, {claim_events} claim and record events, {done:,} follow events:"
              f" {total:,} events ({len(entries):,} history entries)")
        # Snapshots are taken only of settled history (stamped over a minute ago), as the past
        # that time travel is for would be; by housekeeping, as the expire worker does each minute.
        time.sleep(max(0.0, (moments[-1] + SETTLED - datetime.now(UTC)).total_seconds() + 1))
        print(f"housekeeping took {take_snapshots(services)} snapshot(s)")
        services.close()

        with serving(env | {"PEERLEDGER_PROJECTIONS": "external"}) as base, httpx.Client(base_url=base) as client:
            for _ in range(5):
                timed(client, "/researchers/A1")
            live = [timed(client, "/researchers/A1") for _ in range(args.samples)]
            stamps = [rng.choice(moments).isoformat() for _ in range(args.samples)]
            first = [timed(client, "/researchers/A1", {"as_of": at.isoformat()}) for at in moments]
            past = [timed(client, "/researchers/A1", {"as_of": at}) for at in stamps]
            trust = [timed(client, "/researchers/A1/trust", {"as_of": at}) for at in stamps]
            latest = datetime.now(UTC).isoformat()
            now = client.get("/researchers/A1", params={"as_of": latest}).json()
            assert now == client.get("/researchers/A1").json(), "time travel to now differs from the live page"
        print(f"baseline, live profile read (cached, one client): {percentiles(live)}")
        print(f"profile as_of each of the {len(moments)} moments, first read: {percentiles(first)}")
        print(f"profile as_of a random moment, {args.samples} reads: {percentiles(past)}")
        print(f"trust as_of a random moment, {args.samples} reads: {percentiles(trust)}")
        print(f"as_of now equals the live page: followers {now['followers_count']:,}, works {now['works_count']:,}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("timetravel")
    p.add_argument("--works", type=int, default=1_000)
    p.add_argument("--follows", type=int, default=8_992)
    p.add_argument("--samples", type=int, default=100)
