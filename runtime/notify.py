"""Notifications for people: new followers, invitations received and answered, claims decided,
verification changed.

`Notifier.handle` turns one relayed event into the notifications it causes and stores them
keyed by (application, notification id, recipient), so handling an event twice changes nothing.
Events come either from JetStream (`peerledger worker notify`: a durable pull consumer with
explicit acks, bounded redelivery with back-off, and a dead-letter stream for what keeps
failing) or, in the embedded default, straight from the logs in process (`LocalNotifier`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent
from nats.js.errors import BadRequestError

from domain.claims.model import Claim, Record
from domain.follows.model import Follow
from domain.invitations.model import Invitation
from runtime.relay import RelayedEvent
from runtime.sqlstore import SqlStore

log = logging.getLogger("peerledger.notify")

MAIL_SUBJECTS = {
    "new_follower": "You have a new follower",
    "invitation_received": "You have an invitation to collaborate",
    "invitation_accepted": "Your invitation was accepted",
    "invitation_declined": "Your invitation was declined",
    "claim_approved": "Your claim was approved",
    "claim_rejected": "Your claim was rejected",
    "verification_changed": "Your record's verification changed",
}
FOLLOW_WINDOW = timedelta(hours=24)  # one new_follower per follower and record in this time
MAX_DELIVER = 5
BACKOFF = [1.0, 2.0, 5.0, 10.0]  # seconds before the 2nd, 3rd, 4th and 5th delivery
CONSUMER = "notify"


class NotificationStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        store.execute(
            "CREATE TABLE IF NOT EXISTS peerledger_notifications (key TEXT PRIMARY KEY, account_id TEXT NOT NULL,"
            " kind TEXT NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL, seen INTEGER NOT NULL)")
        store.execute("CREATE INDEX IF NOT EXISTS peerledger_notifications_account"
                      " ON peerledger_notifications (account_id, created_at, key)")
        store.execute(f"CREATE TABLE IF NOT EXISTS peerledger_notify_positions (application TEXT PRIMARY KEY,"
                      f" position {store.bigint} NOT NULL)")
        # The last time a notification of a kind went out for a subject (a follower of a record).
        store.execute("CREATE TABLE IF NOT EXISTS peerledger_notify_windows (key TEXT PRIMARY KEY, at TEXT NOT NULL)")

    def add(self, key: str, account_id: str, kind: str, data: dict[str, Any], at: str,
            once_per: tuple[str, timedelta] | None = None) -> bool:
        """Store a notification unless it is stored already; with `once_per=(subject, window)`,
        also unless one for the same subject went out within `window` before `at` (event times,
        so a replay or a redelivery decides the same). True when stored."""
        with self.store.transaction() as run:
            if once_per is not None:
                subject, window = once_per
                cutoff = (datetime.fromisoformat(at) - window).isoformat()
                if not run("INSERT INTO peerledger_notify_windows (key, at) VALUES (%s, %s) ON CONFLICT (key)"
                           " DO UPDATE SET at = excluded.at WHERE peerledger_notify_windows.at <= %s RETURNING key",
                           (subject, at, cutoff)):
                    return False
            rows = run(
                "INSERT INTO peerledger_notifications (key, account_id, kind, data, created_at, seen)"
                " VALUES (%s, %s, %s, %s, %s, 0) ON CONFLICT (key) DO NOTHING RETURNING key",
                (key, account_id, kind, json.dumps(data), at))
            return bool(rows)

    def page(self, account_id: str, unread_only: bool, after: tuple[str, str] | None,
             limit: int) -> list[dict[str, Any]]:
        where, params = "account_id = %s", [account_id]
        if unread_only:
            where += " AND seen = 0"
        if after is not None:
            where += " AND (created_at < %s OR (created_at = %s AND key < %s))"
            params += [after[0], after[0], after[1]]
        rows = self.store.execute(
            "SELECT key, kind, data, created_at, seen FROM peerledger_notifications WHERE " + where
            + " ORDER BY created_at DESC, key DESC LIMIT %s", [*params, limit])
        return [{"key": r[0], "kind": r[1], "data": json.loads(r[2]), "created_at": r[3], "read": bool(r[4])}
                for r in rows]

    def unread(self, account_id: str) -> int:
        rows = self.store.execute(
            "SELECT COUNT(*) FROM peerledger_notifications WHERE account_id = %s AND seen = 0", (account_id,))
        return int(rows[0][0])

    def mark_read(self, account_id: str, keys: list[str] | None) -> None:
        """The given notifications of this account, or all of them."""
        if keys is None:
            self.store.execute("UPDATE peerledger_notifications SET seen = 1 WHERE account_id = %s AND seen = 0",
                               (account_id,))
            return
        for key in keys:
            self.store.execute("UPDATE peerledger_notifications SET seen = 1 WHERE account_id = %s AND key = %s",
                               (account_id, key))

    def position(self, application: str) -> int:
        rows = self.store.execute("SELECT position FROM peerledger_notify_positions WHERE application = %s",
                                  (application,))
        return int(rows[0][0]) if rows else 0

    def save_position(self, application: str, position: int) -> None:
        self.store.execute(
            "INSERT INTO peerledger_notify_positions (application, position) VALUES (%s, %s)"
            " ON CONFLICT (application) DO UPDATE SET position = excluded.position", (application, position))


class Notifier:
    def __init__(self, services: Any, store: NotificationStore) -> None:
        self.services = services
        self.store = store
        self.apps = {a.name: a for a in (services.catalogue, services.accounts, services.claims, services.follows,
                                         services.invitations)}

    def handle(self, event: RelayedEvent) -> int:
        """Store the notifications `event` causes; returns how many were new."""
        app = self.apps[event.application]
        if event.state_omitted:  # too large for NATS: read from the log
            [n] = app.recorder.select_notifications(start=event.notification_id, limit=1)
            stored = StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        else:
            stored = StoredEvent(UUID(event.originator_id), event.originator_version, event.topic,
                                 bytes(event.state))
        domain_event = app.mapper.to_domain_event(stored)
        at = domain_event.timestamp.astimezone(timezone.utc).isoformat()
        new = 0
        for account, kind, data in self.notifications_for(domain_event):
            once_per = None
            if kind == "new_follower":  # following and unfollowing again and again tells the owner once
                once_per = (f"new_follower:{account}:{data['researcher_id']}:{data['follower_id']}", FOLLOW_WINDOW)
            if self.store.add(f"{event.application}:{event.notification_id}:{account}", str(account), kind, data, at,
                              once_per):
                new += 1
                self._mail(account, kind, data)  # only when new: a redelivery mails nobody twice
        return new

    def _mail(self, account: UUID, kind: str, data: dict[str, Any]) -> None:
        address, wanted = self.services.accounts.mail_notifications(account)
        if address is None or kind not in wanted:
            return
        subject = MAIL_SUBJECTS.get(kind, "News on PeerLedger")
        details = "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(data.items()))
        self.services.mailer.send(address, subject, f"{subject}.\n\n{details}\n\nChange what we mail you at "
                                                    "PUT /me/notification-settings.", account_id=account)

    def notifications_for(self, e: Any) -> list[tuple[UUID, str, dict[str, Any]]]:
        s = self.services
        if isinstance(e, Follow.Started | Follow.Followed):
            _, owners = s.profiles_view.existing_and_owners([str(e.researcher_id)])
            owner = owners.get(str(e.researcher_id))
            if owner and owner != str(e.account_id):
                return [(UUID(owner), "new_follower", {"researcher_id": str(e.researcher_id),
                                                       "follower_id": str(e.account_id)})]
        elif isinstance(e, Invitation.Sent):
            return [(e.recipient_id, "invitation_received", {"invitation_id": str(e.originator_id),
                                                             "sender_id": str(e.sender_id)})]
        elif isinstance(e, Invitation.Accepted | Invitation.Declined):
            invitation = s.invitations.repository.get(e.originator_id)
            kind = "invitation_accepted" if isinstance(e, Invitation.Accepted) else "invitation_declined"
            return [(invitation.sender_id, kind, {"invitation_id": str(e.originator_id)})]
        elif isinstance(e, Claim.Approved | Claim.Rejected):
            kind = "claim_approved" if isinstance(e, Claim.Approved) else "claim_rejected"
            return [(s.claims.claimant(e.originator_id), kind, {"claim_id": str(e.originator_id)})]
        elif isinstance(e, Record.VerificationChanged):
            record = s.claims.repository.get(e.originator_id)
            if record.owner is not None:
                return [(record.owner, "verification_changed", {
                    "researcher_id": str(record.researcher_id), "old_level": e.old_level, "new_level": e.new_level})]
        return []


class LocalNotifier:
    """The embedded default's delivery: the logs read in process, a position per application."""

    def __init__(self, notifier: Notifier, interval: float = 0.2) -> None:
        self.notifier = notifier
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        handled = 0
        store = self.notifier.store
        for name, app in self.notifier.apps.items():
            try:  # an event that cannot be handled holds up its own application only
                position = store.position(name)
                for n in app.recorder.select_notifications(start=position, limit=500, inclusive_of_start=False):
                    self.notifier.handle(RelayedEvent(name, n.id, str(n.originator_id), n.originator_version,
                                                      n.topic, msgspec.Raw(n.state)))
                    store.save_position(name, n.id)
                    handled += 1
            except Exception:  # noqa: BLE001 - logged; tried again next round
                log.exception("notifications from %s failed; retrying", name)
        return handled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.run_once():
                    self._stop.wait(self.interval)
            except Exception:  # noqa: BLE001 - logged, tried again
                log.exception("notifications failed; retrying")
                self._stop.wait(1.0)


