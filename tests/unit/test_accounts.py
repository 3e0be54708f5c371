"""Account rules on the in-memory event store, with the real vault (SQLite) and real Argon2id."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.accounts.application import Accounts
from domain.errors import (
    AccountNotFoundError,
    EmailTakenError,
    InvalidConfirmationCodeError,
    InvalidCredentialsError,
    InvalidInputError,
    InvalidRefreshTokenError,
    WeakPasswordError,
)
from adapters.passwords import Argon2Hasher
from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from tests.fakes import Clock, Outbox

PASSWORD = "a perfectly long password"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
def accounts(tmp_path, clock, outbox):
    app = Accounts(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"email-secret"),
        hasher=Argon2Hasher(time_cost=1, memory_kib=8192, parallelism=1, max_concurrent=2),
        mailer=outbox,
        clock=clock,
    )
    yield app
    app.close()


def test_registration_mails_a_code_that_confirms_the_address(accounts, outbox):
    account_id = accounts.register("Ada@Example.ORG ", PASSWORD, " Ada ")
    assert outbox.sent[-1][0] == "ada@example.org"
    assert accounts.confirm_email("ada@example.org", outbox.last_code()) == account_id
    view = accounts.view(account_id)
    assert (view.email, view.display_name, view.email_confirmed, view.roles) == (
        "ada@example.org", "Ada", True, ["member"])


def test_personal_fields_are_stored_sealed(accounts):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada Lovelace")
    stored = b"".join(n.state for n in accounts.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False))
    for secret in (b"ada@example.org", b"Ada Lovelace", b"argon2"):
        assert secret not in stored
    assert accounts.view(account_id).display_name == "Ada Lovelace"


@pytest.mark.parametrize(
    ("password", "error"),
    [("short pw", "at least 12 characters"), ("ADA@example.org", "must not be the email address")],
)
def test_weak_passwords_are_refused(accounts, password, error):
    with pytest.raises(WeakPasswordError, match=error):
        accounts.register("ada@example.org", password, "Ada")


def test_an_address_belongs_to_one_account(accounts):
    accounts.register("ada@example.org", PASSWORD, "Ada")
    with pytest.raises(EmailTakenError):
        accounts.register("ADA@EXAMPLE.ORG", PASSWORD, "Impostor")


def test_a_code_expires(accounts, outbox, clock):
    accounts.register("ada@example.org", PASSWORD, "Ada")
    code = outbox.last_code()
    clock.now += timedelta(minutes=31)
    with pytest.raises(InvalidConfirmationCodeError):
        accounts.confirm_email("ada@example.org", code)
    accounts.resend_code("ada@example.org")
    assert len(outbox.sent) == 2
    accounts.confirm_email("ada@example.org", outbox.last_code())


def test_a_code_for_one_account_does_not_confirm_another(accounts, outbox):
    accounts.register("ada@example.org", PASSWORD, "Ada")
    ada_code = outbox.last_code()
    bob = accounts.register("bob@example.org", PASSWORD, "Bob")
    while outbox.last_code() == ada_code:  # one chance in a million: draw again
        accounts.resend_code("bob@example.org")
    with pytest.raises(InvalidConfirmationCodeError):
        accounts.confirm_email("bob@example.org", ada_code)
    assert accounts.view(bob).email_confirmed is False


def test_resending_to_an_unknown_address_says_nothing_and_sends_nothing(accounts, outbox):
    accounts.resend_code("nobody@example.org")
    assert outbox.sent == []


def test_login_checks_the_password_and_starts_a_session(accounts):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    with pytest.raises(InvalidCredentialsError):
        accounts.login("ada@example.org", "a wrong long password")
    with pytest.raises(InvalidCredentialsError):
        accounts.login("not an address", PASSWORD)
    session = accounts.login("ada@example.org", PASSWORD)
    assert session.account_id == account_id
    assert accounts.session_principal(session.session_id) == (account_id, ["member"], False)


def test_refresh_tokens_rotate_and_sessions_expire(accounts, clock):
    accounts.register("ada@example.org", PASSWORD, "Ada")
    first = accounts.login("ada@example.org", PASSWORD)
    second = accounts.refresh(first.refresh_token)
    assert second.session_id == first.session_id and second.refresh_token != first.refresh_token
    clock.now += timedelta(days=31)
    with pytest.raises(InvalidRefreshTokenError):
        accounts.refresh(second.refresh_token)
    assert accounts.session_principal(first.session_id) is None


@pytest.mark.parametrize("token", ["", "no-dot", "not-a-uuid.secret", "00000000-0000-4000-8000-000000000000.x"])
def test_malformed_refresh_tokens_are_refused(accounts, token):
    with pytest.raises(InvalidRefreshTokenError):
        accounts.refresh(token)


def test_roles_are_granted_and_revoked_but_member_stays(accounts):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    assert accounts.grant_role("ada@example.org", "moderator", "test") is True
    assert accounts.grant_role("ada@example.org", "moderator", "test") is False
    assert accounts.view(account_id).roles == ["member", "moderator"]
    assert accounts.revoke_role("ada@example.org", "moderator", "test") is True
    with pytest.raises(InvalidInputError):
        accounts.revoke_role("ada@example.org", "member", "test")
    with pytest.raises(AccountNotFoundError):
        accounts.grant_role("nobody@example.org", "admin", "test")


def test_erasure_makes_personal_data_unreadable_and_frees_the_address(accounts):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    session = accounts.login("ada@example.org", PASSWORD)
    accounts.erase(account_id)
    with pytest.raises(AccountNotFoundError):
        accounts.view(account_id)
    with pytest.raises(InvalidRefreshTokenError):
        accounts.refresh(session.refresh_token)
    with pytest.raises(InvalidCredentialsError):
        accounts.login("ada@example.org", PASSWORD)
    registered = next(iter(accounts.events.get(account_id)))
    assert accounts.vault.open(account_id, registered.sealed_email) is None
    assert accounts.register("ada@example.org", PASSWORD, "Ada again") != account_id


def test_nothing_new_is_sealed_for_an_erased_account(accounts):
    """A request that passed its checks just before the erasure (or a session another process still
    trusts for a few seconds) cannot give the erased account a new, readable key."""
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    accounts.erase(account_id)

    with pytest.raises(AccountNotFoundError):
        accounts.vault.seal(account_id, "a message written as the erasure landed")
    accounts.vault.destroy(account_id)  # erasing again (a retried erasure) is harmless
    assert accounts.vault.open(account_id, "v1:AAAA") is None


@pytest.mark.parametrize(
    "address",
    [
        "attacker@evil.com,victim@uni.edu",
        "<attacker@evil.com>victim@uni.edu",
        "Victim <victim@uni.edu>",
        "victim@uni.edu\x00",
        "vic tim@uni.edu",
        "victim@localhost",
        '"quoted"@uni.edu',
    ],
)
def test_only_a_plain_address_is_accepted(accounts, outbox, address):
    with pytest.raises(InvalidInputError, match="is not an email address"):
        accounts.register(address, PASSWORD, "Ada")
    assert outbox.sent == []


@pytest.mark.parametrize("name", ["Ada\u202eecalevoL", "Ada\x00", "Ada\x07Lovelace"])
def test_display_names_with_control_or_direction_characters_are_refused(accounts, name):
    with pytest.raises(InvalidInputError, match="control or text-direction"):
        accounts.register("ada@example.org", PASSWORD, name)


def test_an_unconfirmed_registration_stops_holding_the_address_when_its_code_lapses(accounts, outbox, clock):
    squatter = accounts.register("ada@example.org", PASSWORD, "Not Ada")
    with pytest.raises(EmailTakenError):
        accounts.register("ada@example.org", PASSWORD, "Ada")
    clock.now += timedelta(minutes=31)
    ada = accounts.register("ada@example.org", PASSWORD, "Ada")
    accounts.confirm_email("ada@example.org", outbox.last_code())
    assert accounts.view(ada).email_confirmed
    with pytest.raises(AccountNotFoundError):
        accounts.view(squatter)


def test_a_confirmed_address_is_never_taken_over(accounts, outbox, clock):
    accounts.register("ada@example.org", PASSWORD, "Ada")
    accounts.confirm_email("ada@example.org", outbox.last_code())
    clock.now += timedelta(days=400)
    with pytest.raises(EmailTakenError):
        accounts.register("ada@example.org", PASSWORD, "Impostor")


def test_a_session_ends_with_logout_and_with_erasure(accounts):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    first = accounts.login("ada@example.org", PASSWORD)
    second = accounts.login("ada@example.org", PASSWORD)
    accounts.logout(first.refresh_token)
    assert accounts.session_principal(first.session_id) is None
    assert accounts.session_principal(second.session_id) == (account_id, ["member"], False)
    accounts.erase(account_id)
    assert accounts.session_principal(second.session_id) is None


def test_an_id_that_is_not_a_session_is_not_a_refresh_token(accounts):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    with pytest.raises(InvalidRefreshTokenError):
        accounts.refresh(f"{account_id}.secret")
    with pytest.raises(InvalidRefreshTokenError):
        accounts.logout(f"{account_id}.secret")
    assert accounts.session_principal(account_id) is None


def test_erasure_forgets_the_mail_kept_for_the_address(accounts, outbox):
    account_id = accounts.register("ada@example.org", PASSWORD, "Ada")
    assert outbox.sent
    accounts.erase(account_id)
    assert outbox.sent == []


@pytest.mark.parametrize("role", ["member", "owner", "Moderator", ""])
def test_only_the_moderator_and_admin_roles_are_granted_or_revoked(accounts, role):
    accounts.register("ada@example.org", PASSWORD, "Ada")
    for change in (accounts.grant_role, accounts.revoke_role):
        with pytest.raises(InvalidInputError, match="role must be one of: moderator, admin"):
            change("ada@example.org", role, "test")
    assert accounts.grant_role("ada@example.org", "admin", "test") is True
