"""Benchmarks that print figures next to the baseline they are compared with, measured in the same run.

    python -m bench.run import [--works 10000]       import rate, SQLite and PostgreSQL
    python -m bench.run reads  [--researchers 10000]  profile reads/s over HTTP vs /health
    python -m bench.run logins                        Argon2id cost, logins/s, /health p99 under a login flood
    python -m bench.run follows                       follows/s over HTTP vs pgbench inserts; counts catch-up
    python -m bench.run graph                         graph and trust reads at 100,000 works; catch-up rates
    python -m bench.run relay [--cluster]             relay events/s to JetStream vs nats-py's own publish rate
    python -m bench.run lag                           commit-to-read-model lag at 1,000 commands/s
    python -m bench.run timetravel                    profile and trust as_of, record with 10,000 events
    python -m bench.run replay                        full replay of 1,000,000 events vs reading them raw
    python -m bench.run ingest [--works 5000]         an OpenAlex snapshot to right profiles vs gunzip + parse
    python -m bench.run explorer                      works, topics, institutions routes vs the profile read
    python -m bench.run pages                         the profile page's req/s and p99 vs /health; its weight
    python -m bench.run links                         a linked person's profile reads vs a record's; link until shown

PostgreSQL is the local server (127.0.0.1:5432, database `test`); each run uses a fresh
schema and drops it. Reads need `wrk` (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from operations.importing import import_file
from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.factories import author, institution, register_confirmed, skewed_works, synthetic_works, work

# The local server by default; POSTGRES_HOST/_PORT/_DBNAME point a run at another (a server of
# the run's own when the shared one is short of connections).
PG = {
    "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
    "POSTGRES_DBNAME": os.environ.get("POSTGRES_DBNAME", "test"),
    "POSTGRES_USER": "postgres",
    "POSTGRES_PASSWORD": "",
}
DSN = f"host={PG['POSTGRES_HOST']} port={PG['POSTGRES_PORT']} dbname={PG['POSTGRES_DBNAME']} user=postgres"
BENCH_SECRET = "bench-secret-key-0123456789abcdef-0123456789"


class PgSchema:
    def __enter__(self) -> str:
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(DSN, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{self.name}"')
        return self.name

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(DSN, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{self.name}" CASCADE')


def calibration_ms() -> float:
    """A fixed CPU-bound workload, timed: how fast this machine is right now (the 2-core
    machines here vary by half between runs, so figures from different runs compare only
    through it)."""
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i * i % 7
    return (time.perf_counter() - started) * 1000


def env_for(backend: str, data_dir: Path, schema: str | None) -> dict[str, str]:
    env = {"PEERLEDGER_DATA_DIR": str(data_dir), "PEERLEDGER_DEMO_DATA": "no"}
    if backend == "postgres":
        env |= {"PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": schema or "public",
                "PEERLEDGER_SECRET_KEY": BENCH_SECRET}
    return env


def timed_import(backend: str, path: Path, batch: int) -> tuple[int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        schema_cm = PgSchema() if backend == "postgres" else None
        schema = schema_cm.__enter__() if schema_cm else None
        try:
            services = Services(Settings.from_env(env_for(backend, Path(tmp), schema)))
            try:
                started = time.perf_counter()
                summary = import_file(services.catalogue, path, batch_size=batch)
                seconds = time.perf_counter() - started
                assert summary.malformed == 0
                again_started = time.perf_counter()
                again = import_file(services.catalogue, path, batch_size=batch)
                again_seconds = time.perf_counter() - again_started
                assert again.events_written == 0
            finally:
                services.close()
        finally:
            if schema_cm:
                schema_cm.__exit__(None, None, None)
    return summary.events_written, seconds, int(summary.records_read / again_seconds)


def bench_import(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        works = synthetic_works(args.works, researchers=args.works * 2, authors_per_work=5)
        path = Path(tmp) / "works.jsonl"
        path.write_text("\n".join(json.dumps(w) for w in works))
        sample = Path(tmp) / "sample.jsonl"
        sample.write_text("\n".join(json.dumps(w) for w in works[: args.baseline_works]))
        print(f"import: {args.works:,} synthetic OpenAlex works, 5 authors each, batches of {args.batch}; "
              f"machine calibration {calibration_ms():.0f} ms")
        print(f"{'backend':<10} {'mode':<32} {'works':>7} {'events':>8} {'seconds':>8} {'works/s':>9}")
        for backend in args.backends:
            b_events, b_seconds, _ = timed_import(backend, sample, batch=1)
            b_rate = args.baseline_works / b_seconds
            print(f"{backend:<10} {'baseline: one save per work':<32} {args.baseline_works:>7,} {b_events:>8,} "
                  f"{b_seconds:>8.2f} {b_rate:>9,.0f}")
            events, seconds, reimport_rate = timed_import(backend, path, batch=args.batch)
            rate = args.works / seconds
            print(f"{backend:<10} {f'batched ({args.batch} works/save)':<32} {args.works:>7,} {events:>8,} "
                  f"{seconds:>8.2f} {rate:>9,.0f}   x{rate / b_rate:.1f} vs baseline")
            print(f"{backend:<10} {'re-import (no changes)':<32} {args.works:>7,} {0:>8,} "
                  f"{args.works / reimport_rate:>8.2f} {reimport_rate:>9,.0f}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """`peerledger serve` in its own process on a free port, until it answers /ready."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "peerledger", "serve", "--port", str(port), "--no-demo"],
        env={**os.environ, **env, "PEERLEDGER_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL, stderr=open(os.devnull, "w") if not os.environ.get("BENCH_DEBUG") else None,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still finishing slow requests: the figures are printed
            server.kill()
            server.wait()


def wrk(url: str, seconds: int, connections: int, script: Path | None = None, paths: Path | None = None,
        authorization: str = "", cookie: str = "") -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True,
                         env={**os.environ, "PATHS_FILE": str(paths or ""), "AUTHORIZATION": authorization,
                              "COOKIE": cookie}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"), "non2xx": int(errors.group(1)) if errors else 0}


def bench_reads(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        sys.exit("bench reads needs wrk: apt-get install wrk")
    n = args.researchers
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        env = env_for("postgres", Path(tmp), schema)
        # Every researcher gets two works; co-authors overlap so profiles have real content.
        works = []
        for w in range(n * 2 // 5):
            ids = [(w * 5 + i) % n + 1 for i in range(5)]
            works.append(work(w + 1, [author(a) for a in ids], year=rng.randint(1990, 2026),
                              topics=[(rng.randint(1, 300), "t")], institutions=[[institution(a % 300)] for a in ids]))
        path = Path(tmp) / "works.jsonl"
        path.write_text("\n".join(json.dumps(x) for x in works))
        services = Services(Settings.from_env(env))
        import_file(services.catalogue, path)
        services.profiles_runner.catch_up()
        register_confirmed(services, "reader@example.org", "Bench Reader")  # a signed-in reader
        services.close()
        paths = [f"/researchers/A{a}" for a in range(1, n + 1)]
        rng.shuffle(paths)
        paths_file = Path(tmp) / "paths.txt"
        paths_file.write_text("\n".join(paths) + "\n")
        viewer_file = Path(tmp) / "viewer.txt"
        viewer_file.write_text("".join(f"{p}/viewer\n" for p in paths))
        # The baseline goes through the same wrk script, so the client does the same work
        # per request (a scripted request costs wrk more CPU than a fixed one, and the
        # client shares this machine's two cores with the server).
        health_file = Path(tmp) / "health.txt"
        health_file.write_text("/health\n" * 100)
        script = Path(__file__).resolve().parent / "profile_paths.lua"
        print(f"machine calibration {calibration_ms():.0f} ms")
        print(f"reads: {n:,} distinct researchers on PostgreSQL, random order, wrk -t1 -c{args.connections} "
              f"{args.seconds}s per run, median of {args.rounds} alternating rounds, one uvicorn process")
        print(f"{'route':<44} {'req/s':>9} {'p50':>9} {'p99':>9} {'vs /health':>10} {'non-2xx':>8}")
        for label, extra in (("cache on (default)", {}), ("cache off", {"PEERLEDGER_PROFILE_CACHE_ENTRIES": "0"})):
            with serving(env | extra) as base:
                # Alternate the two routes and keep the median round, so that noise from the
                # other processes on this 2-core machine falls on both alike.
                rounds = [(wrk(base + "/", args.seconds, args.connections, script, health_file),
                           wrk(base + "/", args.seconds, args.connections, script, paths_file))
                          for _ in range(args.rounds)]
                health, profile = sorted(rounds, key=lambda r: r[1]["rps"] / r[0]["rps"])[len(rounds) // 2]
                print(f"{'/health (baseline)':<44} {health['rps']:>9,.0f} {health['p50']:>9} {health['p99']:>9} "
                      f"{'100%':>10} {health['non2xx']:>8}")
                print(f"{'/researchers/{id} ' + label:<44} {profile['rps']:>9,.0f} {profile['p50']:>9} "
                      f"{profile['p99']:>9} {profile['rps'] / health['rps']:>10.0%} {profile['non2xx']:>8}")
                if extra:
                    continue
                # Signed in: the profile with `following`, and what the viewer may do there.
                token = httpx.post(base + "/auth/login", json={"email": "reader@example.org",
                                                               "password": "a long enough password"}).json()
                bearer = f"Bearer {token['access_token']}"
                for route, listed in (("/researchers/{id} signed in", paths_file),
                                      ("/researchers/{id}/viewer signed in", viewer_file)):
                    signed = [(wrk(base + "/", args.seconds, args.connections, script, health_file),
                               wrk(base + "/", args.seconds, args.connections, script, listed, bearer))
                              for _ in range(args.rounds)]
                    health, read = sorted(signed, key=lambda r: r[1]["rps"] / r[0]["rps"])[len(signed) // 2]
                    print(f"{route:<44} {read['rps']:>9,.0f} {read['p50']:>9} {read['p99']:>9} "
                          f"{read['rps'] / health['rps']:>10.0%} {read['non2xx']:>8}")


def bench_graph(args: argparse.Namespace) -> None:
    """Graph and trust reads on an OpenAlex-shaped data set, and the projections' catch-up."""
    if not shutil.which("wrk"):
        sys.exit("bench graph needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        env = env_for("postgres", Path(tmp), schema) | {"PEERLEDGER_PROJECTIONS": "external"}
        settings = Settings.from_env(env)
        services = Services(settings)
        path = Path(tmp) / "works.jsonl"
        works = (skewed_works(args.works, seed=11) if args.skewed
                 else synthetic_works(args.works, args.researchers, authors_per_work=5, seed=11))
        with path.open("w") as f:
            for w in works:
                f.write(json.dumps(w) + "\n")
        authors = sorted({int(a["author"]["id"].rpartition("A")[2]) for w in works for a in w["authorships"]})
        del works
        started = time.perf_counter()
        import_file(services.catalogue, path)
        imported = time.perf_counter() - started
        # The graph is the profiles view (authorships, works, researchers): its catch-up over
        # the import's events is the rate at which the graph follows an import.
        started = time.perf_counter()
        services.profiles_runner.catch_up()
        caught_up = time.perf_counter() - started
        started = time.perf_counter()
        for runner in services.runners:
            runner.catch_up()
        trust_seconds = time.perf_counter() - started
        events = services.catalogue.recorder.max_notification_id() or 0
        services.close()
        shape = "skewed (5 authors on a tenth of the works each, consortium papers)" if args.skewed \
            else "5 authors per work"
        print(f"data: {args.works:,} works, {len(authors):,} researchers, {shape}, PostgreSQL")
        print(f"import: {args.works / imported:,.0f} works/s ({events:,} events)")
        print(f"graph (profiles) projection catch-up over the import: {args.works / caught_up:,.0f} works/s "
              f"({events / caught_up:,.0f} events/s)")
        print(f"trust projection (and the rest) catch-up from scratch: {trust_seconds:.1f} s for "
              f"{len(authors):,} snapshots")
        rng = random.Random(5)
        ids = list(authors)
        rng.shuffle(ids)
        prolific = ids if not args.skewed else [1, 2, 3, 4, 5]  # the stars: the slow path, if any
        files = {}
        for name, suffix, who in (("health", None, ids), ("graph", "/graph", ids), ("graph2", "/graph?depth=2", ids),
                                  ("trust", "/trust", ids), ("graph_stars", "/graph", prolific),
                                  ("graph2_stars", "/graph?depth=2", prolific)):
            files[name] = Path(tmp) / f"{name}.txt"
            lines = ["/health"] * 100 if suffix is None else [f"/researchers/A{a}{suffix}" for a in who]
            files[name].write_text("\n".join(lines) + "\n")
        script = Path(__file__).resolve().parent / "profile_paths.lua"
        print(f"reads, wrk -t1 -c{args.connections} {args.seconds}s each, one API process, random researchers:")
        print(f"{'route':<40} {'req/s':>9} {'p50':>9} {'p99':>9} {'vs /health':>10} {'non-2xx':>8}")
        with serving(env) as base:
            health = wrk(base + "/", args.seconds, args.connections, script, files["health"])
            routes = [("/health (baseline)", "health"), ("/researchers/{id}/graph", "graph"),
                      ("/researchers/{id}/graph?depth=2", "graph2"), ("/researchers/{id}/trust", "trust")]
            if args.skewed:
                routes += [("/graph, the 5 prolific authors", "graph_stars"),
                           ("/graph?depth=2, the 5 prolific authors", "graph2_stars")]
            for label, name in routes:
                r = health if name == "health" else wrk(base + "/", args.seconds, args.connections, script, files[name])
                print(f"{label:<40} {r['rps']:>9,.0f} {r['p50']:>9} {r['p99']:>9} {r['rps'] / health['rps']:>10.0%} "
                      f"{r['non2xx']:>8}")


def bench_relay(args: argparse.Namespace) -> None:
    """The relay's rate from the PostgreSQL log to JetStream, against nats-py's own publish rate."""
    import asyncio

    import nats

    from domain.follows.application import FollowCommand
    from workers.relay import relay_for

    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        stream = f"BENCH{uuid.uuid4().hex[:8]}"
        env = env_for("postgres", Path(tmp), schema) | {
            "PEERLEDGER_PROJECTIONS": "external", "PEERLEDGER_NATS_STREAM": stream,
            "PEERLEDGER_NATS_SUBJECT_PREFIX": stream.lower()}
        nodes = []
        if args.cluster:  # three nats-server processes of this run's own, the streams at 3 replicas
            from tests.cluster.engines import start_nats_cluster

            nodes = start_nats_cluster(Path(tmp) / "nats")
            env |= {"PEERLEDGER_NATS_URL": ",".join(n.url for n in nodes), "PEERLEDGER_NATS_REPLICAS": "3"}
            print("NATS: a 3-node cluster on loopback, streams at 3 replicas")
        settings = Settings.from_env(env)
        services = Services(settings)
        researchers = [uuid.uuid4() for _ in range(100)]
        for _ in range(args.events // 500):
            services.follows.apply_all([FollowCommand(uuid.uuid4(), random.choice(researchers), True, confirmed=True)
                                        for _ in range(500)], known=set(researchers), owners={})
        events = services.follows.recorder.max_notification_id() or 0

        async def baseline() -> float:
            nc = await nats.connect(servers=list(settings.nats_urls))
            js = nc.jetstream()
            name = stream + "BASE"
            await js.add_stream(name=name, subjects=[f"{name.lower()}.>"], num_replicas=settings.nats_replicas)
            payload = b"x" * 200
            started = time.perf_counter()
            for start in range(0, events, 1_000):
                await asyncio.gather(*(js.publish(f"{name.lower()}.a", payload, stream=name,
                                                  headers={"Nats-Msg-Id": str(n)})
                                       for n in range(start, min(start + 1_000, events))))
            seconds = time.perf_counter() - started
            await js.delete_stream(name)
            await nc.close()
            return events / seconds

        async def relayed() -> float:
            relay = relay_for(services, settings)
            stop = asyncio.Event()
            started = time.perf_counter()
            task = asyncio.create_task(relay.run(stop))
            while relay.position(services.follows.name) < events:
                await asyncio.sleep(0.01)
            seconds = time.perf_counter() - started
            stop.set()
            await task
            nc = await nats.connect(servers=list(settings.nats_urls))
            await nc.jetstream().delete_stream(stream)
            await nc.close()
            return events / seconds

        base = asyncio.run(baseline())
        rate = asyncio.run(relayed())
        services.close()
        print(f"baseline, nats-py publishing {events:,} 200-byte messages with Msg-Id, 1,000 in flight: "
              f"{base:,.0f} msgs/s")
        print(f"relay, {events:,} follow events from PostgreSQL to JetStream, position saved per 1,000: "
              f"{rate:,.0f} events/s ({rate / base:.0%} of the baseline)")
        for node in nodes:
            node.stop()


def bench_lag(args: argparse.Namespace) -> None:
    """End-to-end lag from a follow's commit to the follower counts, with the projections worker in its
    own process, under a steady rate of follow commands."""
    from domain.follows.application import FollowCommand

    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        env = env_for("postgres", Path(tmp), schema) | {"PEERLEDGER_PROJECTIONS": "external"}
        services = Services(Settings.from_env(env))
        worker = subprocess.Popen([sys.executable, "-m", "peerledger", "worker", "projections", "followers"],
                                  env={**os.environ, **env, "PEERLEDGER_LOG_LEVEL": "WARNING"},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        researchers = [uuid.uuid4() for _ in range(1_000)]
        committed: list[tuple[int, float]] = []
        seen: dict[int, float] = {}
        done = threading.Event()

        def watch() -> None:
            while not done.is_set() or (committed and max(seen, default=0) < committed[-1][0]):
                position = services.followers_runner.position()
                now = time.perf_counter()
                for pos, _ in committed:
                    if pos <= position and pos not in seen:
                        seen[pos] = now
                time.sleep(0.002)

        time.sleep(3)  # the worker is up
        watcher = threading.Thread(target=watch)
        watcher.start()
        per_tick = max(1, args.rate // 100)  # a group of commands every 10 ms
        started = time.perf_counter()
        ticks = args.seconds * 100
        for tick in range(ticks):
            outcomes = services.follows.apply_all(
                [FollowCommand(uuid.uuid4(), random.choice(researchers), True, confirmed=True) for _ in range(per_tick)],
                known=set(researchers), owners={})
            committed.append((outcomes[-1].position, time.perf_counter()))
            time.sleep(max(0.0, started + (tick + 1) / 100 - time.perf_counter()))
        rate = ticks * per_tick / (time.perf_counter() - started)
        done.set()
        watcher.join(timeout=60)
        worker.terminate()
        worker.wait(timeout=10)
        services.close()
        lags = sorted((seen[pos] - at) * 1000 for pos, at in committed if pos in seen)
        print(f"follow commands at {rate:,.0f}/s for {args.seconds} s, {len(lags):,} commits watched; "
              f"projections worker in its own process, PostgreSQL")
        print(f"lag from commit to follower counts: p50 {lags[len(lags) // 2]:.0f} ms, "
              f"p99 {lags[int(len(lags) * 0.99)]:.0f} ms, max {lags[-1]:.0f} ms")


def bench_logins(args: argparse.Namespace) -> None:
    import argon2


    defaults = Settings.from_env({})
    hasher = argon2.PasswordHasher(time_cost=defaults.argon2_time_cost, memory_cost=defaults.argon2_memory_kib,
                                   parallelism=defaults.argon2_parallelism)
    started = time.perf_counter()
    for _ in range(10):
        hasher.hash("benchmark password")
    one_hash_ms = (time.perf_counter() - started) / 10 * 1000
    print(f"argon2id (t={defaults.argon2_time_cost}, m={defaults.argon2_memory_kib // 1024} MiB, "
          f"p={defaults.argon2_parallelism}): {one_hash_ms:.0f} ms per hash, one thread")

    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        env = env_for("postgres", Path(tmp), schema) | {
            "PEERLEDGER_RATE_LIMIT_SCALE": "1000000",  # the limits are counted, but do not refuse
        }
        services = Services(Settings.from_env(env | {"PEERLEDGER_ARGON2_TIME_COST": str(defaults.argon2_time_cost)}))
        for n in range(args.accounts):
            services.accounts.register(f"bench-{n}@example.org", f"benchmark password {n}", f"Bench {n}")
        services.close()
        with serving(env) as base:
            search = base + "/researchers?q=bench"  # a blocking route: it needs a worker thread
            quiet = wrk(base + "/health", args.seconds, 4)
            quiet_search = wrk(search, args.seconds, 4)
            script = Path(__file__).resolve().parent / "login_flood.lua"
            flood = subprocess.Popen(
                ["wrk", "-t1", f"-c{args.connections}", f"-d{2 * (args.seconds // 2) + 2}s", "--timeout", "30s",
                 "--latency",
                 "-s", str(script),
                 base + "/"],
                stdout=subprocess.PIPE, text=True, env={**os.environ, "ACCOUNTS": str(args.accounts)},
            )
            time.sleep(1)
            half = max(1, args.seconds // 2)
            during = wrk(base + "/health", half, 4)
            during_search = wrk(search, half, 4)
            out = flood.communicate()[0]
            logins = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
            lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            timeouts = re.search(r"timeout (\d+)", out)
    print(f"logins over HTTP, PostgreSQL, wrk -c{args.connections}, {args.accounts} accounts, one uvicorn process: "
          f"{logins:,.1f} logins/s, p50 {lat.get('50')}, p99 {lat.get('99')}, "
          f"non-2xx {int(errors.group(1)) if errors else 0}, timeouts {int(timeouts.group(1)) if timeouts else 0}")
    print(f"{'4 connections':<44} {'req/s':>9} {'p50':>9} {'p99':>9}")
    for label, r in (("/health, quiet (baseline)", quiet), ("/health, during the login flood", during),
                     ("/researchers?q= (thread), quiet (baseline)", quiet_search),
                     ("/researchers?q= (thread), during the flood", during_search)):
        print(f"{label:<44} {r['rps']:>9,.0f} {r['p50']:>9} {r['p99']:>9}")


def pgbench_inserts(schema: str, seconds: int) -> float:
    """PostgreSQL's own rate for single-row insert transactions at 8 clients (the baseline)."""
    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute(f'CREATE TABLE "{schema}".pgbench_inserts (id bigserial PRIMARY KEY, v int)')
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(f'INSERT INTO "{schema}".pgbench_inserts (v) VALUES (1);\n')
        script.flush()
        out = subprocess.run(
            ["pgbench", "-n", "-c", "8", "-j", "2", "-T", str(seconds), "-f", script.name,
             "-h", PG["POSTGRES_HOST"], "-p", PG["POSTGRES_PORT"], "-U", "postgres", PG["POSTGRES_DBNAME"]],
            capture_output=True, text=True, check=True,
        ).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def bench_follows(args: argparse.Namespace) -> None:
    from projections.followers.projection import FollowersProjection
    from projections.runner import BatchProjectionRunner
    from bootstrap.services import VIEW_CLASSES, store_env
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        baseline = pgbench_inserts(schema, args.seconds)
        env = env_for("postgres", Path(tmp), schema) | {
            "PEERLEDGER_ARGON2_TIME_COST": "1", "PEERLEDGER_ARGON2_MEMORY_KIB": "8192",
            "PEERLEDGER_ARGON2_PARALLELISM": "1", "PEERLEDGER_RATE_LIMIT_SCALE": "1000000",
            # Production's shape: API processes record events, a worker process builds the read models.
            "PEERLEDGER_PROJECTIONS": "external",
            "PEERLEDGER_WORKERS": str(args.api_processes),
        }
        settings = Settings.from_env(env)
        services = Services(settings)
        works = [work(w + 1, [author(w * 5 + i + 1) for i in range(5)]) for w in range(args.researchers // 5)]
        path = Path(tmp) / "works.jsonl"
        path.write_text("\n".join(json.dumps(x) for x in works))
        import_file(services.catalogue, path)
        for n in range(args.accounts):  # confirmed, as only confirmed accounts may follow
            register_confirmed(services, f"follower-{n}@example.org", f"Follower {n}", "benchmark password")
        services.profiles_runner.catch_up()
        services.close()
        tokens_file = Path(tmp) / "tokens.txt"
        worker = None
        if args.worker:  # production's shape; --no-worker measures the write path alone
            worker = subprocess.Popen([sys.executable, "-m", "peerledger", "worker", "projections"],
                                      env={**os.environ, **env, "PEERLEDGER_LOG_LEVEL": "WARNING"},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with serving(env) as base:
            tokens = [httpx.post(base + "/auth/login", json={"email": f"follower-{n}@example.org",
                                                             "password": "benchmark password"}).json()["access_token"]
                      for n in range(args.accounts)]
            tokens_file.write_text("\n".join(tokens) + "\n")
            script = Path(__file__).resolve().parent / "follow_flood.lua"
            out = subprocess.run(
                ["wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", str(script),
                 base + "/"],
                capture_output=True, text=True, check=True,
                env={**os.environ, "TOKENS_FILE": str(tokens_file), "RESEARCHERS": str(args.researchers)},
            ).stdout
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=10)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        print(f"follows over HTTP (PUT /me/following), PostgreSQL, wrk -c{args.connections}, {args.accounts} accounts, "
              f"{args.api_processes} API process(es), {'a' if args.worker else 'no'} projections worker: {rps:,.0f} follows/s, p50 {lat.get('50')}, p99 {lat.get('99')}, "
              f"non-2xx {int(errors.group(1)) if errors else 0}")
        print(f"baseline, pgbench single-row insert transactions at 8 clients: {baseline:,.0f}/s "
              f"(follows reach {rps / baseline:.0%} of it)")

        # Catch-up of the follower counts from scratch over the events just written.
        services = Services(settings)
        try:
            events = services.follows.recorder.max_notification_id() or 0
            for label, batch in (("one event per transaction (baseline)", 1), ("batches of 5,000", 5_000)):
                name = f"followers_bench_{batch}"
                factory = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
                view = factory.tracking_recorder(VIEW_CLASSES["followers"][settings.persistence_module])
                runner = BatchProjectionRunner(services.follows, FollowersProjection(view), batch_size=batch)
                started = time.perf_counter()
                if batch == 1:  # a sample is enough for the slow baseline
                    done = 0
                    while done < min(events, 3_000) and (n := runner.run_batch()):
                        done += n
                else:  # as the projections worker catches up: reading ahead while writing
                    done = runner.catch_up()
                seconds = time.perf_counter() - started
                print(f"follower counts catch-up, {label}: {done:,} events in {seconds:.2f}s = {done / seconds:,.0f} events/s")
                factory.close()
        finally:
            services.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="bench", required=True)
    imp = sub.add_parser("import")
    imp.add_argument("--works", type=int, default=10_000)
    imp.add_argument("--baseline-works", type=int, default=1_000)
    imp.add_argument("--batch", type=int, default=1_000)
    imp.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    reads = sub.add_parser("reads")
    reads.add_argument("--researchers", type=int, default=10_000)
    reads.add_argument("--seconds", type=int, default=10)
    reads.add_argument("--connections", type=int, default=32)
    reads.add_argument("--rounds", type=int, default=3)
    logins = sub.add_parser("logins")
    logins.add_argument("--accounts", type=int, default=16)
    logins.add_argument("--seconds", type=int, default=10)
    logins.add_argument("--connections", type=int, default=16)
    lag = sub.add_parser("lag")
    lag.add_argument("--rate", type=int, default=1_000)
    lag.add_argument("--seconds", type=int, default=10)
    relay = sub.add_parser("relay")
    relay.add_argument("--events", type=int, default=50_000)
    relay.add_argument("--cluster", action="store_true", help="through a 3-node NATS cluster of its own (3 replicas)")
    graph = sub.add_parser("graph")
    graph.add_argument("--works", type=int, default=100_000)
    graph.add_argument("--researchers", type=int, default=50_000)
    graph.add_argument("--seconds", type=int, default=10)
    graph.add_argument("--connections", type=int, default=8)
    graph.add_argument("--uniform", dest="skewed", action="store_false",
                       help="uniform synthetic works instead of skewed ones (5 authors each, --researchers of them)")
    follows = sub.add_parser("follows")
    follows.add_argument("--researchers", type=int, default=10_000)
    follows.add_argument("--accounts", type=int, default=200)
    follows.add_argument("--seconds", type=int, default=10)
    follows.add_argument("--connections", type=int, default=32)
    follows.add_argument("--api-processes", type=int, default=2)
    follows.add_argument("--worker", action=argparse.BooleanOptionalAction, default=True,
                         help="run the projections worker during the flood (default: yes)")
    from bench import explorer, ingest, links, pages, replay, timetravel  # (they import this module: PgSchema, serving)

    for bench in (timetravel, replay, ingest, explorer, pages, links):
        bench.add_parser(sub)
    args = parser.parse_args()
    {"ingest": ingest.bench_ingest, "explorer": explorer.bench_explorer, "timetravel": timetravel.bench_timetravel,
     "pages": pages.bench_pages, "links": links.bench_links,
     "replay": replay.bench_replay, "import": bench_import, "reads": bench_reads, "logins": bench_logins,
     "follows": bench_follows,
     "graph": bench_graph, "relay": bench_relay, "lag": bench_lag}[args.bench](args)


if __name__ == "__main__":
    main()
