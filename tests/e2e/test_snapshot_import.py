"""`peerledger import` on OpenAlex's snapshot layout, run as an operator runs it: parts and manifest,
kill -9 and resume, damaged parts, --since and --jobs, and the embedded store beside the API."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.conftest import fresh_pg_schema, pg_dsn, settings_env
from tests.e2e.support import peerledger
from tests.factories import author, counts_from_snapshot, skewed_works, work, write_snapshot
from tests.schema_fuzz import free_port


def stored_events(env: dict[str, str]) -> list[tuple[str, int, str, dict[str, Any]]]:
    """Every catalogue event without its timestamp, in a stable order."""
    services = Services(Settings.from_env(env))
    try:
        recorder, events, start = services.catalogue.recorder, [], 1
        while page := recorder.select_notifications(start, 5_000):
            for n in page:
                state = json.loads(n.state)
                state.pop("timestamp")
                events.append((str(n.originator_id), n.originator_version, n.topic, state))
            start = page[-1].id + 1
        return sorted(events, key=lambda e: (e[0], e[1]))
    finally:
        services.close()


def profiles(env: dict[str, str]) -> dict[str, tuple[int, str | None]]:
    """Each profile's works and ORCID iD once the projections caught up."""
    services = Services(Settings.from_env(env))
    try:
        for runner in services.runners:
            runner.catch_up()
        found, after = {}, ""
        while page := services.profiles_view.profiles(after, 1_000):
            for researcher_id, doc in page:
                p = json.loads(doc)
                found[p["openalex_id"]] = (p["works_count"], p["orcid"])
            after = page[-1][0]
        return found
    finally:
        services.close()


def done_parts(env: dict[str, str]) -> int:
    path = Path(env["PEERLEDGER_DATA_DIR"]) / "security.sqlite"
    try:
        with sqlite3.connect(path, timeout=5) as c:
            return c.execute("SELECT count(*) FROM peerledger_import_parts").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def pg_done_parts(schema: str) -> int:
    with psycopg.connect(pg_dsn(), autocommit=True) as c:
        try:
            return c.execute(f'SELECT count(*) FROM "{schema}".peerledger_import_parts').fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> Path:
    """2,400 skewed works in 8 parts over 2 partitions."""
    return write_snapshot(tmp_path_factory.mktemp("snapshot"), skewed_works(2_400, seed=3), parts=8)


def test_a_run_killed_with_kill_9_resumes_and_equals_one_clean_run(tmp_path, snapshot):
    clean = settings_env(tmp_path / "clean")
    first = peerledger(clean, "import", str(snapshot.parent))
    assert first.returncode == 0, first.stderr
    killed = settings_env(tmp_path / "killed", PEERLEDGER_IMPORT_BATCH="50")
    run = peerledger(killed, "import", str(snapshot), background=True)
    while done_parts(killed) < 2 and run.poll() is None:
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)  # somewhere in the third part
    run.wait()
    assert 2 <= done_parts(killed) < 8, "the run was not killed part-way"
    again = peerledger(killed, "import", str(snapshot))
    assert again.returncode == 0, again.stderr
    assert "8 parts, 2 done before" in again.stdout or "done before" in again.stdout
    assert stored_events(killed) == stored_events(clean)
    assert profiles(killed) == counts_from_snapshot(snapshot)


@pytest.mark.services
def test_on_postgresql_a_run_killed_with_kill_9_resumes_and_equals_one_clean_run(tmp_path, snapshot):
    with fresh_pg_schema() as clean_schema, fresh_pg_schema() as killed_schema:
        clean = settings_env(tmp_path / "clean", clean_schema)
        assert peerledger(clean, "import", str(snapshot)).returncode == 0
        killed = settings_env(tmp_path / "killed", killed_schema, PEERLEDGER_IMPORT_BATCH="50")
        run = peerledger(killed, "import", str(snapshot), "--jobs", "2", background=True)
        while pg_done_parts(killed_schema) < 2 and run.poll() is None:
            time.sleep(0.02)
        os.kill(run.pid, signal.SIGKILL)  # its job processes die with it
        run.wait()
        assert 2 <= pg_done_parts(killed_schema) < 8, "the run was not killed part-way"
        again = peerledger(killed, "import", str(snapshot), "--jobs", "2")
        assert again.returncode == 0, again.stderr
        events = stored_events(killed)
        assert [e[:3] for e in events] == [e[:3] for e in stored_events(clean)]
        assert profiles(killed) == counts_from_snapshot(snapshot)


