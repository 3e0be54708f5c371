"""`replay --verify`: after a random workload over all areas, a rebuild of every read model from the
log equals the live one; a live row changed behind the projections' back is reported."""

from __future__ import annotations

import json
import random
import uuid

from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.follows.application import FollowCommand
from domain.invitations.application import SendFacts
from operations.importing import import_body
from operations.replay import verify
from bootstrap.services import PROJECTIONS
from tests.factories import register_confirmed, synthetic_works


def workload(services) -> None:
    rng = random.Random(2)
    import_body(services.catalogue, json.dumps(synthetic_works(40, 20, authors_per_work=3, seed=4)).encode())
    for runner in services.runners:
        runner.catch_up()
    accounts = [register_confirmed(services, f"v{n}@example.org", f"V {n}") for n in range(6)]
    known = {researcher_id_for(f"A{n}") for n in range(1, 21) if services.profiles_view.exists(str(researcher_id_for(f"A{n}")))}
    for n, account in enumerate(accounts[:3]):
        rid = researcher_id_for(f"A{n + 1}")
        f = services.profiles_view.record_facts(str(rid))
        facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
        claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
        services.claims.approve(claim, uuid.uuid4(), "L2", "ok", facts)
    # A rejected claim, a correction re-import, and an invitation accepted between two owners.
    rid = researcher_id_for("A4")
    f = services.profiles_view.record_facts(str(rid))
    facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
    rejected = services.claims.open_claim(accounts[3], facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
    services.claims.reject(rejected, uuid.uuid4(), "not enough")
    corrected = synthetic_works(3, 20, authors_per_work=3, seed=4)
    corrected[0]["title"] = "A corrected title"
    import_body(services.catalogue, json.dumps(corrected).encode())
    owners = {researcher_id_for(f"A{n + 1}"): accounts[n] for n in range(3)}
    invitation = services.invitations.send(accounts[0], SendFacts(
        sender_records={researcher_id_for("A1"): "L2"}, recipient_record=researcher_id_for("A2"),
        recipient_owner=accounts[1], recipient_status="claimed", distance=1), "Shall we?", None, None)
    services.invitations.accept(invitation, accounts[1], recipient_record_status="claimed",
                                recipient_record_owner=accounts[1])
    # A dispute over A3, settled by a moderator in the challenger's favour (owner removed and set).
    rid = researcher_id_for("A3")
    f = services.profiles_view.record_facts(str(rid))
    facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
    challenge = services.claims.open_claim(accounts[4], facts, [EvidenceIn("statement", text="no, me",
                                                                           links=("https://x.org/",))])
    services.claims.approve(challenge, uuid.uuid4(), "L2", "the thesis says so", facts)
    owners[rid] = accounts[4]
    services.follows.apply_all([FollowCommand(rng.choice(accounts), rng.choice(sorted(known)), rng.random() < 0.8, confirmed=True)
                                for _ in range(60)], known=known, owners=owners)
    # "Not mine": A1's owner disowns two of its works and takes one back (the reason sealed), a
    # moderator one of A6's; then a re-import that still lists every authorship.
    for runner in services.runners:
        runner.catch_up()
    a1 = researcher_id_for("A1")
    f = services.profiles_view.record_facts(str(a1))
    facts = RecordFacts(a1, f["orcid"], f["base_level"], f["institution_ids"])
    mine = [uuid.UUID(wid) for _, wid, _ in services.profiles_view.works_of(str(a1), None, 2)]
    for wid in mine:
        services.claims.change_attribution(facts, wid, accounts[0], is_moderator=False, not_mine=True, reason="not me")
    services.claims.change_attribution(facts, mine[0], accounts[0], is_moderator=False, not_mine=False)
    a6 = researcher_id_for("A6")
    f = services.profiles_view.record_facts(str(a6))
    [(_, theirs, _)] = services.profiles_view.works_of(str(a6), None, 1)
    services.claims.change_attribution(RecordFacts(a6, f["orcid"], f["base_level"], f["institution_ids"]),
                                       uuid.UUID(theirs), uuid.uuid4(), is_moderator=True, not_mine=True)
    # Links: A2's owner links A7 and A8 (approved; A8 then unlinked) and A9 (rejected); A10 waits.
    def facts_of(openalex_id):
        rid = researcher_id_for(openalex_id)
        f = services.profiles_view.record_facts(str(rid))
        return RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])

    a2, moderator = facts_of("A2"), uuid.uuid4()
    for n, approve in ((7, True), (8, True), (9, False), (10, None)):
        asked = services.claims.link(a2, facts_of(f"A{n}"), accounts[1], [EvidenceIn("statement", text="me too")])
        if approve is not None:
            services.claims.decide_link(asked.request_id, moderator, approve=approve, reason="seen")
    services.claims.unlink(a2, researcher_id_for("A8"), accounts[1], is_moderator=False)
    import_body(services.catalogue, json.dumps(synthetic_works(40, 20, authors_per_work=3, seed=4)).encode())
    services.accounts.erase(accounts[5])
    for _ in range(2):  # trust reads what the others wrote
        for runner in services.runners:
            runner.catch_up()


def test_a_rebuild_of_every_read_model_equals_the_live_one(services):
    workload(services)
    kinds = {row["kind"] for rid in ("A1", "A3", "A4")
             for row in services.history_view.entries(str(researcher_id_for(rid)), None, 1000, newest_first=False)}
    assert {"work.corrected", "claim.rejected", "dispute.opened", "dispute.resolved", "owner.removed",
            "owner.set", "followers.daily", "attribution.changed"} <= kinds
    link_kinds = {row["kind"] for rid in ("A2", "A8", "A9")
                  for row in services.history_view.entries(str(researcher_id_for(rid)), None, 1000, newest_first=False)}
    assert {"link.requested", "link.added", "link.removed", "link.rejected"} <= link_kinds
    assert services.profiles_view.person_records(str(researcher_id_for("A7")))[0] == str(researcher_id_for("A2"))  # the workload reached every kind of change
    results = verify(services)
    assert [r.projection for r in results] == list(PROJECTIONS)
    assert all(r.rows > 0 for r in results)
    assert [(r.projection, r.differences) for r in results if r.differences] == []


def test_a_row_changed_behind_the_projections_back_is_reported(services):
    workload(services)
    with services.followers_view.datastore.transaction(commit=True) as c:
        c.execute(services.followers_view._sql("UPDATE {counts} SET followers = followers + 1"))
    [result] = verify(services, ["followers"])
    [difference] = result.differences
    assert difference.table == "counts" and difference.only_live and difference.only_rebuilt


def test_a_count_back_at_zero_is_no_difference_from_a_rebuild_that_never_wrote_it(services):
    import_body(services.catalogue, json.dumps(synthetic_works(3, 3, authors_per_work=1, seed=4)).encode())
    record, reader = researcher_id_for("A1"), register_confirmed(services, "reader@example.org", "Reader")
    for follow in (True, False):  # two batches live; one batch in the rebuild
        services.follows.apply_all([FollowCommand(reader, record, follow, confirmed=True)], known={record}, owners={})
        for runner in services.runners:
            runner.catch_up()
    assert services.followers_view.counts_of([str(record)]) == {str(record): (0, 0)}
    [result] = verify(services, ["followers"])
    assert result.differences == []
