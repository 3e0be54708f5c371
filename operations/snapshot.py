"""Imports OpenAlex's works snapshot as published: `updated_date=YYYY-MM-DD/part_NNN.gz` parts and
a `manifest`, part by part, resumably, in one process or several.

Each part is streamed (one batch of works in memory at a time), its records counted against the
manifest, and marked done in the ledger (adapters/import_ledger.py) only once all its events are
stored and its count agrees. A part that cannot be read to its end (a truncated or corrupt .gz)
or whose count disagrees is reported by name and left for a later run; the other parts go on.
The snapshot lists each work once, in the partition of its last update, so parts of different
dates may be imported side by side.
"""

from __future__ import annotations

import multiprocessing
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

from adapters.import_ledger import ImportLedger
from adapters.openalex import Parsed, UnreadableFileError, WorkFileReader
from operations.importing import ImportSummary, RecordProblem, import_stream

_PARTITION = re.compile(r"^updated_date=(\d{4}-\d{2}-\d{2})$")


class SnapshotError(ValueError):
    """The folder is not a snapshot that can be imported (no manifest, a manifest of another shape)."""


class ManifestMeta(msgspec.Struct):
    record_count: int | None = None
    content_length: int | None = None


class ManifestEntry(msgspec.Struct):
    url: str
    meta: ManifestMeta = msgspec.field(default_factory=ManifestMeta)


class Manifest(msgspec.Struct):
    entries: list[ManifestEntry]


@dataclass(frozen=True)
class Part:
    name: str  # inside the works folder: updated_date=2024-01-01/part_000.gz
    path: Path
    updated: date
    size: int
    expected_records: int | None  # what the manifest says


class PartResult(msgspec.Struct, kw_only=True):
    """What importing one part did; `problem` says why it is not done (None when it is)."""

    part: str
    done: bool = False
    problem: str | None = None
    summary: ImportSummary = msgspec.field(default_factory=ImportSummary)


class SnapshotSummary(msgspec.Struct, kw_only=True):
    """What a snapshot import did, for people (CLI) and programs (`--json`)."""

    folder: str
    parts_listed: int = 0  # in the manifest (and from --since on)
    parts_already_done: int = 0
    parts_done: int = 0
    parts_left: list[RecordProblem] = []  # part name, and why it is left for a later run
    totals: ImportSummary = msgspec.field(default_factory=ImportSummary)
    seconds: float = 0.0

    def absorb(self, result: PartResult) -> None:
        s, t = result.summary, self.totals
        for field in ("records_read", "works_created", "works_corrected", "works_unchanged",
                      "researchers_created", "events_written", "malformed", "warned"):
            setattr(t, field, getattr(t, field) + getattr(s, field))
        t.problems.extend(s.problems[: max(0, 100 - len(t.problems))])
        t.warnings.extend(s.warnings[: max(0, 100 - len(t.warnings))])
        if s.position is not None:
            t.position = max(t.position or 0, s.position)
        if result.done:
            self.parts_done += 1
        else:
            self.parts_left.append(RecordProblem(result.part, result.problem or "not done"))


def works_folder(path: Path) -> Path | None:
    """The snapshot's works folder: PATH itself, or PATH/works (the snapshot's root)."""
    for folder in (path, path / "works"):
        if folder.is_dir() and ((folder / "manifest").is_file() or any(folder.glob("updated_date=*"))):
            return folder
    return None


def _part_name(url: str) -> str:
    """`updated_date=.../part_000.gz` from the manifest's s3:// URL (or a path)."""
    at = url.find("updated_date=")
    if at < 0:
        raise SnapshotError(f"manifest entry {url!r} does not name an updated_date=YYYY-MM-DD partition")
    return url[at:]


def list_parts(folder: Path, since: date | None = None) -> tuple[list[Part], list[RecordProblem]]:
    """The parts the manifest lists (from `since` on, that date included), oldest partition first,
    and the problems found before reading any: parts listed but missing, files the manifest
    does not list (left out: their counts cannot be checked)."""
    manifest_path = folder / "manifest"
    if not manifest_path.is_file():
        raise SnapshotError(f"{folder}: no manifest file; it lists the parts and their record counts, "
                            f"download it with the parts")
    try:
        manifest = msgspec.json.decode(manifest_path.read_bytes(), type=Manifest)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, OSError) as e:
        raise SnapshotError(f"{manifest_path}: not an OpenAlex manifest ({e})") from None
    parts: list[Part] = []
    problems: list[RecordProblem] = []
    listed: set[str] = set()
    for entry in manifest.entries:
        name = _part_name(entry.url)
        listed.add(name)
        partition = _PARTITION.match(name.split("/")[0])
        if partition is None:
            raise SnapshotError(f"manifest entry {entry.url!r}: not updated_date=YYYY-MM-DD/part_NNN.gz")
        try:
            updated = date.fromisoformat(partition.group(1))
        except ValueError:
            raise SnapshotError(f"manifest entry {entry.url!r}: {partition.group(1)} is not a date") from None
        if since is not None and updated < since:
            continue
        path = folder / name
        if not path.is_file():
            problems.append(RecordProblem(name, "listed in the manifest but not in the folder (not downloaded?)"))
            continue
        parts.append(Part(name, path, updated, path.stat().st_size, entry.meta.record_count))
    for path in sorted(folder.glob("updated_date=*/*.gz")):
        name = path.relative_to(folder).as_posix()
        if name not in listed:
            problems.append(RecordProblem(name, "not listed in the manifest: left out (its record count cannot "
                                                "be checked); download the manifest again"))
    parts.sort(key=lambda p: (p.updated, p.name))
    return parts, problems


