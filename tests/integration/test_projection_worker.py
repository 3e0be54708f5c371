"""`peerledger worker projections` as operators run it, on PostgreSQL: a second worker for the same
projection waits; the first killed (-9) in the middle of its work, the second takes over within
5 s (the time is printed: about a second here), and the counts are exact."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from datetime import datetime

import httpx
import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from domain.follows.application import FollowCommand
from projections.followers.projection import FollowersProjection
from projections.runner import BatchProjectionRunner
from bootstrap.services import VIEW_CLASSES, Services, store_env
from bootstrap.settings import Settings
from tests.conftest import CHEAP_HASHING, PG, TEST_SECRET

pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(env: dict[str, str], *names: str, log: Path | None = None) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "POSTGRES_", "PERSISTENCE_"))}
    return subprocess.Popen([sys.executable, "-m", "peerledger", "worker", "projections", *names],
                            env=clean | env, stdout=subprocess.DEVNULL,
                            stderr=log.open("w") if log else subprocess.PIPE, text=True)


def test_a_second_worker_waits_and_takes_over_from_a_killed_one(tmp_path, pg_schema):
    env = {"PEERLEDGER_DATA_DIR": str(tmp_path / "var"), "PEERLEDGER_SECRET_KEY": TEST_SECRET, **CHEAP_HASHING,
           "PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": pg_schema,
           "PEERLEDGER_PROJECTIONS": "external", "PEERLEDGER_LOG_LEVEL": "INFO"}
    settings = Settings.from_env(env)
    services = Services(settings)
    researchers = [uuid.uuid4() for _ in range(30)]
    accounts = [uuid.uuid4() for _ in range(400)]
    rng = random.Random(9)

    def write() -> None:  # follows and unfollows while the workers run
        for _ in range(60):
            services.follows.apply_all([FollowCommand(rng.choice(accounts), rng.choice(researchers),
                                                      rng.random() < 0.75, confirmed=True) for _ in range(200)],
                                       known=set(researchers), owners={})
            time.sleep(0.1)

    first = worker(env, "followers")
    time.sleep(2.0)  # the first holds the projection
    metrics_port = free_port()
    second_log = tmp_path / "second.log"
    second = worker(env | {"PEERLEDGER_METRICS_PORT": str(metrics_port)}, "followers", log=second_log)
    writer = threading.Thread(target=write)
    writer.start()
    try:
        deadline = time.monotonic() + 60  # the second started (slowly on a busy machine) and waits
        while "projection followers is run by another worker: waiting" not in second_log.read_text():
            assert time.monotonic() < deadline, second_log.read_text()
            time.sleep(0.1)
        time.sleep(1.0)
        killed_at = time.time()
        first.kill()  # in the middle of its stream of batches
        first.wait()
        writer.join()
        head = services.follows.recorder.max_notification_id()
        deadline = time.monotonic() + 60
        while services.followers_runner.position() < head and time.monotonic() < deadline:
            time.sleep(0.2)
        assert services.followers_runner.position() == head
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text  # the worker's own metrics
        assert 'peerledger_projection_lag_events{projection="followers <- Follows"} 0' in scraped
        assert 'peerledger_projection_lag_seconds{projection="followers <- Follows"} 0' in scraped
        second.terminate()
        second.wait(timeout=20)
        log = second_log.read_text()
        assert "projection followers is run by another worker: waiting" in log
        assert "projection followers running" in log
        running = next(line for line in log.splitlines() if "projection followers running" in line)
        took_over = datetime.strptime(running[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp() - killed_at
        print(f"the standby ran the projection {took_over:.2f} s after the kill")
        assert took_over < 5.0, f"takeover took {took_over:.1f} s"

        name = "followers_recount"
        factory = InfrastructureFactory.construct(Environment(name, store_env(settings, name)))
        try:
            recount = factory.tracking_recorder(VIEW_CLASSES["followers"][settings.persistence_module])
            BatchProjectionRunner(services.follows, FollowersProjection(recount)).catch_up()
            assert sorted(services.followers_view.all_counts()) == sorted(recount.all_counts())
        finally:
            factory.close()
    finally:
        writer.join()
        for p in (first, second):
            if p.poll() is None:
                p.kill()
        services.close()
