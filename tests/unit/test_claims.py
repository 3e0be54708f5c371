"""Claim rules on the in-memory event store: every transition, and every refused one."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from domain.claims.application import SHARED_MAILBOX, Claims, EvidenceIn, RecordFacts
from domain.errors import (ClaimConflictError, ClaimNotFoundError, ForbiddenError, InvalidInputError,
                           ResearcherNotFoundError, TooManyRequestsError)
from adapters.sqlstore import SQLiteStore
from adapters.vault import SqlVault
from tests.factories import orcid_with_checksum
from tests.fakes import Clock, Outbox

ORCID = "0000-0002-1825-0097"
OTHER_ORCID = "0000-0002-1694-233X"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def outbox():
    return Outbox()


@pytest.fixture
def claims(tmp_path, outbox, clock):
    app = Claims(
        env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
        vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"),
        mailer=outbox,
        institution_domains=lambda i: frozenset({"uni.example"}) if i == "I1" else frozenset(),
        clock=clock,
    )
    yield app
    app.close()


RESEARCHER = uuid4()
FACTS = RecordFacts(RESEARCHER, ORCID, "L1", frozenset({"I1"}))
ORCID_EVIDENCE = [EvidenceIn("orcid")]
STATEMENT = [EvidenceIn("statement", text="I wrote these papers", links=("https://example.org/cv",))]


def level_events(claims: Claims):
    record = claims.get_record(RESEARCHER)
    return [e for e in claims.events.get(record.id) if type(e).__name__ == "VerificationChanged"]


def test_a_proven_orcid_equal_to_the_records_approves_at_once_at_l2(claims):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, ORCID_EVIDENCE)
    assert claims.view(claim_id, me, is_moderator=False).status == "awaiting_verification"
    assert claims.prove_orcid(claim_id, me, ORCID, FACTS) == "approved"
    record = claims.get_record(RESEARCHER)
    assert (record.owner, record.level, record.status) == (me, "L2", "claimed")
    [change] = level_events(claims)
    assert (change.old_level, change.new_level, change.actor) == ("L1", "L2", "system")
    assert change.evidence[0]["kind"] == "orcid"


def test_an_orcid_sign_in_that_proves_another_id_does_not_verify(claims):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, ORCID_EVIDENCE)
    assert claims.prove_orcid(claim_id, me, OTHER_ORCID, FACTS) == "pending"
    view = claims.view(claim_id, me, is_moderator=False)
    assert view.evidence[0]["status"] == "failed"
    assert OTHER_ORCID in view.evidence[0]["failure"]
    assert claims.get_record(RESEARCHER).owner is None


def test_orcid_evidence_needs_a_record_with_an_orcid(claims):
    with pytest.raises(InvalidInputError, match="no ORCID iD"):
        claims.open_claim(uuid4(), RecordFacts(RESEARCHER, None, "L1", frozenset()), ORCID_EVIDENCE)


def test_an_institutional_address_confirmed_by_its_code_sends_the_claim_to_a_moderator(claims, outbox, clock):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, [EvidenceIn("institutional_email", email="Me@Dept.Uni.Example")])
    code = outbox.code_to("me@dept.uni.example")
    with pytest.raises(InvalidInputError, match="wrong or has expired"):
        claims.confirm_email_code(claim_id, me, "000000" if code != "000000" else "111111", FACTS)
    # An address at the institution proves affiliation, not authorship: strong, verified, and decided by a person.
    assert claims.confirm_email_code(claim_id, me, code, FACTS) == "pending"
    assert claims.view(claim_id, me, is_moderator=False).evidence[0]["status"] == "verified"
    assert claims.get_record(RESEARCHER).owner is None
    claims.approve(claim_id, uuid4(), "L2", "affiliation and publication list match", FACTS)
    [change] = level_events(claims)
    assert change.new_level == "L2"
    assert change.expires_at == clock.now + timedelta(days=365)  # the address proof lapses with its year


def test_an_address_outside_the_records_institutions_is_refused(claims):
    with pytest.raises(InvalidInputError, match="not the domain of an institution of this record"):
        claims.open_claim(uuid4(), FACTS, [EvidenceIn("institutional_email", email="me@gmail.com")])


def test_a_code_for_one_claim_does_not_confirm_another(claims, outbox):
    other_researcher = uuid4()
    other_facts = RecordFacts(other_researcher, None, "L1", frozenset({"I1"}))
    me = uuid4()
    first = claims.open_claim(me, FACTS, [EvidenceIn("institutional_email", email="a@uni.example")])
    second = claims.open_claim(me, other_facts, [EvidenceIn("institutional_email", email="b@uni.example")])
    code_for_first = outbox.code_to("a@uni.example")
    if code_for_first != outbox.code_to("b@uni.example"):
        with pytest.raises(InvalidInputError):
            claims.confirm_email_code(second, me, code_for_first, other_facts)
    assert claims.confirm_email_code(first, me, code_for_first, FACTS) == "pending"


def test_an_expired_code_does_not_confirm(claims, outbox, clock):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, [EvidenceIn("institutional_email", email="me@uni.example")])
    clock.now += timedelta(minutes=31)
    with pytest.raises(InvalidInputError):
        claims.confirm_email_code(claim_id, me, outbox.code_to("me@uni.example"), FACTS)


def test_a_statement_waits_for_a_moderator_who_approves_at_l3(claims):
    me, moderator = uuid4(), uuid4()
    claim_id = claims.open_claim(me, FACTS, STATEMENT)
    assert claims.view(claim_id, moderator, is_moderator=True).status == "pending"
    claims.approve(claim_id, moderator, "L3", "checked the publication list", FACTS)
    record = claims.get_record(RESEARCHER)
    assert (record.owner, record.level) == (me, "L3")
    assert level_events(claims)[-1].actor == str(moderator)


def test_moderators_ask_for_more_and_the_answer_puts_the_claim_back_in_the_queue(claims):
    me, moderator = uuid4(), uuid4()
    claim_id = claims.open_claim(me, FACTS, STATEMENT)
    claims.request_info(claim_id, moderator, "Which institution were you at in 2020?")
    view = claims.view(claim_id, me, is_moderator=False)
    assert (view.status, view.question) == ("info_requested", "Which institution were you at in 2020?")
    claims.add_evidence(claim_id, me, FACTS, [EvidenceIn("statement", text="Renmin University")])
    assert claims.view(claim_id, me, is_moderator=False).status == "pending"


def test_an_identical_resubmission_after_a_rejection_is_refused_but_an_appeal_goes_to_another_moderator(claims):
    me, first_moderator, second_moderator = uuid4(), uuid4(), uuid4()
    claim_id = claims.open_claim(me, FACTS, STATEMENT)
    claims.reject(claim_id, first_moderator, "no evidence of authorship")
    with pytest.raises(ClaimConflictError, match="evidence of your rejected claim"):
        claims.open_claim(me, FACTS, STATEMENT)
    claims.appeal(claim_id, me, "please look at my CV again")
    with pytest.raises(ForbiddenError, match="different moderator"):
        claims.approve(claim_id, first_moderator, "L2", "fine", FACTS)
    claims.approve(claim_id, second_moderator, "L2", "CV matches", FACTS)
    with pytest.raises(ClaimConflictError, match="only a rejected claim can be appealed"):
        claims.appeal(claim_id, me, "again")


def test_a_claim_can_be_appealed_once(claims):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, STATEMENT)
    claims.reject(claim_id, uuid4(), "no")
    claims.appeal(claim_id, me, "please")
    claims.reject(claim_id, uuid4(), "still no")
    with pytest.raises(ClaimConflictError, match="appealed once already"):
        claims.appeal(claim_id, me, "please again")


def test_an_owner_cannot_appeal_an_earlier_rejected_claim_on_the_record_they_own(claims):
    # Found by the stateful test: the appeal reopened the claim, a second approval followed, and
    # the owner held two approved claims on one record.
    me = uuid4()
    rejected = claims.open_claim(me, FACTS, STATEMENT)
    claims.reject(rejected, uuid4(), "no")
    claims.approve(claims.open_claim(me, FACTS, [EvidenceIn("statement", text="new evidence")]), uuid4(), "L2",
                   "fine", FACTS)
    with pytest.raises(ClaimConflictError, match="already own this record") as refused:
        claims.appeal(rejected, me, "please")
    assert refused.value.code == "already_owner"
    assert claims.get_record(RESEARCHER).open_claims == {}


def test_a_claimant_withdraws_an_open_claim_only(claims):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, STATEMENT)
    claims.withdraw(claim_id, me)
    with pytest.raises(ClaimConflictError, match="only an open claim can be withdrawn"):
        claims.withdraw(claim_id, me)
    assert claims.open_claim(me, FACTS, [EvidenceIn("statement", text="new text")])  # a new claim is fine


def test_one_open_claim_per_person_and_record(claims):
    me = uuid4()
    claims.open_claim(me, FACTS, STATEMENT)
    with pytest.raises(ClaimConflictError, match="already have an open claim"):
        claims.open_claim(me, FACTS, [EvidenceIn("statement", text="other words")])


def test_another_persons_claim_does_not_exist_for_you(claims):
    claim_id = claims.open_claim(uuid4(), FACTS, STATEMENT)
    stranger = uuid4()
    for attempt in (
        lambda: claims.view(claim_id, stranger, is_moderator=False),
        lambda: claims.withdraw(claim_id, stranger),
        lambda: claims.add_evidence(claim_id, stranger, FACTS, STATEMENT),
        lambda: claims.confirm_email_code(claim_id, stranger, "123456", FACTS),
        lambda: claims.appeal(claim_id, stranger, "x"),
    ):
        with pytest.raises(ClaimNotFoundError):
            attempt()


def test_a_claim_on_an_owned_record_opens_a_dispute_that_a_moderator_settles(claims):
    owner, challenger, moderator = uuid4(), uuid4(), uuid4()
    claims.prove_orcid(claims.open_claim(owner, FACTS, ORCID_EVIDENCE), owner, ORCID, FACTS)
    dispute = claims.open_claim(challenger, FACTS, STATEMENT)
    assert claims.get_record(RESEARCHER).status == "disputed"
    assert claims.view(dispute, challenger, is_moderator=False).status == "disputing"
    with pytest.raises(ClaimConflictError, match="already under dispute"):
        claims.open_claim(uuid4(), FACTS, STATEMENT)
    claims.approve(dispute, moderator, "L2", "the challenger is the author", FACTS)
    record = claims.get_record(RESEARCHER)
    assert (record.owner, record.status) == (challenger, "claimed")


def test_a_rejected_dispute_keeps_the_owner(claims):
    owner, challenger = uuid4(), uuid4()
    claims.prove_orcid(claims.open_claim(owner, FACTS, ORCID_EVIDENCE), owner, ORCID, FACTS)
    dispute = claims.open_claim(challenger, FACTS, STATEMENT)
    claims.reject(dispute, uuid4(), "the owner proved the ORCID iD")
    record = claims.get_record(RESEARCHER)
    assert (record.owner, record.status) == (owner, "claimed")


def test_the_owner_releases_and_a_moderator_revokes(claims):
    owner, moderator = uuid4(), uuid4()
    claims.prove_orcid(claims.open_claim(owner, FACTS, ORCID_EVIDENCE), owner, ORCID, FACTS)
    with pytest.raises(ForbiddenError, match="only the record's owner"):
        claims.release(FACTS, uuid4(), "not mine")
    claims.release(FACTS, owner, "wrong person")
    record = claims.get_record(RESEARCHER)
    assert (record.owner, record.level) == (None, "L1")
    assert level_events(claims)[-1].reason == "released by its owner: wrong person"
    with pytest.raises(ClaimConflictError, match="has no owner"):
        claims.revoke_owner(FACTS, moderator, "fraud")
    claims.prove_orcid(claims.open_claim(owner, FACTS, ORCID_EVIDENCE), owner, ORCID, FACTS)
    claims.revoke_owner(FACTS, moderator, "fraud")
    assert claims.get_record(RESEARCHER).owner is None


def test_moderators_cannot_decide_their_own_claims_or_closed_ones(claims):
    moderator = uuid4()
    own = claims.open_claim(moderator, FACTS, STATEMENT)
    with pytest.raises(ForbiddenError, match="their own claim"):
        claims.approve(own, moderator, "L2", "me", FACTS)
    claims.withdraw(own, moderator)
    with pytest.raises(ClaimConflictError, match="cannot be decided"):
        claims.reject(own, uuid4(), "late")
    with pytest.raises(InvalidInputError, match="L2 or L3"):
        claims.approve(own, uuid4(), "L9", "x", FACTS)


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ([], "at least one piece of evidence"),
        ([EvidenceIn("photo")], "unknown kind of evidence"),
        ([EvidenceIn("statement", text="  ")], "needs some text"),
        ([EvidenceIn("statement", text="x", links=("javascript:alert(1)",))], r"at most 10 http\(s\) addresses"),
        ([EvidenceIn("institutional_email", email="nonsense")], "is not an email address"),
    ],
)
def test_bad_evidence_is_refused(claims, evidence, message):
    with pytest.raises(InvalidInputError, match=message):
        claims.open_claim(uuid4(), FACTS, evidence)


def test_the_statement_text_and_address_are_stored_sealed(claims):
    me = uuid4()
    claims.open_claim(me, FACTS, [EvidenceIn("statement", text="secret words"),
                                  EvidenceIn("institutional_email", email="hidden@uni.example")])
    stored = b"".join(n.state for n in claims.recorder.select_notifications(start=0, limit=50, inclusive_of_start=False))
    assert b"secret words" not in stored and b"hidden@uni.example" not in stored




def own_at_l2(claims, researcher, owner, orcid=None):
    """`owner` proves the record's ORCID iD (each record its own unless `orcid` says otherwise)."""
    orcid = orcid or orcid_with_checksum(f"{researcher.int % 10**15:015d}")
    facts = RecordFacts(researcher, orcid, "L1", frozenset())
    claims.prove_orcid(claims.open_claim(owner, facts, ORCID_EVIDENCE), owner, orcid, facts)
    return facts


