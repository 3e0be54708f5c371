"""What the follows area needs to know from outside it: which records exist, and their owners.

A follow of a record that does not exist is refused, and so is an owner's follow of their own
record; commands read both facts through `RecordDirectory` (adapters/records.py answers it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID


class RecordDirectory(Protocol):
    def existing_and_owners(self, researcher_ids: Sequence[UUID]) -> tuple[set[UUID], dict[UUID, UUID]]:
        """Which of these records exist, and the owner's account of each that has one."""


class NoRecords:
    """Knows no record: the directory of an application made without a catalogue (tests of other
    rules give `known` and `owners` to apply_all themselves)."""

    def existing_and_owners(self, researcher_ids: Sequence[UUID]) -> tuple[set[UUID], dict[UUID, UUID]]:
        return set(), {}
