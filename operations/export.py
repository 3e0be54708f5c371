"""The event log for auditors: every application's events as JSON Lines, in time order.

Personal data is redacted unless an admin asks for it: sealed values read "redacted", or, with
`personal`, are opened with the key of the person who sealed them ("erased" once that key is
destroyed). Secrets that are not sealed (hashes of codes and sessions, the keyed hash of an
address, proofs) are redacted either way: they are no one's personal reading, and a hash of a
six-digit code or of an address gives the plaintext back to anyone who tries the candidates.
Reads only: the export records nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from operator import attrgetter
from typing import Any, BinaryIO
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import Notification

from domain.accounts.application import normalise_email
from domain.accounts.model import Account, EmailAddress, email_address_id
from domain.claims.flag import Flag
from domain.claims.model import AdoptionRequest, Claim, LinkRequest, Record
from domain.errors import AccountNotFoundError, ForbiddenError, InvalidInputError
from domain.invitations.model import Conversation, Invitation
from bootstrap.services import Services

REDACTED = "redacted"
ERASED = "erased"
PAGE = 500
# Sessions' refresh-secret hashes and the claim fingerprint (a plain hash over the evidence,
# addresses and statements included) are secrets of the same kind as the codes' hashes.
SECRETS = frozenset({"code_hash", "email_key", "secret_hash", "fingerprint"})
NEVER_OPENED = frozenset({"sealed_password_hash"})  # a credential, not something to read
ENVELOPE = frozenset({"originator_id", "originator_version", "timestamp"})


class ExportedEvent(msgspec.Struct):
    """One line of the export: where the event is stored, and its fields as recorded."""

    application: str
    notification_id: int
    originator_id: UUID
    originator_version: int
    topic: str  # module:Class of the event
    timestamp: datetime  # UTC
    state: dict[str, Any]


def parse_timestamp(text: str) -> datetime:
    """ISO 8601; a date alone is midnight UTC, and a time without an offset is UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves it past year 1 or 9999
        raise ValueError(
            f"{text!r} is not an ISO 8601 date or timestamp (like 2026-01-31 or 2026-01-31T09:30:00Z)"
        ) from None


def require_admin(services: Services, email: str) -> UUID:
    """The live account with this address, if it holds the admin role."""
    try:
        address: str | None = normalise_email(email)
    except InvalidInputError:
        address = None  # a malformed address is no one's
    reserved = None
    if address is not None:
        try:
            reserved = services.accounts.repository.get(email_address_id(services.vault.email_key(address)))
        except AggregateNotFoundError:
            pass
    if not isinstance(reserved, EmailAddress) or reserved.account_id is None:
        raise ForbiddenError(f"--personal needs an admin: no account has the address {email}")
    try:
        roles = services.accounts.view(reserved.account_id).roles
    except AccountNotFoundError:
        raise ForbiddenError(f"--personal needs an admin: no account has the address {email}") from None
    if "admin" not in roles:
        raise ForbiddenError(f"--personal needs an admin: {email} is not an admin")
    return reserved.account_id