def test_two_verified_co_authors_vouching_raise_a_record_to_l3(claims):
    me, first, second = uuid4(), uuid4(), uuid4()
    mine = own_at_l2(claims, RESEARCHER, me)
    theirs = [own_at_l2(claims, uuid4(), first), own_at_l2(claims, uuid4(), second)]
    assert claims.vouch(mine, first, [theirs[0]]) == "L2"
    with pytest.raises(ClaimConflictError, match="vouched for this record already"):
        claims.vouch(mine, first, [theirs[0]])
    assert claims.vouch(mine, second, [theirs[1]]) == "L3"
    change = level_events(claims)[-1]
    assert (change.old_level, change.new_level, change.actor) == ("L2", "L3", "vouching")


def test_only_owners_of_verified_co_author_records_vouch(claims):
    me, stranger = uuid4(), uuid4()
    mine = own_at_l2(claims, RESEARCHER, me)
    unowned = RecordFacts(uuid4(), None, "L1", frozenset())
    with pytest.raises(ForbiddenError, match="co-author record verified at L2 or L3"):
        claims.vouch(mine, stranger, [unowned])
    with pytest.raises(ForbiddenError, match="cannot vouch for themselves"):
        claims.vouch(mine, me, [mine])
    with pytest.raises(ClaimConflictError, match="only a claimed record"):
        claims.vouch(RecordFacts(uuid4(), None, "L1", frozenset()), stranger, [mine])


