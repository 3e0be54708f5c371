"""Runs a batch projection over an application's notification log, exactly once per event.

Each batch of events and the tracking row of its last notification are written in one
transaction, so a crash repeats at most an uncommitted batch. Reads are always "greater
than the last id seen": notification ids have gaps, and a gap is never treated as loss.
Works on SQLite (which has no subscriptions) by polling, woken early by `wake()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Tracking

from projections.bulk import NotBulkable, RawLog
from projections.sqlview import BatchTracking, ViewRetiredError

log = logging.getLogger(__name__)


class BatchProjection(Protocol):
    name: str
    topics: tuple[str, ...]
    view: Any

    def process_batch(self, events: list[Any], tracking: Tracking) -> None: ...

    # Optional: `caught_up()`, called when a runner that says whether it is behind (says_behind)
    # reads nothing new (ProfilesProjection writes the documents it left for later).
    # Optional on the view: `commit_pending()` and `roll_back_pending(application_name)`, for a
    # view that keeps a transaction open across one log's batches (ProfilesView on SQLite, behind
    # an import): the runner commits what is pending when it stops, and rolls back its own log's
    # batches when one of them fails.


@dataclass(frozen=True)
class FailedEvent:
    """The event a failing projection cannot get past: shown in /ready and /metrics."""

    application: str
    notification_id: int
    topic: str

    def __str__(self) -> str:
        return f"{self.application} event {self.notification_id} ({self.topic.rpartition(':')[2]})"


class PollingRunner:
    """A runner's thread and its waits: `run_batch` in a loop, woken early by `wake()`, a failing
    batch retried with back-off (and shown in `error`, with the event in `failed_event` where it
    is known), a conflict with another runner re-read.
    Subclasses give name, position(), head() and run_batch()."""

    name: str
    projection_name: str
    applications: tuple[str, ...] = ()  # whose logs (or views' changes) it reads: changes there wake it

    def __init__(self, *, poll_interval: float = 0.05) -> None:
        self.poll_interval = poll_interval  # the first back-off after a failure
        self.idle_wait = poll_interval  # how long it waits for a wake-up before looking anyway
        self.error: BaseException | None = None
        self.failed_event: FailedEvent | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Its thread and a caller of catch_up (expiry, say) take turns: one batch at a time.
        self._driving = threading.RLock()
        # Called after each batch that changed the view (committed): wakes its readers in this process.
        self.on_applied: Callable[[], None] | None = None

    def position(self) -> int:
        raise NotImplementedError

    def head(self) -> int:
        raise NotImplementedError

    def run_batch(self) -> int:
        raise NotImplementedError

    def catch_up(self, on_batch: Callable[[], None] | None = None) -> int:
        """Process until nothing is left (or the view is retired); returns how much was processed.
        `on_batch` is called after each batch (progress)."""
        with self._driving:
            return self._catch_up(on_batch)

    def _catch_up(self, on_batch: Callable[[], None] | None) -> int:
        total = 0
        while True:
            try:
                n = self._run_batch()
            except IntegrityError:
                continue  # another runner recorded this first: nothing applied twice; read again
            except ViewRetiredError:
                return total
            if not n:
                return total
            total += n
            if on_batch is not None:
                on_batch()

    def _run_batch(self) -> int:
        processed = self.run_batch()
        if processed:
            self._applied()
        else:
            self._caught_up()
        return processed

    def _caught_up(self) -> None:
        """Nothing new to read: a projection that keeps work for later (caught_up) does it now."""

    def _applied(self) -> None:
        """A batch committed: wake the view's readers in this process."""
        if self.on_applied is not None:
            try:
                self.on_applied()
            except Exception:  # noqa: BLE001 - waking readers must not fail a committed batch
                log.exception("waking the readers of %s failed", self.name)

    def start(self) -> None:
        """Start (or start again after stop) following the log in a thread."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=f"projection-{self.name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait(self, position: int, timeout: float) -> bool:
        """Block until the view has processed `position` (read-your-writes), or time out."""
        deadline = time.monotonic() + timeout
        self.wake()
        while self.position() < position:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _loop(self) -> None:
        backoff = self.poll_interval
        while not self._stopping.is_set():
            try:
                with self._driving:
                    processed = self._run_batch()
            except IntegrityError:
                # Another runner recorded this position first: nothing was applied twice;
                # re-read the position and go on.
                continue
            except ViewRetiredError:
                # Readers moved to another version: this one stays as it was at the switch
                # until the process replaces this runner (within a second or so).
                self._stopping.wait(1.0)
                continue
            except Exception as e:  # noqa: BLE001 - the runner must not die silently
                self.error = e
                log.exception("projection %s failed; retrying", self.name)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self.error = None
            backoff = self.poll_interval
            if not processed:
                self._wake.wait(self.idle_wait)
                self._wake.clear()


class BatchProjectionRunner(PollingRunner):
    def __init__(
        self,
        app: Application[Any],
        projection: BatchProjection,
        *,
        batch_size: int = 1_000,
        poll_interval: float = 0.05,
        says_behind: bool = False,
    ) -> None:
        super().__init__(poll_interval=poll_interval)
        self.app = app
        self.projection = projection
        self.batch_size = batch_size
        # Tell the projection, with each batch, whether the log had more past it (BatchTracking.behind).
        self.says_behind = says_behind
        self._position: int | None = None  # known after the first read; re-read after a conflict
        # After a batch failed, events up to its end are applied one at a time, so the event that
        # fails is known (failed_event) and those before it are not held up by it.
        self._one_at_a_time_until: int | None = None

    @property
    def name(self) -> str:
        return f"{self.projection.name} <- {self.app.name}"

    @property
    def projection_name(self) -> str:
        return self.projection.name

    @property
    def applications(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.app.name,)

    def position(self) -> int:
        return self.projection.view.max_tracking_id(self.app.name) or 0

    def _caught_up(self) -> None:
        if not self.says_behind:
            return  # only the log it is told to watch: other logs' runners are idle most of the time
        caught_up = getattr(self.projection, "caught_up", None)
        if caught_up is not None and caught_up():
            self._applied()

    def _start_position(self) -> int:
        if self._position is None:
            self._position = self.position()
        return self._position

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def run_batch(self) -> int:
        """Process the next batch; returns how many notifications it covered."""
        start = self._start_position()
        isolating = self._one_at_a_time_until is not None and start < self._one_at_a_time_until
        notifications: list[Any] = []
        try:
            notifications = self._select(start, 1 if isolating else self.batch_size)
            batch = (start, notifications, [self.app.mapper.to_domain_event(n) for n in notifications])
            processed = self._apply(batch)
        except (IntegrityError, ViewRetiredError):
            raise
        except Exception:
            if notifications and (isolating or len(notifications) == 1):
                self.failed_event = FailedEvent(self.app.name, notifications[0].id, notifications[0].topic)
            elif notifications:
                self._one_at_a_time_until = notifications[-1].id
            raise
        self.failed_event = None
        if self._one_at_a_time_until is not None and (self._position or 0) >= self._one_at_a_time_until:
            self._one_at_a_time_until = None
        return processed

    def _select(self, start: int, limit: int) -> list[Any]:
        return self.app.recorder.select_notifications(
            start=start, limit=limit, topics=self.projection.topics, inclusive_of_start=False
        )

    def _read(self, start: int) -> tuple[int, list[Any], list[Any]]:
        notifications = self._select(start, self.batch_size)
        return start, notifications, [self.app.mapper.to_domain_event(n) for n in notifications]

    def _apply(self, batch: tuple[int, list[Any], list[Any]]) -> int:
        start, notifications, events = batch
        if not notifications:
            return 0
        try:
            # After a failure, events are applied one at a time up to where the failed batch ended
            # (run_batch): each then commits, so the view gets as far as the event that fails.
            isolating = self._one_at_a_time_until is not None and start < self._one_at_a_time_until
            behind = notifications[-1].id < self.head() if self.says_behind and not isolating else None
            tracking = BatchTracking(self.app.name, notifications[-1].id, after=start, behind=behind)
            self.projection.process_batch(events, tracking)
        except BaseException:
            self._position = None  # another runner may have moved on: read it again
            pending = getattr(self.projection.view, "roll_back_pending", None)
            if pending is not None:  # its log's batches before it in an open transaction go too
                pending(self.app.name)
            raise
        self._position = notifications[-1].id
        return len(notifications)

    def catch_up(self, on_batch: Callable[[], None] | None = None) -> int:
        """Process until nothing is left (or the view is retired); returns the number of
        notifications processed. `on_batch` is called after each batch (progress).

        The next batch is read and decoded in a second thread while this one is written (the
        writing thread mostly waits for the database), which is what a long backlog needs.
        Another runner doing the same at the same time is fine: a batch it recorded first is
        not applied twice here (the tracking insert fails), and this one reads on from there."""
        with self._driving:
            return self._read_ahead_catch_up(on_batch)

    def _read_ahead_catch_up(self, on_batch: Callable[[], None] | None) -> int:
        total = 0
        batches, analyze_at = 0, 4
        with ThreadPoolExecutor(1, thread_name_prefix=f"read-ahead-{self.projection.name}") as reader:
            ahead: tuple[int, Future[tuple[int, list[Any], list[Any]]]] | None = None
            while True:
                start = self._start_position()
                batch = ahead[1].result() if ahead is not None and ahead[0] == start else self._read(start)
                notifications = batch[1]
                ahead = (notifications[-1].id, reader.submit(self._read, notifications[-1].id)) if notifications else None
                try:
                    n = self._apply(batch)
                except IntegrityError:
                    ahead = None
                    continue
                except ViewRetiredError:
                    return total
                if not n:
                    self._caught_up()
                    return total
                total += n
                batches += 1
                self._applied()
                if on_batch is not None:
                    on_batch()
                if batches == analyze_at and hasattr(self.projection.view, "analyze"):
                    self.projection.view.analyze()  # the view grew fourfold since the last time
                    analyze_at *= 4

    def start(self) -> None:
        self._position = None  # another runner may have moved the view meanwhile
        super().start()

    def stop(self) -> None:
        super().stop()
        pending = getattr(self.projection.view, "commit_pending", None)
        if pending is not None:
            pending()


def catch_up_together(runners: list[BatchProjectionRunner],
                      on_batch: Callable[[], None] | None = None) -> dict[int, int]:
    """Catch up runners of several projections that follow one application's log, reading and
    decoding each page of the log once for all of them (replay builds every projection at once:
    decoding is most of what reading costs). Each runner applies the part of the page past its
    own position, after the set-wise pass of bulk_catch_up. Returns, by id(runner), how many
    notifications each processed."""
    app = runners[0].app
    assert all(r.app is app for r in runners), "one application's log"
    page = max(r.batch_size for r in runners)
    with ThreadPoolExecutor(len(runners), thread_name_prefix=f"bulk-{app.name}") as bulk:
        # A from-scratch build: set-wise first where a projection can, the views side by side.
        done = dict(zip([id(r) for r in runners], bulk.map(bulk_catch_up, runners), strict=True))
    positions = {id(r): r.position() for r in runners}

    def read(start: int) -> tuple[list[Any], list[Any]]:
        notifications = app.recorder.select_notifications(start=start, limit=page, inclusive_of_start=False)
        return notifications, [app.mapper.to_domain_event(n) for n in notifications]

    def apply(runner: BatchProjectionRunner, after: int, notifications: list[Any], events: list[Any]) -> int:
        return runner._apply((after, notifications, events))

    # Each page is decoded once and fanned out: every runner applies its part in a thread of its
    # own (their views' writes are mostly waits on the database, so a slow projection no longer
    # holds the others up), at most one page in flight per runner.
    with (ThreadPoolExecutor(1, thread_name_prefix=f"read-ahead-{app.name}") as reader,
          ThreadPoolExecutor(len(runners), thread_name_prefix=f"apply-{app.name}") as appliers):
        start = min(positions.values())
        ahead = reader.submit(read, start)
        pending: dict[int, Future[int]] = {}
        while True:
            notifications, events = ahead.result()
            if not notifications:
                break
            ahead = reader.submit(read, notifications[-1].id)  # the next page decodes while this one is written
            for runner in runners:
                mine = positions[id(runner)]
                first = next((i for i, n in enumerate(notifications) if n.id > mine), len(notifications))
                if first == len(notifications):
                    continue
                if id(runner) in pending:
                    done[id(runner)] += pending.pop(id(runner)).result()  # its previous page first
                    if on_batch is not None:
                        on_batch()
                pending[id(runner)] = appliers.submit(apply, runner, mine, notifications[first:], events[first:])
                positions[id(runner)] = notifications[-1].id
        for runner_id, future in pending.items():
            done[runner_id] += future.result()
            if on_batch is not None:
                on_batch()
        return done


def bulk_catch_up(runner: BatchProjectionRunner) -> int:
    """A from-scratch build's first pass over the runner's log, set-wise in the database where its
    projection can (`apply_log`, projections/bulk.py); returns how many notifications that covered
    (0: none, the runner reads the log event by event as usual)."""
    apply_log = getattr(runner.projection, "apply_log", None)
    if apply_log is None:
        return 0
    with runner._driving:
        if runner.position() != 0:
            return 0  # resumed: the view already holds part of this log
        raw = RawLog.of(runner.app, runner.projection.view)
        if raw is None:
            return 0
        try:
            return apply_log(raw)
        except NotBulkable as e:
            log.info("%s: reading the log event by event (%s)", runner.name, e)
            return 0
        except IntegrityError:
            return 0  # another runner took the first batch meanwhile: carry on from where it is
        finally:
            runner._position = None
