"""An OpenAlex snapshot, from its first byte read to every profile being right, against reading it raw.

    python -m bench.run ingest [--works 5000] [--parts 8] [--backends sqlite postgres]
    python -m bench.run ingest --works 200000 --parts 40        # the issue's size

Writes skewed snapshot-shaped works (tests/factories.py: skewed_works; a few authors on thousands
of works, consortium papers of hundreds, accents and name variants, about 10% ORCID iDs) in the
snapshot layout with a manifest. Then, in the same run and on each backend, fresh each time:

- baseline: gunzip and JSON-parse every part (msgspec, in this process);
- `peerledger import` alone, with --jobs 1 and with --jobs 2;
- end to end: `peerledger worker projections profiles` started, then `peerledger import --jobs 2`,
  timed from the import's start until the profiles projection has every catalogue event; every
  profile's works and ORCID iD then checked against counts read straight from the files.

Each command runs in its own processes; peak resident memory is the largest VmHWM seen of each.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from bench.run import PgSchema, calibration_ms, env_for
from bootstrap.services import Services
from bootstrap.settings import Settings
from tests.factories import counts_from_snapshot, skewed_works, write_snapshot


def baseline(folder: Path) -> tuple[int, float]:
    decoder = msgspec.json.Decoder()
    started = time.perf_counter()
    works = 0
    for path in sorted(folder.glob("updated_date=*/*.gz")):
        with gzip.open(path, "rb") as f:
            for line in f:
                decoder.decode(line)
                works += 1
    return works, time.perf_counter() - started


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return pids


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


class Peaks:
    """The peak resident memory of each process of some process trees, in MiB, sampled."""

    def __init__(self) -> None:
        self.by_pid: dict[int, int] = {}

    def sample(self, *roots: subprocess.Popen) -> None:
        for root in roots:
            for pid in _tree(root.pid):
                self.by_pid[pid] = max(self.by_pid.get(pid, 0), _hwm(pid))

    def __str__(self) -> str:
        return ", ".join(f"{mib}" for mib in sorted(self.by_pid.values(), reverse=True)) + " MiB"


def peerledger(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "peerledger", *args],
                            env={**os.environ, **env, "PEERLEDGER_LOG_LEVEL": "WARNING"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_import(env: dict[str, str], folder: Path, jobs: int, peaks: Peaks, *others: subprocess.Popen) -> float:
    started = time.perf_counter()
    process = peerledger(env, "import", str(folder), "--jobs", str(jobs))
    while process.poll() is None:
        peaks.sample(process, *others)
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"import failed ({process.returncode}): {process.stderr.read()}")
    return seconds


def fresh(backend: str, tmp: Path, label: str) -> tuple[dict[str, str], PgSchema | None]:
    schema = PgSchema() if backend == "postgres" else None
    name = schema.__enter__() if schema else None
    env = env_for(backend, tmp / label, name) | {"PEERLEDGER_PROJECTIONS": "external"}
    return env, schema


def end_to_end(env: dict[str, str], folder: Path, works: int) -> tuple[float, float, Peaks, int]:
    """Seconds of the import, seconds until profiles caught up, peaks, profiles checked."""
    settings = Settings.from_env(env)
    Services(settings).close()  # the store's tables, so the worker and the import start alike
    peaks = Peaks()
    worker = peerledger(env, "worker", "projections", "profiles")
    time.sleep(2)  # the worker is up and idle
    started = time.perf_counter()
    imported = run_import(env, folder, 2, peaks, worker)
    services = Services(settings)
    try:
        head = services.catalogue.recorder.max_notification_id() or 0
        while services.profiles_runner.position() < head:
            peaks.sample(worker)
            time.sleep(0.1)
        caught_up = time.perf_counter() - started
        expected = counts_from_snapshot(folder)
        found, after = {}, ""
        while page := services.profiles_view.profiles(after, 5_000):
            for _, doc in page:
                p = msgspec.json.decode(doc)
                found[p["openalex_id"]] = (p["works_count"], p["orcid"])
            after = page[-1][0]
    finally:
        services.close()
        worker.terminate()
        worker.wait(timeout=30)
    wrong = sum(1 for key, counts in expected.items() if found.get(key) != counts) + len(set(found) - set(expected))
    if wrong:
        sys.exit(f"{wrong} profiles differ from the counts in the files")
    return imported, caught_up, peaks, len(expected)


def bench_ingest(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        folder = write_snapshot(tmp / "snapshot", skewed_works(args.works, seed=17), parts=args.parts, dates=4)
        size = sum(p.stat().st_size for p in folder.glob("updated_date=*/*.gz"))
        print(f"ingest: {args.works:,} skewed snapshot-shaped works in {args.parts} parts over 4 partitions "
              f"({size / 2**20:.1f} MiB gzipped, written in {time.perf_counter() - started:.0f} s); "
              f"machine calibration {calibration_ms():.0f} ms")
        works, seconds = baseline(folder)
        base = works / seconds
        print(f"{'backend':<9} {'what':<52} {'seconds':>8} {'works/s':>9} {'vs base':>8}  peak RSS per process")
        print(f"{'-':<9} {'baseline: gunzip + JSON parse of every part':<52} {seconds:>8.2f} {base:>9,.0f} "
              f"{'100%':>8}")
        for backend in args.backends:
            for jobs in (1, 2):
                env, schema = fresh(backend, tmp, f"{backend}-jobs{jobs}")
                try:
                    peaks = Peaks()
                    seconds = run_import(env, folder, jobs, peaks)
                finally:
                    if schema:
                        schema.__exit__(None, None, None)
                rate = works / seconds
                print(f"{backend:<9} {f'import alone, --jobs {jobs}':<52} {seconds:>8.2f} {rate:>9,.0f} "
                      f"{rate / base:>8.1%}  {peaks}")
            env, schema = fresh(backend, tmp, f"{backend}-e2e")
            try:
                imported, caught_up, peaks, checked = end_to_end(env, folder, works)
            finally:
                if schema:
                    schema.__exit__(None, None, None)
            rate = works / caught_up
            print(f"{backend:<9} {'end to end: import --jobs 2, profiles caught up':<52} {caught_up:>8.2f} "
                  f"{rate:>9,.0f} {rate / base:>8.1%}  {peaks}")
            print(f"{'':<9}   (the import itself took {imported:.2f} s; {checked:,} profiles equal the files' counts)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest")
    p.add_argument("--works", type=int, default=5_000, help="works in the snapshot (the issue's target: 200000)")
    p.add_argument("--parts", type=int, default=8)
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