def test_a_lapsed_institutional_email_proof_lowers_the_level(claims, outbox, clock):
    me = uuid4()
    claim_id = claims.open_claim(me, FACTS, [EvidenceIn("institutional_email", email="me@uni.example")])
    claims.confirm_email_code(claim_id, me, outbox.code_to("me@uni.example"), FACTS)
    claims.approve(claim_id, uuid4(), "L2", "the address and the works agree", FACTS)
    assert claims.lapse_expired_evidence(RESEARCHER) is False
    clock.now += timedelta(days=366)
    assert claims.lapse_expired_evidence(RESEARCHER) is True
    change = level_events(claims)[-1]
    assert (change.old_level, change.new_level) == ("L2", "L1")
    assert claims.get_record(RESEARCHER).owner == me  # still the owner, no longer verified
    assert claims.lapse_expired_evidence(RESEARCHER) is False


def owned_and_disputed(claims):
    owner, challenger = uuid4(), uuid4()
    claims.prove_orcid(claims.open_claim(owner, FACTS, ORCID_EVIDENCE), owner, ORCID, FACTS)
    return owner, challenger, claims.open_claim(challenger, FACTS, STATEMENT)


def test_nobody_releases_or_revokes_a_record_under_dispute(claims):
    owner, _, dispute = owned_and_disputed(claims)
    with pytest.raises(ClaimConflictError, match="under dispute"):
        claims.release(FACTS, owner, "leaving")
    with pytest.raises(ClaimConflictError, match=f"decide claim {dispute} first"):
        claims.revoke_owner(FACTS, uuid4(), "fraud")


