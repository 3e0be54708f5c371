"""The trust projection on both stores: live equals rebuilt after a random workload, and history
has one point per change of score."""

from __future__ import annotations

import json
import random
import uuid

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from domain.follows.application import FollowCommand
from projections.trust.runner import TrustRunner
from operations.importing import import_body
from bootstrap.services import VIEW_CLASSES, store_env
from tests.factories import register_confirmed, synthetic_works

MODERATOR = uuid.uuid4()


def catch_up(services) -> None:
    for runner in services.runners:
        runner.catch_up()


def approve(services, account, openalex_id: str, level: str) -> None:
    rid = researcher_id_for(openalex_id)
    f = services.profiles_view.record_facts(str(rid))
    facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
    claim = services.claims.open_claim(account, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
    services.claims.approve(claim, MODERATOR, level, "ok", facts)


def test_live_trust_equals_a_rebuild_after_a_random_workload(services, settings):
    rng = random.Random(11)
    works = synthetic_works(80, 30, authors_per_work=3, seed=3)
    accounts = [register_confirmed(services, f"p{n}@example.org", f"P {n}") for n in range(12)]
    researchers = [researcher_id_for(f"A{n}") for n in range(1, 31)]
    for step in range(8):
        import_body(services.catalogue, json.dumps(works[step * 10:(step + 1) * 10]).encode())
        catch_up(services)
        known = {r for r in researchers if services.profiles_view.exists(str(r))}
        commands = [FollowCommand(rng.choice(accounts), rng.choice(sorted(known)), rng.random() < 0.7, confirmed=True)
                    for _ in range(rng.randint(5, 30))]
        services.follows.apply_all(commands, known=known, owners={})
        if step in (2, 5):  # a few owners verify, which moves both their records and whom they follow
            approve(services, accounts[step], f"A{step + 1}", rng.choice(["L2", "L3"]))
        if rng.random() < 0.6:
            catch_up(services)
    catch_up(services)
    live = services.trust_view.all_scores()
    assert len(live) == 30

    factory = InfrastructureFactory.construct(Environment("trust_rebuilt", store_env(settings, "trust_rebuilt")))
    try:
        rebuilt = factory.tracking_recorder(VIEW_CLASSES["trust"][settings.persistence_module])
        TrustRunner(rebuilt, services.profiles_view, services.followers_view).catch_up()
        assert rebuilt.all_scores() == live
        ids = sorted(live)
        assert rebuilt.snapshots(ids) == services.trust_view.snapshots(ids)
    finally:
        factory.close()


def test_history_has_one_point_per_change_of_score(services):
    import_body(services.catalogue, json.dumps(synthetic_works(6, 4, authors_per_work=2, seed=5)).encode())
    catch_up(services)
    account = services.accounts.register("owner@example.org", "a long enough password", "Owner")
    target = str(researcher_id_for("A1"))
    approve(services, account, "A1", "L2")
    catch_up(services)
    catch_up(services)  # nothing new: no new point
    points = services.trust_view.history(target, None, 10, newest_first=False)
    assert [p["number"] for p in points] == [1, 2]
    assert points[1]["score"] > points[0]["score"]
    assert points[1]["cause"]["changed"]["verification_level"][1] == "L2"
    assert points[1]["cause"]["changed"]["claim_status"] == ["unclaimed", "claimed"]


def test_a_batch_read_before_another_runner_moved_on_is_refused(services):
    # Two runners: one read the feeds at (d, c), the other recorded a batch meanwhile. The
    # first one's snapshots are built from older inputs and must not overwrite newer ones.
    import pytest
    from eventsourcing.persistence import IntegrityError

    import_body(services.catalogue, json.dumps(synthetic_works(6, 4, authors_per_work=2, seed=5)).encode())
    catch_up(services)
    assert services.trust_view.feed_position("profiles-docs") > 0
    with pytest.raises(IntegrityError):
        services.trust_view.apply_batch([], [], read_at=(0, 0))
