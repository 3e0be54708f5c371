"""What goes on the bus: each stored event as a msgspec-encoded `RelayedEvent` on
`<prefix>.<area>.<Aggregate>.<Event>`."""

from __future__ import annotations

from typing import Any

import msgspec


class RelayedEvent(msgspec.Struct):
    application: str
    notification_id: int
    originator_id: str
    originator_version: int
    topic: str  # the event class, as eventsourcing records it
    state: msgspec.Raw  # the stored event's state (JSON), as stored; null when state_omitted
    state_omitted: bool = False  # too large for one NATS message: read it from the log by its id


_encode = msgspec.json.Encoder().encode


def encode(application: str, n: Any, max_payload: int) -> bytes:
    """The message for one notification; one too large for the server (a work with thousands of
    authors) goes without its state rather than stopping the relay."""
    payload = _encode(RelayedEvent(application, n.id, str(n.originator_id), n.originator_version, n.topic,
                                   msgspec.Raw(n.state)))
    if len(payload) > max_payload - 1024:  # room for the headers
        payload = _encode(RelayedEvent(application, n.id, str(n.originator_id), n.originator_version, n.topic,
                                       msgspec.Raw(b"null"), state_omitted=True))
    return payload


def subject_for(prefix: str, application: str, topic: str) -> str:
    """`domain.claims.model:Claim.Approved` in Claims -> `<prefix>.claims.Claim.Approved`."""
    return f"{prefix}.{application.lower()}.{topic.rpartition(':')[2]}"