def test_a_moderator_cannot_decide_a_dispute_about_their_own_record(claims):
    owner, _, dispute = owned_and_disputed(claims)
    with pytest.raises(ForbiddenError, match="their own record"):
        claims.reject(dispute, owner, "mine")


def test_a_withdrawn_dispute_leaves_the_record_claimed(claims):
    owner, challenger, dispute = owned_and_disputed(claims)
    claims.withdraw(dispute, challenger)
    record = claims.get_record(RESEARCHER)
    assert (record.status, record.owner) == ("claimed", owner)
    assert type(list(claims.events.get(record.id))[-1]).__name__ == "DisputeResolved"


def test_an_answer_to_a_question_keeps_a_dispute_a_dispute(claims):
    _, challenger, dispute = owned_and_disputed(claims)
    claims.request_info(dispute, uuid4(), "Which works are yours?")
    claims.add_evidence(dispute, challenger, FACTS, [EvidenceIn("statement", text="the 2022 ones")])
    assert claims.view(dispute, challenger, is_moderator=False).status == "disputing"


def test_an_appealed_dispute_cannot_take_the_record_from_a_later_owner(claims):
    first_owner, challenger, dispute = owned_and_disputed(claims)
    claims.reject(dispute, uuid4(), "no")
    claims.release(FACTS, first_owner, "moving on")
    claims.prove_orcid(claims.open_claim(later := uuid4(), FACTS, ORCID_EVIDENCE), later, ORCID, FACTS)
    with pytest.raises(ClaimConflictError, match="owner has changed since this dispute"):
        claims.appeal(dispute, challenger, "please")
    assert claims.get_record(RESEARCHER).owner == later


