"""The record ports (domain/claims/ports.py, domain/follows/ports.py) as a process wires them:
answered from the profiles view readers use, on both stores."""

from __future__ import annotations

import json
import uuid

from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn
from domain.claims.ports import RecordFacts
from domain.follows.application import FollowCommand
from operations.importing import import_body
from tests.factories import register_confirmed, synthetic_works


def catch_up(services) -> None:
    for runner in services.runners:
        runner.catch_up()


def test_claims_and_follows_read_a_records_facts_through_their_ports(services):
    import_body(services.catalogue, json.dumps(synthetic_works(4, 3, authors_per_work=2, seed=5)).encode())
    catch_up(services)
    record, unknown = researcher_id_for("A1"), uuid.uuid4()
    stored = services.profiles_view.record_facts(str(record))

    facts = services.claims.records.record_facts(record)

    assert facts == RecordFacts(record, stored["orcid"], stored["base_level"], stored["institution_ids"])
    assert services.claims.records.record_facts(unknown) is None
    assert services.follows.records.existing_and_owners([record, unknown]) == ({record}, {})

    owner = register_confirmed(services, "owner@example.org", "Owner")
    claim = services.claims.open_claim(owner, facts, [EvidenceIn("statement", text="me", links=("https://x.org/",))])
    services.claims.approve(claim, uuid.uuid4(), "L2", "ok", facts)
    catch_up(services)

    assert services.follows.records.existing_and_owners([record]) == ({record}, {record: owner})
    [refused] = services.follows.apply_commands([FollowCommand(owner, record, True, confirmed=True)])
    assert refused.error is not None and "record you own" in refused.error.detail
