"""`peerledger history export` as an auditor runs it, on SQLite and PostgreSQL: every event once,
in time order, filtered by time, personal data redacted unless an admin asks for it."""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import msgspec
import pytest

from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.follows.application import FollowCommand
from domain.invitations.application import SendFacts
from operations.export import ExportedEvent, Redactor, application_events
from operations.importing import import_body
from bootstrap.services import Services
from tests.conftest import settings_env
from tests.e2e.support import peerledger
from tests.factories import author, institution, register_confirmed, work

PASSWORD = "a long enough password"
ORCID = "0000-0002-1825-0097"
APPLICATIONS = {"Accounts", "Catalogue", "Claims", "Follows", "Invitations"}
# Everything personal the scenario writes, each kept only sealed in the log.
CLARA = {"email": "clara@example.org", "name": "Clara Hiddenname", "work_email": "clara@uni.example",
         "statement": "I wrote these papers in my own lab", "rebuttal": "The record is mine, not hers",
         "invitation": "Shall we write the next paper together?", "message": "Here is my draft, privately"}
RICO = {"email": "rico@example.org", "name": "Rico Hiddenname", "statement": "Rico wrote these himself",
        "report": "This felt like spam to me"}
DORA = {"email": "dora@example.org", "name": "Dora Hiddenname", "statement": "Dora says the record is hers"}
ADMIN = {"email": "admin@example.org", "name": "Ada Hiddenname"}
PLAINTEXTS = [*CLARA.values(), *RICO.values(), *DORA.values(), *ADMIN.values(), PASSWORD]
WORKS = [work(1, [author(1), author(2)], institutions=[[institution(7)], [institution(7)]]), work(2, [author(2)])]


@dataclass(frozen=True)
class People:
    admin: UUID
    clara: UUID
    rico: UUID
    dora: UUID