def test_only_the_claimants_own_orcid_sign_in_counts(claims):
    claim_id = claims.open_claim(uuid4(), FACTS, ORCID_EVIDENCE)
    with pytest.raises(ClaimNotFoundError):
        claims.prove_orcid(claim_id, uuid4(), ORCID, FACTS)
    assert claims.get_record(RESEARCHER).owner is None


def test_a_transfer_records_a_verification_change_even_at_the_same_level(claims):
    owner, challenger, dispute = owned_and_disputed(claims)
    claims.approve(dispute, uuid4(), "L2", "the challenger is the author", FACTS)
    change = level_events(claims)[-1]
    assert (change.old_level, change.new_level) == ("L2", "L2")
    assert change.reason == "the challenger is the author"


def test_in_a_dispute_both_sides_add_evidence(claims):
    owner, challenger, dispute = owned_and_disputed(claims)
    claims.add_evidence(dispute, owner, FACTS, [EvidenceIn("statement", text="I proved my ORCID iD")])
    with pytest.raises(InvalidInputError, match="owner adds statements"):
        claims.add_evidence(dispute, owner, FACTS, ORCID_EVIDENCE)
    view = claims.view(dispute, owner, is_moderator=False)  # a party to the dispute sees it
    assert [(e.get("by"), e.get("text")) for e in view.evidence] == [
        (None, "I wrote these papers"), (str(owner), "I proved my ORCID iD")]
    with pytest.raises(ClaimNotFoundError):
        claims.add_evidence(dispute, uuid4(), FACTS, STATEMENT)


# -- who may speak for whom (the security probe) ----------------------------------------------------

def test_vouches_come_from_other_people_not_the_owners_own_identity(claims):
    me, my_other_account, first, second = uuid4(), uuid4(), uuid4(), uuid4()
    mine = own_at_l2(claims, RESEARCHER, me, orcid=ORCID)
    # The same person under a second account: a co-author record proven with the same ORCID iD.
    twin = own_at_l2(claims, uuid4(), my_other_account, orcid=ORCID)
    with pytest.raises(ForbiddenError, match="must come from another person"):
        claims.vouch(mine, my_other_account, [twin])
    shared = orcid_with_checksum("000000000000777")
    theirs = [own_at_l2(claims, uuid4(), first, orcid=shared), own_at_l2(claims, uuid4(), second, orcid=shared)]
    assert claims.vouch(mine, first, [theirs[0]]) == "L2"
    with pytest.raises(ForbiddenError, match="must come from another person"):
        claims.vouch(mine, second, [theirs[1]])  # one iD behind two accounts vouches once
    assert claims.get_record(RESEARCHER).level == "L2"


def test_a_moderator_who_claimed_a_record_decides_nothing_about_it(claims):
    moderator, rival = uuid4(), uuid4()
    claims.open_claim(moderator, FACTS, STATEMENT)
    rivals = claims.open_claim(rival, FACTS, [EvidenceIn("statement", text="mine, not theirs")])
    with pytest.raises(ForbiddenError, match="a record they own or have claimed"):
        claims.reject(rivals, moderator, "not yours")
    with pytest.raises(ForbiddenError, match="a record they own or have claimed"):
        claims.request_info(rivals, moderator, "who are you?")
    other = uuid4()
    claims.approve(rivals, other, "L2", "the publication list matches", FACTS)
    with pytest.raises(ForbiddenError, match="revoke the ownership of a record they own or have claimed"):
        claims.revoke_owner(FACTS, moderator, "mine")


def test_a_rejection_decided_by_a_moderator_with_a_side_does_not_hold_back_the_same_evidence(claims):
    moderator, claimant = uuid4(), uuid4()
    claims.open_claim(moderator, FACTS, STATEMENT)
    rejected = claims.open_claim(claimant, FACTS, [EvidenceIn("statement", text="mine")])
    # As the old code let it happen: the moderator with the rival claim rejects this one.
    claim, record = claims._claim(rejected), claims.get_record(RESEARCHER)
    claim.reject(str(moderator), "no")
    record.note_claim_closed(claim.id, claimant, "rejected", claim.fingerprint)
    claims.save(claim, record)
    again = claims.open_claim(claimant, FACTS, [EvidenceIn("statement", text="mine")])
    assert claims.view(again, claimant, is_moderator=False).status == "pending"


def test_the_same_evidence_after_a_fair_rejection_is_still_refused(claims):
    claimant = uuid4()
    rejected = claims.open_claim(claimant, FACTS, [EvidenceIn("statement", text="mine")])
    claims.reject(rejected, uuid4(), "no evidence of authorship")
    with pytest.raises(ClaimConflictError, match="evidence of your rejected claim"):
        claims.open_claim(claimant, FACTS, [EvidenceIn("statement", text="mine")])