TRANSIENT = (OSError, ConnectionError)  # with the store's own errors, added below


def is_transient(e: BaseException) -> bool:
    """The store or the mail server away: not the message's fault."""
    from eventsourcing.persistence import InterfaceError, OperationalError
    from psycopg import OperationalError as PsycopgOperationalError

    return isinstance(e, (*TRANSIENT, InterfaceError, OperationalError, PsycopgOperationalError))


async def consume(notifier: Notifier, js: Any, *, stream: str, prefix: str, stop: asyncio.Event,
                  backoff: list[float] = BACKOFF, stats: dict[str, float] | None = None) -> None:
    """The durable pull consumer: ack after handling. A message that fails for its own sake is
    nak'ed with a growing delay, and after MAX_DELIVER deliveries goes to the dead-letter stream
    with the reason; the consumer goes on. A failure of the store (or mail) is not the message's
    fault: the message is held (in progress) and tried again until the store is back."""
    from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

    dead_subject = f"{prefix}_dead"
    # A failed message is nak'ed with a growing delay (`backoff`); one whose handler died with
    # the process comes back after ack_wait.
    config = ConsumerConfig(durable_name=CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=30,
                            max_deliver=MAX_DELIVER, max_ack_pending=1_000, filter_subject=f"{prefix}.>")
    subscription = None
    while subscription is None and not stop.is_set():  # the relay may not have made the stream yet
        try:
            try:
                await js.add_stream(StreamConfig(name=f"{stream}_DEAD", subjects=[f"{dead_subject}.>"],
                                                 storage=StorageType.FILE))
            except BadRequestError:
                pass  # it exists
            subscription = await js.pull_subscribe(f"{prefix}.>", durable=CONSUMER, stream=stream, config=config)
        except Exception as e:  # noqa: BLE001 - NATS or the stream not there yet
            log.warning("cannot subscribe to %s yet (%s)", stream, e)
            await _wait_for(stop, 1.0)
    stats = stats if stats is not None else {}
    while not stop.is_set():
        try:
            info = await subscription.consumer_info()
            stats.update(pending=info.num_pending or 0, ack_pending=info.num_ack_pending or 0,
                         redelivered=info.num_redelivered or 0)
        except Exception:  # noqa: BLE001 - only for /metrics
            pass
        try:
            messages = await subscription.fetch(100, timeout=1)
        except TimeoutError:
            continue
        except Exception as e:  # noqa: BLE001 - NATS away: the client reconnects
            log.warning("fetch failed (%s)", e)
            await _wait_for(stop, 1.0)
            continue
        for msg in messages:
            await _handle(notifier, js, msg, dead_subject, backoff, stats, stop)


