"""Group commit for follows: one writer thread per process gathers the commands that arrive
together and applies them in one transaction (Follows.apply_all).

Callers get a future per command. The table lock is taken once per batch instead of once per
request, which is what turns about a thousand saves a second into several thousand follows.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from domain.errors import UnavailableError
from domain.follows.application import FollowCommand, FollowOutcome, Follows

log = logging.getLogger(__name__)

class FollowWriter:
    def __init__(self, follows: Follows, *, max_batch: int = 512) -> None:
        self.follows = follows  # reads which records exist, and their owners, through its RecordDirectory
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[FollowCommand, Future[FollowOutcome]] | None] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="follow-writer", daemon=True)
        self._thread.start()

    def submit(self, command: FollowCommand) -> Future[FollowOutcome]:
        if self._stopped:
            raise UnavailableError("the service is shutting down; try again")
        future: Future[FollowOutcome] = Future()
        self._queue.put((command, future))
        return future

    def stop(self) -> None:
        self._stopped = True
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:  # whatever else has arrived meanwhile
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._apply(batch)

    def _apply(self, batch: list[tuple[FollowCommand, Future[FollowOutcome]]]) -> None:
        # A caller that gave up (its request was cancelled) is dropped before anything is written.
        batch = [(c, f) for c, f in batch if f.set_running_or_notify_cancel()]
        if not batch:
            return
        commands = [c for c, _ in batch]
        try:
            outcomes = self.follows.apply_commands(commands)
        except Exception as e:  # every caller hears of the failure (e.g. the store is down)
            for _, future in batch:
                future.set_exception(e)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)