def test_jobs_import_parts_in_processes_with_the_same_result(tmp_path, snapshot):
    one = settings_env(tmp_path / "one")
    two = settings_env(tmp_path / "two")
    assert peerledger(one, "import", str(snapshot)).returncode == 0
    result = peerledger(two, "import", str(snapshot), "--jobs", "3")
    assert result.returncode == 0, result.stderr
    assert [e[:3] for e in stored_events(two)] == [e[:3] for e in stored_events(one)]
    assert profiles(two) == counts_from_snapshot(snapshot)


def small_snapshot(root: Path) -> Path:
    return write_snapshot(root, [work(n, [author(n), author(1)]) for n in range(1, 31)], parts=3, dates=3)


def test_a_truncated_part_is_named_and_left_and_the_others_import(tmp_path):
    folder = small_snapshot(tmp_path / "snap")
    part = folder / "updated_date=2024-02-01" / "part_000.gz"
    whole = part.read_bytes()
    part.write_bytes(whole[: len(whole) // 2])
    env = settings_env(tmp_path / "var")
    result = peerledger(env, "import", str(folder))
    assert result.returncode == 3, result.stderr
    assert "updated_date=2024-02-01/part_000.gz: cannot be read: Compressed file ended before the end-of-stream " \
           "marker was reached" in result.stderr
    assert "Traceback" not in result.stderr
    assert "3 parts, 0 done before, 2 done now, 1 left" in result.stdout
    assert peerledger(env, "import", str(folder)).returncode == 3  # still left, and said again
    part.write_bytes(whole)  # downloaded again
    fixed = peerledger(env, "import", str(folder))
    assert fixed.returncode == 0, fixed.stderr
    assert "3 parts, 2 done before, 1 done now, 0 left" in fixed.stdout
    assert profiles(env)["A1"] == (30, None)


def test_a_corrupt_part_is_named_and_left(tmp_path):
    folder = small_snapshot(tmp_path / "snap")
    part = folder / "updated_date=2024-03-01" / "part_000.gz"
    data = bytearray(part.read_bytes())
    data[40:60] = b"\xff" * 20
    part.write_bytes(bytes(data))
    result = peerledger(settings_env(tmp_path / "var"), "import", str(folder))
    assert result.returncode == 3
    assert "updated_date=2024-03-01/part_000.gz: cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_part_whose_count_disagrees_with_the_manifest_is_left(tmp_path):
    folder = small_snapshot(tmp_path / "snap")
    manifest = json.loads((folder / "manifest").read_text())
    manifest["entries"][0]["meta"]["record_count"] = 11
    (folder / "manifest").write_text(json.dumps(manifest))
    env = settings_env(tmp_path / "var")
    result = peerledger(env, "import", str(folder))
    assert result.returncode == 3
    assert ("updated_date=2024-01-01/part_000.gz: 10 records read, the manifest says 11; left for a later run "
            "(download the part again)") in result.stderr
    again = peerledger(env, "import", str(folder))
    assert again.returncode == 3 and "1 done before" not in again.stdout and "2 done before" in again.stdout


def test_a_part_listed_but_missing_is_left_and_a_part_not_listed_is_named(tmp_path):
    folder = small_snapshot(tmp_path / "snap")
    (folder / "updated_date=2024-01-01" / "part_000.gz").rename(folder / "updated_date=2024-01-01" / "part_009.gz")
    result = peerledger(settings_env(tmp_path / "var"), "import", str(folder))
    assert result.returncode == 3
    assert "updated_date=2024-01-01/part_000.gz: listed in the manifest but not in the folder" in result.stderr
    assert "updated_date=2024-01-01/part_009.gz: not listed in the manifest: left out" in result.stderr


def test_since_takes_partitions_of_that_date_and_newer(tmp_path):
    folder = small_snapshot(tmp_path / "snap")
    env = settings_env(tmp_path / "var")
    result = peerledger(env, "import", str(folder), "--since", "2024-02-01", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["parts_listed"], summary["parts_done"], summary["totals"]["works_created"]) == (2, 2, 20)
    assert profiles(env)["A1"] == (20, None)


@pytest.mark.parametrize(("make", "args", "message"), [
    (lambda root: root.mkdir(), (), "is a folder, but not an OpenAlex snapshot"),
    (lambda root: (root / "updated_date=2024-01-01").mkdir(parents=True), (), "no manifest file"),
    (lambda root: ((root / "updated_date=2024-01-01").mkdir(parents=True), (root / "manifest").write_text("{]")),
     (), "manifest: not an OpenAlex manifest"),
])
def test_a_folder_that_is_not_a_snapshot_exits_with_status_2(tmp_path, make, args, message):
    root = tmp_path / "snap"
    make(root)
    result = peerledger(settings_env(tmp_path / "var"), "import", str(root), *args)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1


def test_since_and_jobs_with_a_file_or_a_bad_value_exit_with_status_2(tmp_path):
    path = tmp_path / "works.jsonl"
    path.write_text(json.dumps(work(1, [author(1)])))
    env = settings_env(tmp_path / "var")
    result = peerledger(env, "import", str(path), "--jobs", "2")
    assert (result.returncode, result.stderr.strip()) == (
        2, f"peerledger import: --since and --jobs apply to a snapshot folder; {path} is a file")
    bad_date = peerledger(env, "import", str(path), "--since", "2024-02-30")
    assert bad_date.returncode == 2 and "'2024-02-30' is not a date in YYYY-MM-DD" in bad_date.stderr
    bad_jobs = peerledger(env, "import", str(path), "--jobs", "0")
    assert bad_jobs.returncode == 2 and "'0' is not a number of processes from 1 to 64" in bad_jobs.stderr


def test_bad_fields_of_authorships_are_warned_about_and_every_author_imports(tmp_path):
    bad_orcid = work(1, [author(1, orcid="https://orcid.org/0000-0002-1825-0098"), author(2)])
    many = work(2, [author(n) for n in range(1, 5_001)])
    twice = work(3, [author(1), author(3), author(1, orcid="https://orcid.org/0000-0002-1825-0097")])
    path = tmp_path / "works.jsonl"
    path.write_text("\n".join(json.dumps(w) for w in (bad_orcid, many, twice)) + "\n")
    env = settings_env(tmp_path / "var")
    result = peerledger(env, "import", str(path))
    assert result.returncode == 0, result.stderr
    assert "3 new, 0 corrected" in result.stdout
    assert ("line 1: authorships[1].author.orcid: 'https://orcid.org/0000-0002-1825-0098' is not a valid ORCID iD; "
            "left out") in result.stderr
    assert "line 3: authorships[3].author.id: A1 is listed already at authorships[1]; merged into it" in result.stderr
    found = profiles(env)
    assert len(found) == 5_000
    assert found["A1"] == (3, "0000-0002-1825-0097")
    assert found["A2"] == (2, None) and found["A3"] == (2, None) and found["A5000"] == (1, None)


def test_a_file_that_is_not_utf8_is_one_line_and_a_bad_line_is_reported(tmp_path):
    env = settings_env(tmp_path / "var")
    whole = tmp_path / "works.json"
    whole.write_bytes(b'[{"id": "W1",\n "title": "Caf\xe9"}]')
    result = peerledger(env, "import", str(whole))
    assert (result.returncode, result.stderr) == (
        2, "peerledger import: the input is not UTF-8: byte 0xe9 at line 2, column 15\n")
    lines = tmp_path / "works.jsonl"
    lines.write_bytes(json.dumps(work(1, [author(1)])).encode() + b'\n{"id": "W2", "title": "\xff"}\n')
    result = peerledger(env, "import", str(lines))
    assert result.returncode == 1
    assert "line 2: not UTF-8: byte 0xff at column 24" in result.stderr and "Traceback" not in result.stderr


def test_on_the_embedded_store_commands_run_beside_the_api_while_it_catches_up(tmp_path, snapshot):
    env = settings_env(tmp_path / "var")
    port = free_port()
    server = peerledger(env, "serve", "--port", str(port), background=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        registered = httpx.post(base + "/accounts", json={"email": "ops@example.org", "password": "a long enough password",
                                                           "display_name": "Op Erator"})
        assert registered.status_code == 201, registered.text
        imported = peerledger(env, "import", str(snapshot))
        assert imported.returncode == 0, imported.stderr
        # The API now catches up thousands of works, writing its read models, while these run.
        reads = [httpx.get(base + "/researchers/A1", timeout=10).status_code]
        granted = peerledger(env, "accounts", "grant", "ops@example.org", "admin")
        domains = peerledger(env, "institutions", "domains", "I1", "uni.example")
        more = tmp_path / "more.jsonl"
        more.write_text("\n".join(json.dumps(w) for w in skewed_works(300, seed=4, first_id=10_000)))
        again = peerledger(env, "import", str(more))
        reads.append(httpx.get(base + "/researchers/A1", timeout=10).status_code)
        for result in (granted, domains, again):
            assert result.returncode == 0, result.stderr
            assert "locked" not in result.stderr and "Traceback" not in result.stderr
        assert granted.stdout.strip() == "admin granted"
        assert set(reads) <= {200, 404}
    finally:
        server.terminate()
        server.wait(timeout=20)