async def _handle(notifier: Notifier, js: Any, msg: Any, dead_subject: str, backoff: list[float],
                  stats: dict[str, float], stop: asyncio.Event) -> None:
    delay = 0.5
    while not stop.is_set():
        try:
            event = msgspec.json.decode(msg.data, type=RelayedEvent)
            await asyncio.to_thread(notifier.handle, event)
        except Exception as e:  # noqa: BLE001 - sorted below
            if is_transient(e):
                log.warning("store away while handling %s (%s); holding it", msg.subject, e)
                await msg.in_progress()
                await _wait_for(stop, delay)
                delay = min(delay * 2, 10.0)
                continue
            delivered = msg.metadata.num_delivered
            if delivered >= MAX_DELIVER:
                log.error("message %s failed %d times, dead-lettered: %r", msg.subject, delivered, e)
                try:
                    await js.publish(f"{dead_subject}.{msg.subject}", msg.data, headers={
                        "Reason": f"{type(e).__name__}: {e}"[:500], "Original-Subject": msg.subject,
                        "Failed-At": datetime.now(timezone.utc).isoformat()})
                except Exception as dead:  # noqa: BLE001 - not lost: it comes back after ack_wait
                    log.error("could not dead-letter %s (%s)", msg.subject, dead)
                    return
                stats["dead_lettered"] = stats.get("dead_lettered", 0) + 1
                await msg.term()
            else:
                await msg.nak(delay=backoff[min(delivered, len(backoff)) - 1])
            return
        await msg.ack()
        return


async def _wait_for(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