def import_part(services: Any, part: Part, *, batch_size: int, ledger: ImportLedger) -> PartResult:
    """Import one part; mark it done when every record was read, stored, and counted as the
    manifest says."""
    with ledger.claim(part.name) as held:
        if not held:
            return PartResult(part=part.name, problem="being imported by another process; run again once it is done")
        if (part.name, part.size) in ledger.done():  # done by another process while this one waited
            return PartResult(part=part.name, done=True)
        unreadable: list[str] = []

        def records() -> Iterator[Parsed]:
            try:
                yield from WorkFileReader(part.path)
            except UnreadableFileError as e:
                unreadable.append(str(e))

        summary = import_stream(services.catalogue, records(), batch_size)
        for item in (*summary.problems, *summary.warnings):
            item.where = f"{part.name} {item.where}"
        result = PartResult(part=part.name, summary=summary)
        if unreadable:
            result.problem = unreadable[0].replace(f"{part.path}: ", "") + \
                f"; the {summary.records_read:,} records before that were imported, the part is left for a later run"
        elif part.expected_records is not None and summary.records_read != part.expected_records:
            result.problem = (f"{summary.records_read:,} records read, the manifest says {part.expected_records:,}; "
                              f"left for a later run (download the part again)")
        else:
            ledger.mark_done(part.name, part.size, summary.records_read, summary.events_written)
            result.done = True
        return result


# One Services per job process, opened when the process starts.
_job: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Linux: this job ends when the importing process does (kill -9 included), so the next run
    does not find its parts still held by jobs of the last one."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere a job finishes its part, then finds its parent gone and stops


def _open_job(settings: Any, batch_size: int) -> None:
    from multiprocessing.util import Finalize

    from bootstrap.collector import tune_collector
    from bootstrap.services import Services

    _die_with_parent()
    tune_collector()
    try:
        services = Services(settings)
        _job.update(services=services, ledger=ImportLedger(services.sql), batch_size=batch_size)
    except Exception as e:  # noqa: BLE001 - raised by the first part instead: the pool would start us again and again
        _job["failed"] = e
        return
    Finalize(services, services.close, exitpriority=10)


def _run_job(part: Part) -> PartResult:
    if "failed" in _job:
        raise _job["failed"]
    return import_part(_job["services"], part, batch_size=_job["batch_size"], ledger=_job["ledger"])


def import_snapshot(
    settings: Any,
    folder: Path,
    *,
    since: date | None = None,
    jobs: int = 1,
    batch_size: int = 1_000,
    on_part: Callable[[PartResult, SnapshotSummary], None] | None = None,
) -> SnapshotSummary:
    """Import every part not done yet, in `jobs` processes (each with its own Services)."""
    from bootstrap.services import Services, sql_store

    started = time.perf_counter()
    parts, problems = list_parts(folder, since)
    result = SnapshotSummary(folder=str(folder), parts_listed=len(parts) + sum(
        1 for p in problems if "listed in the manifest but not" in p.reason))
    result.parts_left.extend(problems)
    # One process imports here; several each open their own Services, and this one only the ledger.
    services = Services(settings) if jobs <= 1 else None
    sql = services.sql if services is not None else sql_store(settings)
    try:
        ledger = ImportLedger(sql)
        done = ledger.done()
        todo = [p for p in parts if (p.name, p.size) not in done]
        result.parts_already_done = len(parts) - len(todo)

        def finished(part_result: PartResult) -> None:
            result.absorb(part_result)
            result.seconds = time.perf_counter() - started
            if on_part:
                on_part(part_result, result)

        if services is not None:
            for part in todo:
                finished(import_part(services, part, batch_size=batch_size, ledger=ledger))
        elif todo:
            for part_result in _in_processes(settings, todo, jobs, batch_size):
                finished(part_result)
    finally:
        (services or sql).close()
    result.seconds = time.perf_counter() - started
    return result


def _in_processes(settings: Any, todo: list[Part], jobs: int, batch_size: int) -> Iterable[PartResult]:
    # spawn: a fresh interpreter per job, not a fork of this one's pools, threads and connections.
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(jobs, len(todo)), initializer=_open_job, initargs=(settings, batch_size),
                      maxtasksperchild=None) as pool:
        yield from pool.imap_unordered(_run_job, todo)
        pool.close()
        pool.join()
