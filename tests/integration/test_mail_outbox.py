"""A notification's mail goes out at least once and, to the reader, exactly once: a process that
dies after storing the notification and before mailing, or after mailing and before marking it
sent, leaves the outbox to finish the job on the next delivery of the event."""

from __future__ import annotations

import email
import json
import uuid

import pytest

from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from operations.importing import import_body
from operations.notifications import Notifier
from bootstrap.services import Services
from tests.factories import author, register_confirmed, work
from workers.notify import LocalNotifier


class Dies(Exception):
    """The process dying at this point (the delivery is not acknowledged)."""


@pytest.fixture
def services(pg_settings):
    s = Services(pg_settings)
    yield s
    s.close()


def approve_a_claim(services: Services) -> str:
    """A confirmed account that wants claim decisions by mail has its claim approved; its address."""
    import_body(services.catalogue, json.dumps([work(1, [author(1, "Ada One")])]).encode())
    services.profiles_runner.catch_up()
    address = "ada@example.org"
    account = register_confirmed(services, address, "Ada One")
    services.accounts.set_mail_notifications(account, ["claim_approved"])
    rid = researcher_id_for("A1")
    f = services.profiles_view.record_facts(str(rid))
    facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
    claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
    services.claims.approve(claim, uuid.uuid4(), "L2", "checked", facts)
    return address


def approval_mails(services: Services, address: str) -> list[email.message.Message]:
    folder = services.settings.data_dir / "mail"
    found = [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]
    return [m for m in found if m["To"] == address and "approved" in m["Subject"]]


def test_a_process_dying_before_the_mail_went_out_mails_it_on_the_next_delivery(services, monkeypatch):
    address = approve_a_claim(services)
    delivery = LocalNotifier(Notifier(services, services.notifications))
    real_send = services.mailer.send
    monkeypatch.setattr(services.mailer, "send", lambda *a, **k: (_ for _ in ()).throw(Dies()))

    delivery.run_once()  # the notification is stored; the mail is not sent
    assert approval_mails(services, address) == []
    assert len(services.notifications.owed_mail_keys()) == 1  # stored with the notification

    monkeypatch.setattr(services.mailer, "send", real_send)
    delivery.run_once()  # the event again: already stored, its mail still owed
    delivery.run_once()

    assert len(approval_mails(services, address)) == 1


def test_a_process_dying_after_mailing_and_before_marking_it_sent_does_not_mail_twice(services, monkeypatch):
    address = approve_a_claim(services)
    delivery = LocalNotifier(Notifier(services, services.notifications))
    real_mark = services.notifications.mail_sent
    monkeypatch.setattr(services.notifications, "mail_sent", lambda key: (_ for _ in ()).throw(Dies()))

    delivery.run_once()  # mailed, not marked
    assert len(approval_mails(services, address)) == 1

    monkeypatch.setattr(services.notifications, "mail_sent", real_mark)
    delivery.run_once()  # sent again under the same Message-ID: still one message
    delivery.run_once()

    [mail] = approval_mails(services, address)
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith("@peerledger>")
    assert services.notifications.owed_mail_keys() == []