@pytest.fixture
def env(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment the `settings` fixture is built from, for the command as a subprocess."""
    return settings_env(tmp_path / "var", request.getfixturevalue("pg_schema") if backend == "postgres" else None)


@pytest.fixture
def people(services: Services) -> People:
    """Every application gets events: accounts and a session, an import, claims with every kind of
    evidence (ORCID proven, an institutional address, statements, a dispute answered by the owner),
    a follow, an invitation accepted, a message and a report."""
    s = services
    ids = {}
    for who, p in (("admin", ADMIN), ("clara", CLARA), ("rico", RICO), ("dora", DORA)):
        ids[who] = register_confirmed(s, p["email"], p["name"], PASSWORD)
    s.accounts.grant_role(ADMIN["email"], "admin", "test")
    s.accounts.login(CLARA["email"], PASSWORD)
    import_body(s.catalogue, json.dumps(WORKS).encode())
    s.catalogue.set_institution_domains("I7", ["uni.example"])
    a1 = RecordFacts(researcher_id_for("A1"), ORCID, "L1", frozenset({"I7"}))
    a2 = RecordFacts(researcher_id_for("A2"), None, "L1", frozenset({"I7"}))
    claim = s.claims.open_claim(ids["clara"], a1, [
        EvidenceIn("orcid"), EvidenceIn("institutional_email", email=CLARA["work_email"]),
        EvidenceIn("statement", text=CLARA["statement"], links=("https://example.org/clara",))])
    assert s.claims.prove_orcid(claim, ids["clara"], ORCID, a1) == "approved"
    rico_claim = s.claims.open_claim(ids["rico"], a2, [EvidenceIn("statement", text=RICO["statement"])])
    s.claims.approve(rico_claim, ids["admin"], "L2", "checked", a2)
    dispute = s.claims.open_claim(ids["dora"], a1, [EvidenceIn("statement", text=DORA["statement"])])
    s.claims.add_evidence(dispute, ids["clara"], a1, [EvidenceIn("statement", text=CLARA["rebuttal"])])
    s.follows.apply_all([FollowCommand(ids["rico"], a1.researcher_id, True, confirmed=True)],
                        known={a1.researcher_id}, owners={a1.researcher_id: ids["clara"]})
    invitation = s.invitations.send(ids["clara"], SendFacts({a1.researcher_id: "L2"}, a2.researcher_id, ids["rico"],
                                                            "claimed", 1), CLARA["invitation"], None, None)
    conversation = s.invitations.accept(invitation, ids["rico"], recipient_record_status="claimed",
                                        recipient_record_owner=ids["rico"])
    s.invitations.post(conversation, ids["clara"], CLARA["message"])
    s.invitations.report(invitation, ids["rico"], RICO["report"])
    return People(**ids)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return peerledger(env, "history", "export", *args, timeout=120)


def export(env: dict[str, str], *args: str) -> tuple[str, list[ExportedEvent]]:
    result = run(env, *args)
    assert result.returncode == 0, result.stderr
    decoder = msgspec.json.Decoder(ExportedEvent)
    return result.stdout, [decoder.decode(line) for line in result.stdout.splitlines()]


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def only(lines: list[ExportedEvent], topic_end: str) -> list[ExportedEvent]:
    found = [e for e in lines if e.topic.endswith(topic_end)]
    assert found, f"no {topic_end} in the export"
    return found


def test_the_export_holds_every_event_once_in_time_order(services, people, env):
    _, lines = export(env, "--since", "2000-01-01")
    apps = (services.accounts, services.catalogue, services.claims, services.follows, services.invitations)
    stored = {(app.name, n.id) for app in apps
              for n in app.recorder.select_notifications(start=0, limit=10_000, inclusive_of_start=False)}
    assert len(lines) == len(stored)
    assert {(e.application, e.notification_id) for e in lines} == stored
    redactor = Redactor(services, personal=False)
    for app in apps:  # read in pages of two, each event still comes once
        paged = application_events(app, redactor, datetime(2000, 1, 1, tzinfo=UTC), None, page=2)
        assert [e.notification_id for e in paged] == sorted(n for name, n in stored if name == app.name)
    assert {e.application for e in lines} == APPLICATIONS
    by_app: dict[str, list[int]] = defaultdict(list)
    for position, e in enumerate(lines):
        by_app[e.application].append(position)
    for positions in by_app.values():  # one application's events in notification order
        ids = [lines[p].notification_id for p in positions]
        assert ids == sorted(ids)
    # Merged by time: no event comes out while another application holds an earlier one back.
    for position, e in enumerate(lines):
        for other, positions in by_app.items():
            later = next((p for p in positions if p > position), None)
            if other != e.application and later is not None:
                assert lines[later].timestamp >= e.timestamp, (e, lines[later])
    assert all(e.timestamp.utcoffset() == timedelta(0) for e in lines)


def test_since_and_until_keep_only_the_events_between(people, env):
    _, everything = export(env, "--since", "2000-01-01")
    times = sorted(e.timestamp for e in everything)
    since, until = times[len(times) // 4], times[3 * len(times) // 4]
    _, between = export(env, "--since", iso(since), "--until", iso(until))
    assert between == [e for e in everything if since <= e.timestamp < until]
    assert 0 < len(between) < len(everything)
    _, after = export(env, "--since", iso(since))
    assert after == [e for e in everything if e.timestamp >= since]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert export(env, "--since", tomorrow) == ("", [])  # a date alone: midnight UTC
    _, until_tomorrow = export(env, "--since", "2000-01-01", "--until", tomorrow)
    assert until_tomorrow == everything


def test_personal_data_is_redacted_by_default(services, people, env, tmp_path):
    out = tmp_path / "audit.jsonl"
    result = run(env, "--since", "2000-01-01", "--output", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    _, lines = export(env, "--since", "2000-01-01")
    assert text == "".join(msgspec.json.encode(e).decode() + "\n" for e in lines)
    for plain in PLAINTEXTS:
        assert plain not in text
    assert "v1:" not in text  # no ciphertext either
    assert services.vault.email_key(CLARA["email"]) not in text
    registered = only(lines, ":Account.Registered")[0].state
    assert {k: registered[k] for k in ("sealed_email", "sealed_display_name", "sealed_password_hash", "email_key")} \
        == dict.fromkeys(("sealed_email", "sealed_display_name", "sealed_password_hash", "email_key"), "redacted")
    assert only(lines, ":Account.ConfirmationCodeIssued")[0].state["code_hash"] == "redacted"
    assert only(lines, ":EmailAddress.Reserved")[0].state["email_key"] == "redacted"
    assert only(lines, ":Session.Started")[0].state["secret_hash"] == "redacted"
    opened = only(lines, ":Claim.Opened")[0].state
    assert opened["fingerprint"] == "redacted"
    evidence = {e["kind"]: e for e in opened["evidence"]}
    assert evidence["institutional_email"]["sealed_email"] == "redacted"
    assert evidence["institutional_email"]["domain"] == "uni.example"  # what is not personal stays
    assert evidence["statement"]["sealed_text"] == "redacted"
    assert only(lines, ":Claim.EmailCodeIssued")[0].state["code_hash"] == "redacted"
    assert only(lines, ":Claim.EvidenceVerified")[0].state["proof"] == {"orcid": "redacted", "proven_at": "redacted"}
    assert only(lines, ":Claim.EvidenceAdded")[0].state["evidence"][0]["sealed_text"] == "redacted"
    assert only(lines, ":Invitation.Sent")[0].state["sealed_message"] == "redacted"
    assert only(lines, ":Invitation.Reported")[0].state["sealed_reason"] == "redacted"
    assert only(lines, ":Conversation.MessagePosted")[0].state["sealed_text"] == "redacted"


def test_personal_by_an_admin_shows_the_plaintext(people, env):
    text, lines = export(env, "--since", "2000-01-01", "--personal", "--as", "ADMIN@example.org")
    for plain in [*CLARA.values(), *RICO.values(), *DORA.values(), *ADMIN.values()]:
        assert plain in text
    registered = {e.originator_id: e.state for e in only(lines, ":Account.Registered")}
    assert (registered[people.clara]["sealed_email"], registered[people.clara]["sealed_display_name"]) \
        == (CLARA["email"], CLARA["name"])
    assert registered[people.clara]["sealed_password_hash"] == "redacted"  # a credential, never shown
    evidence = {e["kind"]: e for e in only(lines, ":Claim.Opened")[0].state["evidence"]}
    assert evidence["institutional_email"]["sealed_email"] == CLARA["work_email"]
    assert evidence["statement"]["sealed_text"] == CLARA["statement"]
    rebuttal = only(lines, ":Claim.EvidenceAdded")[0].state["evidence"][0]  # the owner's side, the owner's key
    assert (rebuttal["sealed_text"], rebuttal["by"]) == (CLARA["rebuttal"], str(people.clara))
    assert only(lines, ":Invitation.Sent")[0].state["sealed_message"] == CLARA["invitation"]
    assert only(lines, ":Invitation.Reported")[0].state["sealed_reason"] == RICO["report"]
    assert only(lines, ":Conversation.MessagePosted")[0].state["sealed_text"] == CLARA["message"]
    assert only(lines, ":Account.ConfirmationCodeIssued")[0].state["code_hash"] == "redacted"
    assert PASSWORD not in text


@pytest.mark.parametrize("who", [None, CLARA["email"], "nobody@example.org", "not an address"])
def test_personal_without_an_admin_exits_2_and_writes_nothing(people, env, tmp_path, who):
    out = tmp_path / "audit.jsonl"
    result = run(env, "--since", "2000-01-01", "--output", str(out), "--personal", *(["--as", who] if who else []))
    assert result.returncode == 2
    expected = {None: "--personal needs --as EMAIL", CLARA["email"]: f"{CLARA['email']} is not an admin",
                "nobody@example.org": "no account has the address nobody@example.org",
                "not an address": "no account has the address not an address"}[who]
    assert result.stderr.startswith("peerledger history export: ") and expected in result.stderr, result.stderr
    assert result.stdout == ""
    assert list(tmp_path.glob("*audit.jsonl*")) == []
    assert run(env, "--since", "2000-01-01", "--personal", *(["--as", who] if who else [])).stdout == ""


def test_an_erased_accounts_data_shows_as_erased_even_with_personal(services, people, env):
    services.accounts.erase(people.clara)
    text, lines = export(env, "--since", "2000-01-01", "--personal", "--as", ADMIN["email"])
    for plain in CLARA.values():
        assert plain not in text
    registered = {e.originator_id: e.state for e in only(lines, ":Account.Registered")}
    assert (registered[people.clara]["sealed_email"], registered[people.clara]["sealed_display_name"]) \
        == ("erased", "erased")
    evidence = {e["kind"]: e for e in only(lines, ":Claim.Opened")[0].state["evidence"]}
    assert (evidence["institutional_email"]["sealed_email"], evidence["statement"]["sealed_text"]) \
        == ("erased", "erased")
    assert only(lines, ":Claim.EvidenceAdded")[0].state["evidence"][0]["sealed_text"] == "erased"
    assert only(lines, ":Invitation.Sent")[0].state["sealed_message"] == "erased"
    assert only(lines, ":Conversation.MessagePosted")[0].state["sealed_text"] == "erased"
    # Other people's data still opens: the erasure is Clara's alone.
    assert registered[people.rico]["sealed_email"] == RICO["email"]
    assert only(lines, ":Invitation.Reported")[0].state["sealed_reason"] == RICO["report"]
    assert only(lines, ":Account.Erased")[0].originator_id == people.clara


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "", "0001-01-01T00:00:00+14:00"])
def test_a_bad_since_exits_2_with_a_message(env, since):
    result = run(env, "--since", since)
    assert (result.returncode, result.stdout) == (2, "")
    assert "peerledger history export: error: argument --since: " in result.stderr
    assert f"{since!r} is not an ISO 8601 date or timestamp" in result.stderr
