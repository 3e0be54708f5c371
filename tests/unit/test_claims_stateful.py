"""Hypothesis drives random sequences of claim commands and checks the rules after every step:
at most one owner, a level consistent with the evidence, and aggregates rebuilt from their stored
events equal to the live ones."""

from __future__ import annotations

import tempfile
from pathlib import Path
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.claims.application import Claims, EvidenceIn, RecordFacts
from domain.claims.model import Claim, ClaimProgress, Record, record_id_for
from domain.errors import DomainError
from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from tests.fakes import Outbox

ORCID, OTHER = "0000-0002-1825-0097", "0000-0002-1694-233X"


class ClaimMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.outbox = Outbox()
        self.claims = Claims(
            # With a cache, "live" aggregates are the very objects commands changed, not replays.
            env={"PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "1000"},
            vault=SqlVault(SQLiteStore(Path(self.folder.name) / "keys.sqlite"), b"k"),
            mailer=self.outbox,
            institution_domains=lambda i: frozenset({"uni.example"}),
        )
        self.facts = RecordFacts(uuid4(), ORCID, "L1", frozenset({"I1"}))
        self.people = [uuid4() for _ in range(3)]
        self.moderators = [uuid4() for _ in range(2)]
        self.opened: list[tuple[UUID, UUID]] = []  # (claim id, claimant)

    def teardown(self) -> None:
        self.claims.close()
        self.folder.cleanup()

    def pick(self, n: int, *statuses: str) -> tuple[UUID, UUID] | None:
        """The n-th claim (modulo) among those in one of `statuses`: steps that can do something."""
        found = [(c, who) for c, who in self.opened if self.claims.repository.get(c).status in statuses]
        return found[n % len(found)] if found else None

    def attempt(self, command) -> None:  # noqa: ANN001
        try:
            command()
        except DomainError:
            pass  # a refusal is a legitimate outcome; the invariants say whether state stayed sound

    @initialize(kinds=st.lists(st.sampled_from(["orcid", "statement", "email"]), min_size=2, max_size=3))
    def competing_claims(self, kinds: list[str]) -> None:
        """Start with claims by different people open at once: where ownership races live."""
        for who, kind in enumerate(kinds):
            self.open_claim(who, kind)

    @rule(who=st.integers(0, 2), kind=st.sampled_from(["orcid", "statement", "email"]))
    def open_claim(self, who: int, kind: str) -> None:
        evidence = {
            "orcid": EvidenceIn("orcid"),
            "statement": EvidenceIn("statement", text=f"claim {len(self.opened)}"),
            "email": EvidenceIn("institutional_email", email=f"p{who}@uni.example"),
        }[kind]

        def run() -> None:
            claim_id = self.claims.open_claim(self.people[who], self.facts, [evidence])
            self.opened.append((claim_id, self.people[who]))

        self.attempt(run)

    OPEN = ("awaiting_verification", "pending", "info_requested", "disputing")

    @rule(n=st.integers(0, 50), right=st.booleans())
    def sign_in_with_orcid(self, n: int, right: bool) -> None:
        if picked := self.pick(n, "awaiting_verification"):
            self.attempt(lambda: self.claims.prove_orcid(picked[0], picked[1], ORCID if right else OTHER, self.facts))

    @rule(n=st.integers(0, 50), right=st.booleans())
    def enter_email_code(self, n: int, right: bool) -> None:
        if picked := self.pick(n, "awaiting_verification"):
            claim_id, who = picked
            code = self.outbox.code_to(f"p{self.people.index(who)}@uni.example", default="000000")
            self.attempt(lambda: self.claims.confirm_email_code(claim_id, who, code if right else "999999", self.facts))

    @rule(n=st.integers(0, 50), mod=st.integers(0, 1), level=st.sampled_from(["L2", "L3"]))
    def approve(self, n: int, mod: int, level: str) -> None:
        if picked := self.pick(n, *self.OPEN):
            self.attempt(lambda: self.claims.approve(picked[0], self.moderators[mod], level, "ok", self.facts))

    @rule(n=st.integers(0, 50), mod=st.integers(0, 1))
    def reject(self, n: int, mod: int) -> None:
        if picked := self.pick(n, *self.OPEN):
            self.attempt(lambda: self.claims.reject(picked[0], self.moderators[mod], "no"))

    @rule(n=st.integers(0, 50))
    def withdraw(self, n: int) -> None:
        if picked := self.pick(n, *self.OPEN):
            self.attempt(lambda: self.claims.withdraw(*picked))

    @rule(n=st.integers(0, 50))
    def appeal(self, n: int) -> None:
        if picked := self.pick(n, "rejected"):
            self.attempt(lambda: self.claims.appeal(picked[0], picked[1], "please"))

    def has_owner(self) -> bool:
        record = self.record()
        return record is not None and record.owner is not None

    @precondition(has_owner)
    @rule(who=st.integers(0, 2))
    def release(self, who: int) -> None:
        self.attempt(lambda: self.claims.release(self.facts, self.people[who], "not me"))

    @precondition(has_owner)
    @rule(mod=st.integers(0, 1))
    def revoke(self, mod: int) -> None:
        self.attempt(lambda: self.claims.revoke_owner(self.facts, self.moderators[mod], "fraud"))

    # -- invariants -------------------------------------------------------------------------------

    def record(self) -> Record | None:
        return self.claims.get_record(self.facts.researcher_id)

    @invariant()
    def at_most_one_owner_and_it_holds_an_approved_claim(self) -> None:
        record = self.record()
        if record is None or record.owner is None:
            return
        owner_claim = self.claims.repository.get(record.owner_claim)
        assert owner_claim.status == "approved" and owner_claim.account_id == record.owner

    @invariant()
    def every_approval_but_the_last_was_undone_by_a_release_revocation_or_transfer(self) -> None:
        record = self.record()
        if record is None:
            return
        approved = sum(1 for claim_id, _ in self.opened if self.claims.repository.get(claim_id).status == "approved")
        removals = sum(1 for e in self.claims.events.get(record.id) if isinstance(e, Record.OwnerRemoved))
        assert approved <= removals + 1

    @invariant()
    def the_level_follows_the_evidence(self) -> None:
        record = self.record()
        if record is None:
            return
        if record.owner is None:
            assert record.level == "L1"  # unowned: back to what the catalogue gives
            return
        owner_claim: Claim = self.claims.repository.get(record.owner_claim)
        assert record.level in ("L2", "L3")
        if owner_claim.decided_by == "system":  # approved without a moderator: only by verified evidence
            assert record.level == "L2"
            assert any(e["status"] == "verified" and e["kind"] != "statement" for e in owner_claim.evidence)

    @invariant()
    def the_status_worked_out_from_the_events_alone_is_the_claims_own(self) -> None:
        """What the moderation queue folds (ClaimProgress) agrees with the Claim's own rules."""
        for claim_id, _ in self.opened:
            events = list(self.claims.events.get(claim_id))
            progress = ClaimProgress.opened(events[0])
            for e in events[1:]:
                progress = progress.after(e)
            assert progress.status == self.claims.repository.get(claim_id).status

    @invariant()
    def aggregates_rebuilt_from_their_events_equal_the_live_ones(self) -> None:
        ids = [claim_id for claim_id, _ in self.opened]
        if self.record() is not None:
            ids.append(record_id_for(self.facts.researcher_id))
        for aggregate_id in ids:
            live = self.claims.repository.get(aggregate_id)
            rebuilt = None
            for e in self.claims.events.get(aggregate_id):
                rebuilt = e.mutate(rebuilt)
            assert rebuilt is not None and vars(rebuilt) == vars(live)

    @invariant()
    def a_dispute_is_one_open_disputing_claim_against_the_current_owner(self) -> None:
        record = self.record()
        if record is None or record.dispute_claim is None:
            return
        claim = self.claims.repository.get(record.dispute_claim)
        assert claim.status in ("disputing", "info_requested")
        assert record.owner is not None and claim.disputes_owner == record.owner

    @invariant()
    def open_claims_on_the_record_are_open(self) -> None:
        record = self.record()
        if record is None:
            return
        for claim_id in record.open_claims.values():
            assert self.claims.repository.get(UUID(claim_id)).is_open


ClaimMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestClaimRules = ClaimMachine.TestCase
