"""Stand-ins for what the service calls out to (mail) and for time, in unit tests only."""

from __future__ import annotations

from datetime import datetime, timezone


class Outbox:
    """Mail the service would send, kept in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []
        self.accounts: list[object] = []  # the account each mail was for

    def send(self, to: str, subject: str, body: str, *, account_id: object = None,
             idempotency_key: str | None = None) -> None:
        self.sent.append((to, subject, body))
        self.accounts.append(account_id)

    def forget(self, account_id: object, address: str | None) -> None:
        kept = [(m, a) for m, a in zip(self.sent, self.accounts, strict=True) if a != account_id and m[0] != address]
        self.sent, self.accounts = [m for m, _ in kept], [a for _, a in kept]

    def last_code(self) -> str:
        return self.sent[-1][2].split("code is ")[1][:6]

    def code_to(self, address: str, default: str | None = None) -> str:
        for to, _, body in reversed(self.sent):
            if to == address:
                return body.split("code is ")[1][:6]
        if default is None:
            raise AssertionError(f"no mail to {address}")
        return default


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now
