"""Engines of the test's own on loopback: PostgreSQL servers (a primary, a streaming standby made
with pg_basebackup) run as the postgres user on free ports, nats-server, and `peerledger worker`
processes pointed at them. Everything started here is stopped by the test that started it."""

from __future__ import annotations

import asyncio
import os
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nats
import psycopg
import pytest

BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None) if Path("/usr/lib/postgresql").exists() else None
NATS_SERVER = "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def needs_postgres_binaries() -> None:
    if BIN is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL's server binaries and root to run them as postgres")


def as_postgres(*args: str) -> None:
    subprocess.run(["su", "postgres", "-c", " ".join(args)], check=True, capture_output=True, timeout=120)


class PgServer:
    """A PostgreSQL server in a folder of its own. `standby_of` makes it a streaming hot standby of
    that server (pg_basebackup -R); otherwise a fresh primary (initdb; wal_level is replica)."""

    def __init__(self, standby_of: PgServer | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pl-pg-", dir="/tmp"))
        os.chmod(self.dir, 0o777)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data, self.port = self.dir / "data", free_port()
        if standby_of is None:
            as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        else:
            as_postgres(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(standby_of.port), "-U", "postgres",
                        "-D", str(self.data), "-R", "-X", "stream")

    @property
    def env(self) -> dict[str, str]:
        return {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": str(self.port), "POSTGRES_DBNAME": "postgres",
                "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": ""}

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def start(self) -> None:
        as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                    f"'-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200'", "start")

    def stop_immediately(self) -> None:
        as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        try:
            self.stop_immediately()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, statement: str) -> list[tuple]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(statement).fetchall()


class NatsServer:
    """nats-server with JetStream on a port and store folder of the test's own."""

    def __init__(self, store: Path) -> None:
        self.port, self.store, self.process = free_port(), store, None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                         "-sd", str(self.store)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class ClusterNode:
    """One of three nats-server processes clustered on loopback, JetStream on (stream replicas)."""

    def __init__(self, name: str, store: Path) -> None:
        self.name, self.store = name, store
        self.port, self.cluster_port = free_port(), free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, peers: list[ClusterNode]) -> None:
        routes = ",".join(f"nats://127.0.0.1:{p.cluster_port}" for p in peers if p is not self)
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store),
             "--server_name", self.name, "--cluster_name", "pl", "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
             "--routes", routes], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
            self.process = None


def start_nats_cluster(folder: Path, size: int = 3) -> list[ClusterNode]:
    """`size` clustered nats-server nodes with JetStream, ready (a meta leader elected)."""
    nodes = [ClusterNode(f"n{i}", folder / f"n{i}") for i in range(size)]
    for node in nodes:
        node.start(nodes)
    asyncio.run(_until_jetstream_ready([n.url for n in nodes]))
    return nodes


async def _quiet(_: Exception) -> None:
    """Nodes still starting refuse connections: expected here, not worth a traceback."""


async def _until_jetstream_ready(urls: list[str], timeout: float = 30) -> None:
    """Until the cluster has elected a JetStream meta leader (accounts info answers)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            nc = await nats.connect(servers=urls, connect_timeout=1, allow_reconnect=False, error_cb=_quiet)
            try:
                await nc.jetstream(timeout=2).account_info()
                return
            finally:
                await nc.close()
        except Exception:  # noqa: BLE001 - not ready yet
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def peerledger(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen:
    """`python -m peerledger ARGS` with only this environment's PEERLEDGER_/POSTGRES_ settings;
    its standard error goes to `log` (read by the test) or nowhere."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "POSTGRES_", "PERSISTENCE_"))}
    stderr = log.open("w") if log is not None else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "peerledger", *args], env=clean | env,
                            stdout=subprocess.DEVNULL, stderr=stderr)


def stop_all(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.terminate()
    for p in processes:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
