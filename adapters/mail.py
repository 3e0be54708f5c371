"""Outgoing mail: SMTP when configured, otherwise one .eml file per message in the data folder."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import uuid
from datetime import datetime, timezone
from email import message_from_binary_file
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path


ACCOUNT_HEADER = "X-PeerLedger-Account"  # only in the mail folder's copies, never sent


def message_id(idempotency_key: str | None) -> str:
    """A fresh id, or the same one for every sending of one message (mail clients and the folder
    below keep one copy of a Message-ID)."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def _message(sender: str, to: str, subject: str, body: str, ident: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message["Message-ID"] = f"<{ident}@peerledger>"
    message.set_content(body)
    return message


class FolderMailer:
    """The embedded default: messages land in `<data dir>/mail/` for a developer to read."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, to: str, subject: str, body: str, *, account_id: uuid.UUID | None = None,
             idempotency_key: str | None = None) -> None:
        ident = message_id(idempotency_key)
        if idempotency_key is not None and list(self.folder.glob(f"*-{ident}.eml")):
            return  # sent before: the same message once
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{ident}.eml"
        message = _message(self.sender, to, subject, body, ident)
        if account_id is not None:
            message[ACCOUNT_HEADER] = str(account_id)
        (self.folder / name).write_bytes(bytes(message))

    def forget(self, account_id: uuid.UUID, address: str | None) -> None:
        """Erasure reaches the developer's mail folder too: mail to the account's address, and mail
        sent for it elsewhere (claim codes to an institutional address)."""
        for path in self.folder.glob("*.eml"):
            with path.open("rb") as f:
                message = message_from_binary_file(f)
            if message[ACCOUNT_HEADER] == str(account_id) or (address is not None and message["To"] == address):
                path.unlink(missing_ok=True)


class SmtpMailer:
    def __init__(
        self, host: str, port: int, *, tls: str, user: str, password: str, sender: str, timeout: float = 10.0
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.user, self.password, self.sender, self.timeout = user, password, sender, timeout
        self.sender_address = parseaddr(sender)[1]

    def send(self, to: str, subject: str, body: str, *, account_id: uuid.UUID | None = None,
             idempotency_key: str | None = None) -> None:
        message = _message(self.sender, to, subject, body, message_id(idempotency_key))
        context = ssl.create_default_context()
        if self.tls == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with smtp:
            if self.tls == "starttls":
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message, from_addr=self.sender_address, to_addrs=[to])

    def forget(self, account_id: uuid.UUID, address: str | None) -> None:
        """Nothing of sent mail is kept here."""