def test_code_mail_is_counted_before_it_is_sent(tmp_path, outbox):
    counted: list[tuple[object, str]] = []

    def quota(account_id, mailbox):
        if len(counted) == 2:
            raise TooManyRequestsError("too many claim codes", 60)
        counted.append((account_id, mailbox))

    app = Claims(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                 vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"), mailer=outbox,
                 institution_domains=lambda i: frozenset({"uni.example"}), code_mail_quota=quota)
    me = uuid4()
    for n in range(2):
        app.open_claim(me, RecordFacts(uuid4(), None, "L1", frozenset({"I1"})),
                       [EvidenceIn("institutional_email", email="x@uni.example")])
    with pytest.raises(TooManyRequestsError):
        app.open_claim(me, FACTS, [EvidenceIn("institutional_email", email="x@uni.example")])
    assert len(outbox.sent) == 2 and len({m for _, m in counted}) == 1  # one address, by its keyed hash
    assert outbox.accounts == [me, me]  # each mail is tagged with the claimant (erasure finds it)


def test_an_address_another_account_proved_backs_no_claim_of_this_one(claims, outbox):
    first, second = uuid4(), uuid4()
    other = RecordFacts(uuid4(), None, "L1", frozenset({"I1"}))
    one = claims.open_claim(first, FACTS, [EvidenceIn("institutional_email", email="lab@uni.example")])
    two = claims.open_claim(second, other, [EvidenceIn("institutional_email", email="lab@uni.example")])
    codes = {c: outbox.sent[n][2].split("code is ")[1][:6] for n, c in enumerate((one, two))}
    assert claims.confirm_email_code(one, first, codes[one], FACTS) == "pending"
    # The second account raced for the same mailbox; the first proved it first.
    assert claims.confirm_email_code(two, second, codes[two], other) == "pending"
    evidence = claims.view(two, second, is_moderator=False).evidence[0]
    assert evidence["status"] == "failed" and "another account" in evidence["failure"]


def test_a_tagged_address_reaches_the_same_mailbox_and_backs_no_second_account(claims, outbox):
    first, second = uuid4(), uuid4()
    one = claims.open_claim(first, FACTS, [EvidenceIn("institutional_email", email="lab@uni.example")])
    claims.confirm_email_code(one, first, outbox.code_to("lab@uni.example"), FACTS)
    other = RecordFacts(uuid4(), None, "L1", frozenset({"I1"}))
    two = claims.open_claim(second, other, [EvidenceIn("institutional_email", email="lab+second@uni.example")])
    assert claims.view(two, second, is_moderator=False).evidence[0]["failure"] == SHARED_MAILBOX
    assert [to for to, *_ in outbox.sent] == ["lab@uni.example"]  # no code for the tagged address


def test_an_erased_accounts_mailbox_is_free_for_the_next_account(claims, outbox):
    erased, erased_accounts = uuid4(), set()
    claims.account_exists = lambda account_id: account_id not in erased_accounts
    one = claims.open_claim(erased, FACTS, [EvidenceIn("institutional_email", email="ada@uni.example")])
    claims.confirm_email_code(one, erased, outbox.code_to("ada@uni.example"), FACTS)
    erased_accounts.add(erased)
    again = uuid4()
    other = RecordFacts(uuid4(), None, "L1", frozenset({"I1"}))
    claim_id = claims.open_claim(again, other, [EvidenceIn("institutional_email", email="ada@uni.example")])
    assert claims.confirm_email_code(claim_id, again, outbox.code_to("ada@uni.example"), other) == "pending"
    assert claims.view(claim_id, again, is_moderator=False).evidence[0]["status"] == "verified"


def test_code_mail_counts_only_when_a_code_is_sent(tmp_path, outbox):
    counted = []
    app = Claims(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                 vault=SqlVault(SQLiteStore(tmp_path / "keys.sqlite"), b"k"), mailer=outbox,
                 institution_domains=lambda i: frozenset({"uni.example"}),
                 code_mail_quota=lambda account_id, mailbox: counted.append(mailbox))
    me = uuid4()
    evidence = [EvidenceIn("institutional_email", email="victim@uni.example")]
    app.open_claim(me, FACTS, evidence)
    for _ in range(3):  # refused: an open claim already; nothing mailed, nothing counted
        with pytest.raises(ClaimConflictError):
            app.open_claim(me, FACTS, evidence)
    assert len(counted) == len(outbox.sent) == 1


def test_a_moderator_with_a_side_does_not_read_the_rivals_claim(claims):
    moderator, rival = uuid4(), uuid4()
    claims.open_claim(moderator, FACTS, STATEMENT)
    rivals = claims.open_claim(rival, FACTS, [EvidenceIn("statement", text="my papers, my evidence")])
    with pytest.raises(ClaimNotFoundError):
        claims.view(rivals, moderator, is_moderator=True)
    assert claims.view(rivals, uuid4(), is_moderator=True).status == "pending"  # any other moderator does