class Redactor:
    """An event's fields as they may be shown: sealed values redacted, or opened for an admin."""

    def __init__(self, services: Services, *, personal: bool) -> None:
        self.vault = services.vault
        self.personal = personal
        self._claimant = lru_cache(maxsize=10_000)(services.claims.claimant)
        invitations = services.invitations
        self._recipient = lru_cache(maxsize=10_000)(lambda i: invitations.repository.get(i).recipient_id)

    def state(self, event: Any) -> dict[str, Any]:
        fields = {k: v for k, v in event.__dict__.items() if k not in ENVELOPE}
        return self._fields(fields, event)

    def _fields(self, fields: dict[str, Any], event: Any) -> dict[str, Any]:
        return {k: self._field(k, v, event, fields) for k, v in fields.items()}

    def _field(self, key: str, value: Any, event: Any, container: dict[str, Any]) -> Any:
        if key.startswith("sealed_"):
            return None if value is None else self._open(key, value, event, container)
        if key in SECRETS:
            return REDACTED
        if key == "proof" and isinstance(value, dict):
            return {k: v if k == "kind" else REDACTED for k, v in value.items()}
        return self._walk(value, event)

    def _walk(self, value: Any, event: Any) -> Any:
        if isinstance(value, dict):
            return self._fields(value, event)  # claim evidence: a list of dicts with sealed parts
        if isinstance(value, list):
            return [self._walk(v, event) for v in value]
        return value

    def _open(self, key: str, sealed: Any, event: Any, container: dict[str, Any]) -> str:
        if not self.personal or key in NEVER_OPENED or not isinstance(sealed, str):
            return REDACTED
        subject = self._subject(event, container)
        if subject is None:
            return REDACTED  # sealed by someone this export cannot name: never guess a key
        opened = self.vault.open(subject, sealed)
        return ERASED if opened is None else opened

    def _subject(self, event: Any, container: dict[str, Any]) -> UUID | None:
        """Whose key sealed a value: as the applications that seal them decide it."""
        if isinstance(event, (Account.Registered, Account.PasswordRehashed, Account.PasswordChanged,
                              Account.DisplayNameChanged)):
            return event.originator_id
        if isinstance(event, Record.WorkDisowned | Record.Linked | LinkRequest.Opened | Flag.Raised | Record.WorkAdopted
                      | AdoptionRequest.Opened):
            return event.account_id  # the reason is sealed with the key of whoever gave it
        if isinstance(event, Record.LinkRequestClosed | LinkRequest.Decided | Flag.Decided | Record.AdoptionRequestClosed
                      | AdoptionRequest.Decided):
            return event.moderator_id
        if isinstance(event, (Claim.Opened, Claim.EvidenceAdded)):
            if "by" in container:  # the record owner's side of a dispute
                return UUID(container["by"])
            return event.account_id if isinstance(event, Claim.Opened) else self._claimant(event.originator_id)
        if isinstance(event, Invitation.Sent):
            return event.sender_id
        if isinstance(event, Invitation.Reported):
            return self._recipient(event.originator_id)
        if isinstance(event, Conversation.MessagePosted):
            return event.author_id
        return None


def application_events(
    app: Application[Any], redactor: Redactor, since: datetime, until: datetime | None, page: int = PAGE
) -> Iterator[ExportedEvent]:
    """One application's events in notification order, a page at a time, up to the log's head
    when the export began (a busy log does not keep a long export going forever)."""
    for n in notifications_to_head(app, page):
        event = app.mapper.to_domain_event(n)
        if event.timestamp < since or (until is not None and event.timestamp >= until):
            continue
        yield ExportedEvent(app.name, n.id, event.originator_id, event.originator_version, n.topic,
                            event.timestamp, redactor.state(event))


def notifications_to_head(app: Application[Any], page: int = PAGE) -> Iterator[Notification]:
    """An application's stored events in notification order, read a page at a time, up to the
    log's head when the reading began (a busy log does not keep a long export going forever)."""
    head = app.recorder.max_notification_id() or 0
    last = 0
    while last < head:
        # "Greater than the last id seen": ids have gaps, and a gap is not the end.
        notifications = app.recorder.select_notifications(start=last, limit=page, stop=head, inclusive_of_start=False)
        if not notifications:
            return
        yield from notifications
        last = notifications[-1].id


def export_history(
    services: Services, out: BinaryIO, *, since: datetime, until: datetime | None = None, personal: bool = False
) -> int:
    """Write the events recorded from `since` up to (not including) `until`; returns how many.

    Applications are merged by event timestamp; within one application notification order is
    kept (timestamps are taken before commit, so an application's own order may differ from
    its timestamps by the width of a transaction)."""
    redactor = Redactor(services, personal=personal)
    apps = tuple(services.applications.values())
    merged = heapq.merge(*(application_events(app, redactor, since, until) for app in apps),
                         key=attrgetter("timestamp"))
    encoder = msgspec.json.Encoder()
    count = 0
    while lines := list(islice(merged, PAGE)):
        out.write(encoder.encode_lines(lines))
        count += len(lines)
    return count
