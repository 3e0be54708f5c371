"""Schemathesis against a live `peerledger serve` with the demo data, on the embedded default or
on PostgreSQL: anonymous, then signed in as an admin and moderator, with every check (CHECKS): no
5xx, every status, media type, body and header as the document declares, invalid input refused,
deleted things gone and created things readable. Exits 1 on any failure (some show on one store
only: PostgreSQL refuses NUL in text, SQLite does not).

    .venv/bin/python -m tests.schema_fuzz [SECONDS PER RUN] [sqlite|postgres]   (scripts/fuzz)
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import CHEAP_HASHING, PG, TEST_SECRET, fresh_pg_schema

PASSWORD = "a long enough fuzzing password"
# Every response conforms to the document: status, media type, body and headers; invalid input is
# refused; a deleted thing stays gone and a created one can be read (issue 16).
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
          "use_after_free", "ensure_resource_availability")
ADDRESS = "fuzz@example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peerledger(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "peerledger", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def wait_until_up(base: str, server: subprocess.Popen[str], log: Path) -> None:
    for _ in range(300):
        if server.poll() is not None:
            raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start")


def signed_in_token(base: str, env: dict[str, str], data_dir: Path) -> str:
    """An account whose address is confirmed, with the admin and moderator roles."""
    assert httpx.post(base + "/accounts", json={"email": ADDRESS, "password": PASSWORD,
                                                "display_name": "Fuzz Tester"}).status_code == 201
    mail = next(p.read_text() for p in sorted((data_dir / "mail").glob("*.eml")) if f"To: {ADDRESS}" in p.read_text())
    code = re.search(r"code is (\d{6})", mail).group(1)
    assert httpx.post(base + "/accounts/confirm", json={"email": ADDRESS, "code": code}).status_code == 200
    for role in ("admin", "moderator"):
        granted = peerledger(env, "accounts", "grant", ADDRESS, role)
        assert granted.returncode == 0, granted.stderr
    return httpx.post(base + "/auth/login", json={"email": ADDRESS, "password": PASSWORD}).json()["access_token"]


def fuzz(base: str, seconds: int, *headers: str, leave_out: tuple[str, ...] = ()) -> int:
    # One worker: with two, Hypothesis's lambda-source cache races in Python 3.11's ast module
    # ("AST constructor recursion depth mismatch"), a runtime error of the fuzzer, not of the API.
    command = [str(Path(sys.executable).with_name("st")), "run", f"{base}/schema/openapi.json",
               "--checks", ",".join(CHECKS), "--max-time", str(seconds), "--workers", "1",
               "--request-timeout", "20", "--suppress-health-check", "all"]
    for header in headers:
        command += ["-H", header]
    for operation in leave_out:
        command += ["--exclude-operation-id", operation]
    return subprocess.run(command, check=False).returncode


def main() -> int:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    store = sys.argv[2] if len(sys.argv) > 2 else "sqlite"
    with tempfile.TemporaryDirectory(prefix="pl-fuzz-") as folder:
        if store == "postgres":
            with fresh_pg_schema() as schema:
                return run(seconds, Path(folder), {"PERSISTENCE_MODULE": "eventsourcing.postgres", **PG,
                                                   "POSTGRES_SCHEMA": schema, "PEERLEDGER_SECRET_KEY": TEST_SECRET,
                                                   "PEERLEDGER_DEMO_DATA": "yes"})
        return run(seconds, Path(folder), {})


def run(seconds: int, folder: Path, store_env: dict[str, str]) -> int:
    data_dir = folder / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "POSTGRES_", "PERSISTENCE_"))}
    env |= {"PEERLEDGER_DATA_DIR": str(data_dir), "PEERLEDGER_RATE_LIMIT_SCALE": "1000",
            "PEERLEDGER_LOG_LEVEL": "WARNING", **CHEAP_HASHING, **store_env}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = folder / "server.log"
    with log.open("w") as server_log:  # a file, not a pipe: a server logging much never blocks on it
        server = subprocess.Popen([sys.executable, "-m", "peerledger", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=server_log, text=True)
        try:
            wait_until_up(base, server, log)
            token = signed_in_token(base, env, data_dir)
            label = store_env.get("PERSISTENCE_MODULE", "eventsourcing.sqlite").rpartition(".")[2]
            print(f"schemathesis on {label}, anonymous, {seconds} s", flush=True)
            anonymous = fuzz(base, seconds)
            print(f"schemathesis on {label}, signed in as an admin and moderator, {seconds} s", flush=True)
            # Erasing the account would end the run's session at its first call: left to the anonymous run.
            signed_in = fuzz(base, seconds, f"Authorization: Bearer {token}", leave_out=("MeErase",))
        finally:
            server.terminate()
            server.wait(timeout=30)
    if anonymous or signed_in:
        print(f"server log (last lines):\n{log.read_text()[-4000:]}")
    return 1 if anonymous or signed_in else 0


if __name__ == "__main__":
    sys.exit(main())