def test_a_record_the_old_rule_verified_on_an_address_alone_is_lowered_and_its_owner_claims_again(claims):
    owner = uuid4()
    # As the old code did: an institutional address confirmed, the system approves at L2.
    claim_id = claims.open_claim(owner, FACTS, [EvidenceIn("institutional_email", email="me@uni.example")])
    claim, record = claims._claim(claim_id), claims.get_record(RESEARCHER)
    claim.verify_evidence(claim.evidence[0]["id"], {"confirmed_at": "2025-01-01T00:00:00+00:00"})
    claim.approve("system", "L2", "institutional email address confirmed")
    claims._make_owner(record, claim, "L2", "institutional email address confirmed", "system", None)
    claims.save(claim, record)
    assert claims.lapse_expired_evidence(RESEARCHER) is True
    record = claims.get_record(RESEARCHER)
    assert (record.owner, record.level) == (owner, "L1")
    assert claims.lapse_expired_evidence(RESEARCHER) is False
    again = claims.open_claim(owner, FACTS, STATEMENT)  # the owner, to be verified again
    claims.approve(again, uuid4(), "L2", "publication list matches", FACTS)
    assert (claims.get_record(RESEARCHER).owner, claims.get_record(RESEARCHER).level) == (owner, "L2")
    with pytest.raises(ClaimConflictError, match="already own this record, verified at L2"):
        claims.open_claim(owner, FACTS, STATEMENT)


class KnownRecords:
    """A RecordFactsSource that knows FACTS' record only."""

    def record_facts(self, researcher_id):
        return FACTS if researcher_id == RESEARCHER else None


def test_commands_read_a_records_facts_through_the_record_facts_port(claims):
    claims.records = KnownRecords()
    assert claims.facts_of(RESEARCHER) == FACTS
    with pytest.raises(ResearcherNotFoundError, match="A123"):
        claims.facts_of(uuid4(), asked_as="A123")  # named as the caller gave it


def test_without_a_record_facts_source_no_record_is_known(claims):
    with pytest.raises(ResearcherNotFoundError):
        claims.facts_of(RESEARCHER)


def owned_by(claims: Claims, owner: UUID) -> None:
    claims.prove_orcid(claims.open_claim(owner, FACTS, ORCID_EVIDENCE), owner, ORCID, FACTS)


def rejected_claim(claims: Claims, claimant: UUID, text: str = "I wrote these papers") -> UUID:
    claim_id = claims.open_claim(claimant, FACTS, [EvidenceIn("statement", text=text)])
    claims.reject(claim_id, uuid4(), "not shown")
    return claim_id


def test_an_appeal_waits_while_its_claimant_has_another_open_claim_on_the_record(claims):
    me = uuid4()
    rejected = rejected_claim(claims, me)
    claims.open_claim(me, FACTS, [EvidenceIn("statement", text="new evidence")])
    with pytest.raises(ClaimConflictError, match="another open claim on this record") as refused:
        claims.appeal(rejected, me, "please")
    assert refused.value.code == "claim_already_open"


def test_an_appeal_of_a_plain_claim_is_refused_once_someone_else_owns_the_record(claims):
    me = uuid4()
    rejected = rejected_claim(claims, me)
    owned_by(claims, uuid4())
    with pytest.raises(ClaimConflictError, match="claim it again to open a dispute") as refused:
        claims.appeal(rejected, me, "please")
    assert refused.value.code == "record_has_owner"
    assert claims.view(rejected, me, is_moderator=False).status == "rejected"


def test_an_appealed_dispute_waits_for_another_open_dispute(claims):
    owner, challenger = uuid4(), uuid4()
    owned_by(claims, owner)
    rejected = rejected_claim(claims, challenger)
    claims.open_claim(uuid4(), FACTS, STATEMENT)  # a second challenger disputes now
    with pytest.raises(ClaimConflictError, match="already under another dispute") as refused:
        claims.appeal(rejected, challenger, "please")
    assert refused.value.code == "dispute_open"


def test_an_appealed_dispute_no_longer_stands_once_the_disputed_owner_is_gone(claims):
    owner, challenger = uuid4(), uuid4()
    owned_by(claims, owner)
    rejected = rejected_claim(claims, challenger)
    claims.release(FACTS, owner, "not mine after all")
    with pytest.raises(ClaimConflictError, match="owner has changed since this dispute") as refused:
        claims.appeal(rejected, challenger, "please")
    assert refused.value.code == "owner_changed"


