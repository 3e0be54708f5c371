"""Shared fixtures: settings for each real backend, each test in its own SQLite folder or PG schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import psycopg
import pytest

from bootstrap.services import Services
from bootstrap.settings import Settings

PG = {
    "POSTGRES_HOST": os.environ.get("POSTGRES_HOST", "127.0.0.1"),
    "POSTGRES_PORT": os.environ.get("POSTGRES_PORT", "5432"),
    "POSTGRES_DBNAME": os.environ.get("POSTGRES_DBNAME", "test"),
    "POSTGRES_USER": os.environ.get("POSTGRES_USER", "postgres"),
    "POSTGRES_PASSWORD": os.environ.get("POSTGRES_PASSWORD", ""),
}
DEMO = Path(__file__).resolve().parent.parent / "operations" / "demo_data" / "openalex-demo-works.json"


def pg_dsn() -> str:
    return (
        f"host={PG['POSTGRES_HOST']} port={PG['POSTGRES_PORT']} dbname={PG['POSTGRES_DBNAME']} "
        f"user={PG['POSTGRES_USER']} password={PG['POSTGRES_PASSWORD']}"
    )


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards (for one Hypothesis example too)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def fresh_services(backend: str, tmp_path: Path) -> Iterator[Services]:
    """Services on a fresh store of `backend` (a new schema on PostgreSQL), closed afterwards:
    one per Hypothesis example."""
    with (fresh_pg_schema() if backend == "postgres" else nullcontext(None)) as schema:
        services = Services(settings_for(backend, tmp_path, schema))
        try:
            yield services
        finally:
            services.close()


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with fresh_pg_schema() as schema:
        yield schema


# Password hashing at the lowest cost Argon2id allows here: the rules under test do not depend
# on the cost, and the suite would otherwise spend most of its time hashing.
CHEAP_HASHING = {
    "PEERLEDGER_ARGON2_TIME_COST": "1",
    "PEERLEDGER_ARGON2_MEMORY_KIB": "8192",
    "PEERLEDGER_ARGON2_PARALLELISM": "1",
}
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def settings_env(data_dir: Path, schema: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a test's settings: the embedded store in `data_dir`, or PostgreSQL in
    `schema`; also what a command run as a subprocess is given (tests/e2e/support.py: peerledger)."""
    env = {
        "PEERLEDGER_DATA_DIR": str(data_dir),
        "PEERLEDGER_DEMO_DATA": "no",
        "PEERLEDGER_SECRET_KEY": TEST_SECRET,
        **CHEAP_HASHING,
        **extra,
    }
    if schema is not None:
        env |= {"PERSISTENCE_MODULE": "eventsourcing.postgres", **PG, "POSTGRES_SCHEMA": schema}
    return env


def settings_for(backend: str, tmp_path: Path, schema: str | None, **extra: str) -> Settings:
    return Settings.from_env(settings_env(tmp_path / "var", (schema or "public") if backend == "postgres" else None,
                                          **extra))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    schema = request.getfixturevalue("pg_schema") if backend == "postgres" else None
    return settings_for(backend, tmp_path, schema)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    svc = Services(settings)
    yield svc
    svc.close()


@pytest.fixture
def pg_settings(tmp_path: Path, pg_schema: str) -> Settings:
    return settings_for("postgres", tmp_path, pg_schema)


# Tests that talk to PostgreSQL or NATS: marked `services`, so `scripts/test -m "not services"`
# runs the rest (unit tests, the embedded SQLite store, the command line on it) without them.
# tests/cluster starts engines of its own (nats-server, a PostgreSQL standby): services all.
NEEDS_SERVICES = {"pg_schema", "pg_settings"}
SERVICE_MODULES = {"test_relay", "test_pg_restart", "test_history_export", "test_projection_worker", "test_sql_store_locks"}


@pytest.fixture(autouse=True)
def problems_carry_declared_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every problem a TestClient receives is checked against its route's declared codes."""
    from litestar.testing import TestClient

    from tests.declared_codes import checked_request
    monkeypatch.setattr(TestClient, "request", checked_request)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (NEEDS_SERVICES & set(getattr(item, "fixturenames", ())) or params.get("backend") == "postgres"
                or "postgres" in item.name or item.module.__name__.rpartition(".")[2] in SERVICE_MODULES
                or item.module.__name__.startswith("tests.cluster.")):
            item.add_marker(pytest.mark.services)
