"""Import use cases for operators: a file (CLI, demo data) or a request body (POST /imports)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import msgspec

from domain.catalogue.application import Catalogue, ImportReport, WorkRecord
from adapters.openalex import Parsed, WorkFileReader, parse_bytes

MAX_REPORTED_PROBLEMS = 100


class RecordProblem(msgspec.Struct):
    where: str
    reason: str


class ImportSummary(msgspec.Struct, kw_only=True):
    """What an import did, for people (CLI) and programs (HTTP, `--json`)."""

    records_read: int = 0
    works_created: int = 0
    works_corrected: int = 0
    works_unchanged: int = 0
    researchers_created: int = 0
    events_written: int = 0
    malformed: int = 0
    problems: list[RecordProblem] = []
    warned: int = 0  # imported records with a field left out
    warnings: list[RecordProblem] = []
    position: int | None = None
    seconds: float = 0.0

    def absorb(self, report: ImportReport) -> None:
        self.works_created += report.works_created
        self.works_corrected += report.works_corrected
        self.works_unchanged += report.works_unchanged
        self.researchers_created += report.researchers_created
        self.events_written += report.events
        if report.position is not None:
            self.position = report.position

    def note_warnings(self, parsed: Parsed) -> None:
        self.warned += 1
        for warning in parsed.warnings:
            if len(self.warnings) < MAX_REPORTED_PROBLEMS:
                self.warnings.append(RecordProblem(parsed.where, warning))

    def note_problem(self, parsed: Parsed) -> None:
        self.malformed += 1
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(RecordProblem(parsed.where, parsed.error or "malformed"))


def import_stream(
    catalogue: Catalogue,
    parsed: Iterable[Parsed],
    batch_size: int,
    on_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    summary = ImportSummary()
    batch: list[WorkRecord] = []

    def flush() -> None:
        summary.absorb(catalogue.import_works(batch))
        batch.clear()
        summary.seconds = time.perf_counter() - started
        if on_batch:
            on_batch(summary)

    for item in parsed:
        summary.records_read += 1
        if item.record is None:
            summary.note_problem(item)
            continue
        if item.warnings:
            summary.note_warnings(item)
        batch.append(item.record)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    summary.seconds = time.perf_counter() - started
    return summary


def import_file(
    catalogue: Catalogue,
    path: Path,
    *,
    batch_size: int = 1_000,
    on_batch: Callable[[ImportSummary, WorkFileReader], None] | None = None,
) -> ImportSummary:
    """Import every good record of a file; bad ones are counted and reported, not fatal."""
    reader = WorkFileReader(path)
    callback = (lambda s: on_batch(s, reader)) if on_batch else None
    return import_stream(catalogue, reader, batch_size, callback)


class MalformedImportError(ValueError):
    """A request body with bad records: nothing of it was imported."""

    def __init__(self, summary: ImportSummary) -> None:
        super().__init__(f"{summary.malformed} malformed record(s); nothing was imported")
        self.summary = summary


def import_body(catalogue: Catalogue, data: bytes) -> ImportSummary:
    """All or nothing: the body is validated completely before anything is written."""
    parsed = list(parse_bytes(data))
    check = ImportSummary(records_read=len(parsed))
    for item in parsed:
        if item.record is None:
            check.note_problem(item)
    if check.malformed:
        raise MalformedImportError(check)
    # One transaction for the whole body, so a failure leaves nothing half-written.
    return import_stream(catalogue, parsed, max(1, len(parsed)))