def test_only_a_claim_waiting_for_an_orcid_sign_in_takes_one(claims):
    me = uuid4()
    statement_only = claims.open_claim(me, FACTS, STATEMENT)
    with pytest.raises(ClaimConflictError, match="not waiting for an ORCID sign-in") as refused:
        claims.prove_orcid(statement_only, me, ORCID, FACTS)
    assert refused.value.code == "claim_not_open"
    claims.withdraw(statement_only, me)
    withdrawn = claims.open_claim(me, FACTS, ORCID_EVIDENCE)
    claims.withdraw(withdrawn, me)
    with pytest.raises(ClaimConflictError, match="not waiting for an ORCID sign-in"):
        claims.prove_orcid(withdrawn, me, ORCID, FACTS)  # its sign-in never finished, but the claim is closed
    signed_in = claims.open_claim(me, FACTS, ORCID_EVIDENCE)
    assert claims.prove_orcid(signed_in, me, ORCID, FACTS) == "approved"
    with pytest.raises(ClaimConflictError, match="not waiting for an ORCID sign-in"):
        claims.prove_orcid(signed_in, me, ORCID, FACTS)  # a second sign-in changes nothing


@pytest.mark.parametrize(("text", "links", "refused"), [
    ("x" * 5_000, (), None),
    ("x" * 5_001, (), "at most 5000 characters"),
    ("x", tuple(f"https://example.org/{n}" for n in range(10)), None),
    ("x", tuple(f"https://example.org/{n}" for n in range(11)), r"at most 10 http\(s\) addresses"),
    ("x", ("http://example.org/cv",), None),
    ("x", ("ftp://example.org/cv",), r"at most 10 http\(s\) addresses"),
], ids=["5000-chars", "5001-chars", "10-links", "11-links", "http", "ftp"])
def test_a_statement_is_at_most_5000_characters_with_at_most_10_web_links(claims, text, links, refused):
    evidence = [EvidenceIn("statement", text=text, links=links)]
    if refused is None:
        assert claims.open_claim(uuid4(), FACTS, evidence)
    else:
        with pytest.raises(InvalidInputError, match=refused):
            claims.open_claim(uuid4(), FACTS, evidence)


def test_who_may_claim_a_record_is_read_without_writing_and_open_claim_refuses_the_same(claims):
    me, owner, challenger = uuid4(), uuid4(), uuid4()
    assert claims.claim_refusal(me, FACTS) is None  # nobody's: anyone may claim
    mine = claims.open_claim(me, FACTS, STATEMENT)
    claims.withdraw(mine, me)
    owned_by(claims, owner)
    assert claims.claim_refusal(me, FACTS) is None  # someone else's: a claim opens a dispute

    refusals = {"owner": claims.claim_refusal(owner, FACTS)}
    dispute = claims.open_claim(challenger, FACTS, STATEMENT)
    refusals["challenger"] = claims.claim_refusal(challenger, FACTS)
    refusals["third"] = claims.claim_refusal(me, FACTS)
    written = claims.recorder.max_notification_id()
    assert {who: (r.code, r.facts) for who, r in refusals.items()} == {
        "owner": ("already_owner", {}),
        "challenger": ("claim_already_open", {"claim_id": str(dispute)}),
        "third": ("dispute_open", {}),
    }
    for who, account in (("owner", owner), ("challenger", challenger), ("third", me)):
        with pytest.raises(ClaimConflictError) as refused:
            claims.open_claim(account, FACTS, [EvidenceIn("statement", text=f"new words of the {who}")])
        assert refused.value.code == refusals[who].code
    assert claims.recorder.max_notification_id() == written


def test_a_record_linked_into_a_person_is_claimed_through_the_persons_record(claims):
    owner, me = uuid4(), uuid4()
    owned_by(claims, owner)
    member = RecordFacts(uuid4(), ORCID, "L1", frozenset())
    assert claims.link(FACTS, member, owner, [EvidenceIn("orcid")]).linked
    refused = claims.claim_refusal(me, member)
    assert (refused.code, str(RESEARCHER) in refused.detail) == ("already_linked", True)
    with pytest.raises(ClaimConflictError, match="claim that record instead"):
        claims.open_claim(me, member, STATEMENT)


@pytest.mark.parametrize(("facts", "orcid_sign_in", "kinds"), [
    (FACTS, True, ["orcid", "institutional_email", "statement"]),
    (FACTS, False, ["institutional_email", "statement"]),  # ORCID sign-in not configured here
    (RecordFacts(RESEARCHER, None, "L1", frozenset({"I1"})), True, ["institutional_email", "statement"]),
    (RecordFacts(RESEARCHER, ORCID, "L1", frozenset({"I2"})), True, ["orcid", "statement"]),  # I2: no known domain
    (RecordFacts(RESEARCHER, None, "L1", frozenset()), True, ["statement"]),
])
def test_the_evidence_a_record_can_be_claimed_with(claims, facts, orcid_sign_in, kinds):
    assert claims.evidence_kinds(facts, orcid_sign_in=orcid_sign_in) == kinds
