"""`peerledger replay`: read models rebuilt into a new version while the current one serves, readers
switched over at once; an interrupted replay resumes; a replay under read load fails no request and
never shows a count going backwards."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from litestar.testing import TestClient

from domain.catalogue.model import researcher_id_for
from domain.follows.application import FollowCommand, Follows
from operations.importing import import_body
from operations.replay import ReplayRunningError, drop_old, old_versions, replay, replay_lock, verify
from bootstrap.services import PROJECTIONS, VIEW_CLASSES, Services, store_env
from bootstrap.settings import Settings
from bootstrap.versions import version_prefix
from tests.conftest import CHEAP_HASHING, PG, TEST_SECRET, pg_dsn
from tests.factories import synthetic_works
from tests.integration.test_replay_verify import workload
from tests.e2e.support import started

READS = ["/researchers/A1", "/researchers/A2", "/researchers/A3", "/researchers/A1/works",
         "/researchers?q=", "/researchers/A2/trust", "/researchers/A1/graph?depth=2",
         "/researchers/A1/followers"]


def until(condition, timeout: float = 30.0) -> bool:
    """Polls `condition` until it holds (True) or the time is up (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def fresh(client: TestClient) -> None:
    """The API's in-memory replicas as the read models are now (they refresh on a timer)."""
    client.app.state.profile_cache.refresh()
    client.app.state.follower_counts.refresh()


def follow_many(apps: Any, researchers: list, count: int, rng: random.Random) -> None:
    """`count` new follows from new (confirmed) accounts: counts only go up. `apps` has `follows`."""
    known = set(researchers)
    for start in range(0, count, 1000):
        apps.follows.apply_all([FollowCommand(uuid.uuid4(), rng.choice(researchers), True, confirmed=True)
                                for _ in range(min(1000, count - start))], known=known, owners={})


def test_a_replay_builds_version_2_switches_readers_and_the_api_answers_the_same(settings):
    with started(settings) as client:
        api = client.app.state.services
        workload(api)
        assert api.wait_for_projections()
        fresh(client)
        before = {path: client.get(path).json() for path in READS}
        assert all(before.values())

        rebuilder = Services(settings)  # as `peerledger replay` does, in a process of its own
        try:
            built = replay(rebuilder)
        finally:
            rebuilder.close()

        assert [(b.projection, b.version, b.previous, b.resumed) for b in built] == \
            [(name, 2, 1, False) for name in PROJECTIONS]
        assert {name: row.version for name, row in api.versions.all().items()} == dict.fromkeys(PROJECTIONS, 2)
        assert until(lambda: all(api.version_of(name) == 2 for name in PROJECTIONS)), "the API did not move"
        assert client.app.state.profile_cache.view is api.profiles_view
        assert client.app.state.follower_counts.view is api.followers_view
        assert api.wait_for_projections()
        fresh(client)
        after = {path: client.get(path).json() for path in READS}
        assert after == before

        # The API's runners now build version 2: a new follow shows.
        count = before["/researchers/A1"]["followers_count"]
        follow_many(api, [researcher_id_for("A1")], 1, random.Random(1))
        assert until(lambda: client.get("/researchers/A1").json()["followers_count"] == count + 1)

        # Version 1 stays until dropped, and only once readers left it long enough ago.
        assert {(o.projection, o.version) for o in old_versions(api)} == {(name, 1) for name in PROJECTIONS}
        dropped, waiting = drop_old(api)
        assert (dropped, set(waiting)) == ([], set(PROJECTIONS))
        logged = {app.name: len(app.recorder.select_notifications(start=0, limit=10_000))
                  for app in (api.accounts, api.catalogue, api.claims, api.follows, api.invitations)}
        dropped, waiting = drop_old(api, grace=0)
        assert {(d.projection, d.version) for d in dropped} == {(name, 1) for name in PROJECTIONS}
        assert old_versions(api) == [] and client.get("/researchers/A1").status_code == 200
        # Only read models went: on SQLite version 1 of the invitations view shares its file with
        # the Invitations application's events, which stay.
        reopened = Services(settings)  # as after a restart: what is on disk now
        try:
            assert {app.name: len(app.recorder.select_notifications(start=0, limit=10_000)) for app in (
                reopened.accounts, reopened.catalogue, reopened.claims, reopened.follows, reopened.invitations)} == logged
        finally:
            reopened.close()
        assert logged["Invitations"] > 0


def test_readers_move_only_once_the_new_version_has_caught_up_with_the_old_one(settings):
    api = Services(settings)  # a process that runs the projections and serves reads
    rebuilder = Services(settings)
    try:
        researchers = [researcher_id_for("A1")]
        import_body(api.catalogue, json.dumps(synthetic_works(5, 3, authors_per_work=1, seed=2)).encode())
        follow_many(api, researchers, 3_000, random.Random(6))
        api.start_projections()
        assert api.wait_for_projections()
        replay(rebuilder, ["followers"])  # switched, with version 2 at the log's head
        # More follows before this process notices: on SQLite its runners put them in version 1 only.
        follow_many(api, researchers, 2_000, random.Random(7))
        if not settings.is_postgres:
            assert api.wait_for_projections()
        rid = str(researchers[0])
        # Version 2 is behind version 1 (SQLite), or version 1 stopped at the switch (PostgreSQL).
        before = 3_000 if settings.is_postgres else 5_000
        assert api.followers_view.counts_of([rid]) == {rid: (before, 0)}
        at_move: list[int] = []
        api.on_switch(lambda views: lambda: at_move.append(views["followers"].counts_of([rid])[rid][0]))

        assert api.check_versions()
        assert len(at_move) == 1 and at_move[0] >= before  # what readers see when they move: not less
        assert api.version_of("followers") == 2
        assert api.wait_for_projections()  # this process runs version 2's runners now
        assert api.followers_view.counts_of([rid]) == {rid: (5_000, 0)}
    finally:
        rebuilder.close()
        api.close()


@pytest.mark.postgres
def test_on_postgres_a_retired_version_refuses_batches_from_the_moment_of_the_switch(pg_settings):
    old = Services(pg_settings)  # a process that has not noticed the switch yet
    rebuilder = Services(pg_settings)
    try:
        researchers = [researcher_id_for("A1")]
        follow_many(old, researchers, 100, random.Random(8))
        assert old.followers_runner.catch_up() == 100
        replay(rebuilder, ["followers"])
        follow_many(old, researchers, 100, random.Random(9))

        assert old.followers_runner.catch_up() == 0
        assert old.followers_runner.position() == 100
        assert old.followers_view.counts_of([str(researchers[0])]) == {str(researchers[0]): (100, 0)}
    finally:
        rebuilder.close()
        old.close()


class Interrupted(Exception):
    pass


def test_an_interrupted_replay_resumes_and_ends_equal_to_a_rebuild_from_scratch(settings):
    services = Services(settings)
    try:
        rng = random.Random(3)
        import_body(services.catalogue, json.dumps(synthetic_works(30, 20, authors_per_work=3, seed=5)).encode())
        researchers = [researcher_id_for(f"A{n}") for n in range(1, 21)]
        follow_many(services, researchers, 12_000, rng)  # three batches of the followers projection
        for runner in services.runners:
            runner.catch_up()

        def stop_after_one_batch() -> None:
            raise Interrupted

        with pytest.raises(Interrupted):
            replay(services, ["followers"], on_batch=stop_after_one_batch)
        row = services.versions.all()["followers"]
        assert (row.version, row.building) == (1, 2)
        partial = services.open_view("followers", version=2)
        head = services.follows.recorder.max_notification_id()
        # On PostgreSQL the follows log goes in at once, set-wise (projections/bulk.py): the
        # interruption then comes after another log's first batch. On SQLite, mid-log.
        taken = partial.max_tracking_id(services.follows.name)
        assert (0 < taken <= head) if settings.is_postgres else (0 < taken < head)
        services.close_views([partial])

        follow_many(services, researchers, 2_000, rng)  # recorded while the replay was stopped
        built = replay(services, ["followers"])
        assert [(b.projection, b.version, b.resumed) for b in built] == [("followers", 2, True), ("trust", 2, True)]
        assert built[0].events < services.follows.recorder.max_notification_id()  # it went on from where it was
    finally:
        services.close()

    reader = Services(settings)  # reads version 2 of followers and trust
    try:
        assert (reader.version_of("followers"), reader.version_of("trust"), reader.version_of("profiles")) == (2, 2, 1)
        for runner in reader.runners:
            runner.catch_up()
        results = verify(reader, ["followers", "trust"])
        assert [(r.projection, r.differences) for r in results] == [("followers", []), ("trust", [])]
        assert results[0].rows > 14_000
    finally:
        reader.close()


def test_a_second_replay_at_the_same_time_is_refused(settings):
    services = Services(settings)
    try:
        with replay_lock(settings), pytest.raises(ReplayRunningError):
            replay(services, ["moderation"])
        assert services.versions.all()["moderation"].building is None
    finally:
        services.close()


def run_peerledger(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen:
    """The command as an operator runs it; a long-running one logs to `log` (a pipe nobody reads fills up)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "POSTGRES_", "PERSISTENCE_"))}
    command = [sys.executable, "-X", "faulthandler", "-m", "peerledger", *args]  # SIGABRT prints every thread
    if log is not None:
        with log.open("w") as f:
            return subprocess.Popen(command, env=clean | env, stdout=f, stderr=subprocess.STDOUT, text=True)
    return subprocess.Popen(command, env=clean | env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_replay_killed_mid_catch_up_resumes_where_it_stopped(tmp_path):
    env = {"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING}
    settings = Settings.from_env(env)
    services = Services(settings)
    try:
        import_body(services.catalogue, json.dumps(synthetic_works(30, 20, authors_per_work=3, seed=5)).encode())
        follow_many(services, [researcher_id_for(f"A{n}") for n in range(1, 21)], 40_000, random.Random(4))
        head = services.follows.recorder.max_notification_id()
        partial = tmp_path / "var" / "followers_v2.sqlite"  # read-only, beside the replay writing it

        def built_up_to() -> int:
            if not partial.exists():
                return 0
            try:
                with closing(sqlite3.connect(f"file:{partial}?mode=ro", uri=True, timeout=5)) as conn:
                    row = conn.execute("SELECT notification_id FROM tracking WHERE application_name = %r"
                                       % services.follows.name).fetchone()
            except sqlite3.DatabaseError:  # the file or its tables are not there yet
                return 0
            return row[0] if row else 0

        process = run_peerledger(env, "replay", "followers")
        try:
            assert until(lambda: built_up_to() > 0, 60), process.communicate()[1][-2000:]
            process.send_signal(signal.SIGKILL)
            process.wait()
            stopped_at = built_up_to()
            assert 0 < stopped_at < head, "killed too late to test resuming"
        finally:
            if process.poll() is None:
                process.kill()
        assert services.versions.all()["followers"].building == 2

        resumed = run_peerledger(env, "replay", "followers")
        out, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err[-2000:]
        assert f"followers: resuming version 2 at {stopped_at:,} of {head:,} events" in err
        assert "followers: version 2 resumed and built" in out
        assert "readers switched to followers version 2, trust version 2" in out
        assert f"kept until `peerledger replay --drop-old`: followers version 1: {tmp_path / 'var' / 'followers.sqlite'}" \
            in out
    finally:
        services.close()
    reader = Services(settings)
    try:
        assert [(r.projection, r.differences) for r in verify(reader, ["followers"])] == [("followers", [])]
    finally:
        reader.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_followers_view(settings: Settings, version: int):
    """A version of the followers read model, opened on its own (two connections, not a whole Services)."""
    name = version_prefix("followers", version)
    factory = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
    return factory, factory.tracking_recorder(VIEW_CLASSES["followers"][settings.persistence_module])


@pytest.mark.postgres
def test_a_replay_under_read_load_fails_no_request_and_no_count_goes_backwards(tmp_path, pg_schema):
    env = {"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
           "PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": pg_schema,
           "PEERLEDGER_PROJECTIONS": "external", "PEERLEDGER_LOG_LEVEL": "WARNING",
           # Three processes share PostgreSQL's 100 connections (and other tests may run beside them).
           "POSTGRES_MAX_OVERFLOW": "3"}
    settings = Settings.from_env(env)
    hot = [f"A{n}" for n in range(1, 9)]
    hot_ids = [researcher_id_for(a) for a in hot]
    rng = random.Random(5)
    setup = Services(settings)
    try:
        import_body(setup.catalogue, json.dumps(synthetic_works(300, 60, authors_per_work=3, seed=6)).encode())
        follow_many(setup, hot_ids, 30_000, rng)  # history for the replay to work through
    finally:
        setup.close()
    # From here on the test holds few connections: the API, the worker and the replay share
    # PostgreSQL's 100, and each of them opens a dozen pools.
    follows = Follows(env=store_env(settings, Follows.name))
    apps = SimpleNamespace(follows=follows)
    written = [30_000]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = run_peerledger(env, "worker", "projections", "profiles", "followers", "trust", log=tmp_path / "worker.log")
    server = run_peerledger(env, "serve", "--port", str(port), "--no-demo", log=tmp_path / "server.log")
    stop = threading.Event()
    failures: list[str] = []
    backwards: list[str] = []
    reads = [0] * 6

    def api_counts() -> dict[str, tuple[int, int]]:
        try:
            with httpx.Client(base_url=base, timeout=10) as http:
                docs = [http.get(f"/researchers/{a}").json() for a in hot]
        except (httpx.TransportError, ValueError):
            return {}
        return {d["id"]: (d["followers_count"], d["verified_followers_count"]) for d in docs if "id" in d}

    try:
        assert until(lambda: sum(n for n, _ in api_counts().values()) == written[0], 120), \
            (tmp_path / "server.log").read_text()[-2000:] + (tmp_path / "worker.log").read_text()[-2000:]

        def read(n: int) -> None:
            seen: dict[str, int] = {}
            with httpx.Client(base_url=base, timeout=10) as http:
                while not stop.is_set():
                    record = hot[(n + reads[n]) % len(hot)]
                    try:
                        r = http.get(f"/researchers/{record}")
                    except httpx.TransportError as e:
                        failures.append(f"{record}: {e!r}")
                        continue
                    reads[n] += 1
                    if r.status_code != 200:
                        failures.append(f"{record}: {r.status_code} {r.text[:200]}")
                        continue
                    count = r.json()["followers_count"]
                    if count < seen.get(record, 0):
                        backwards.append(f"reader {n}: {record} {seen[record]} -> {count}")
                    seen[record] = max(count, seen.get(record, 0))

        def write() -> None:
            while not stop.is_set():
                follow_many(apps, hot_ids, 50, rng)
                written[0] += 50
                stop.wait(0.02)

        threads = [threading.Thread(target=read, args=(n,)) for n in range(6)] + [threading.Thread(target=write)]
        for t in threads:
            t.start()
        assert until(lambda: sum(reads) > 200)
        replaying = run_peerledger(env, "replay", "followers", "profiles", log=tmp_path / "replay.log")
        try:
            replaying.wait(timeout=240)
        except subprocess.TimeoutExpired:
            replaying.send_signal(signal.SIGABRT)
            replaying.wait()
        out = (tmp_path / "replay.log").read_text()
        assert replaying.returncode == 0, out[-6000:]
        assert "readers switched to profiles version 2, followers version 2, trust version 2" in out
        switched_at = sum(reads)
        assert until(lambda: sum(reads) > switched_at + 500)  # reads go on after the switch
        stop.set()
        for t in threads:
            t.join(timeout=30)

        assert failures == []
        assert backwards == []
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            versions = dict(conn.execute(f'SELECT projection, version FROM "{pg_schema}".peerledger_projection_versions'
                                         " WHERE projection IN ('profiles', 'followers', 'trust')").fetchall())
        assert versions == {"profiles": 2, "followers": 2, "trust": 2}
        # Version 1 stopped at the switch; the worker builds version 2, and the API reads it.
        head = follows.recorder.max_notification_id()
        (f1, retired), (f2, current) = open_followers_view(settings, 1), open_followers_view(settings, 2)
        try:
            assert retired.max_tracking_id(follows.name) < head
            assert until(lambda: current.max_tracking_id(follows.name) == head)
            expected = current.counts_of([str(r) for r in hot_ids])
        finally:
            f1.close()
            f2.close()
        assert until(lambda: api_counts() == expected), (api_counts(), expected)
        assert sum(n for n, _ in expected.values()) == written[0]  # every follow counted, once
    finally:
        stop.set()
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        follows.close()
