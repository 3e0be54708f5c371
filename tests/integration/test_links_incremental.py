"""Links in the incrementally kept profiles view: random sequences of imports, corrections,
re-imports, not-mine, undo, link and unlink (Hypothesis), caught up in batches of any size, leave
the view equal to a rebuild from the log (`replay --verify`), every record of a person reading the
person's document and every other record its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bootstrap.services import Services
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn
from domain.claims.ports import RecordFacts
from domain.errors import DomainError
from operations.replay import verify
from tests.conftest import fresh_pg_schema, settings_for
from tests.integration.test_attribution_incremental import catch_up, decide
from tests.integration.test_profiles_incremental import AUTHORS, work_record

OWNER, MODERATOR = uuid.uuid4(), uuid.uuid4()
PERSON = "A1"  # the owner's record, into which the others are linked


@st.composite
def steps(draw: Any) -> list[tuple[str, Any, int]]:
    """Imports (new works, corrections, works as they stand), decisions (author n on work m) and
    links or unlinks of author n into A1, each with the batch size the projection then reads with."""
    current: dict[int, dict[str, Any]] = {}
    found = []
    for _ in range(draw(st.integers(2, 10))):
        size = draw(st.sampled_from([1, 3, 1000]))
        choice = draw(st.integers(0, 3)) if current else 0
        if choice == 1:
            n, m = draw(st.integers(1, AUTHORS)), draw(st.sampled_from(sorted(current)))
            found.append(("not_mine" if draw(st.booleans()) else "undo", (n, m), size))
        elif choice >= 2:
            found.append(("link" if draw(st.booleans()) else "unlink", draw(st.integers(2, AUTHORS)), size))
        else:
            records = []
            for _ in range(draw(st.integers(1, 4))):
                m = draw(st.integers(1, 8))
                if m not in current or draw(st.booleans()):
                    current[m] = draw(work_record(m))
                records.append(current[m])
            found.append(("import", records, size))
    return found


def facts_of(services: Services, n: int) -> RecordFacts | None:
    rid = researcher_id_for(f"A{n}")
    f = services.profiles_view.record_facts(str(rid))
    return None if f is None else RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])


def change_link(services: Services, n: int, link: bool) -> None:
    """Author n linked into A1 through the moderators (A1 owned at L2 first), or unlinked; a
    refusal (no such record yet, not linked) writes nothing."""
    person, other = facts_of(services, 1), facts_of(services, n)
    if person is None or other is None:
        return
    record = services.claims.get_record(person.researcher_id)
    if record is None or record.owner != OWNER:
        claim = services.claims.open_claim(OWNER, person, [EvidenceIn("statement", text="me")])
        services.claims.approve(claim, MODERATOR, "L2", "checked", person)
    try:
        if link:
            asked = services.claims.link(person, other, OWNER, [EvidenceIn("statement", text="me too")])
            services.claims.decide_link(asked.request_id, MODERATOR, approve=True, reason="seen")
        else:
            services.claims.unlink(person, other.researcher_id, OWNER, is_moderator=False)
    except DomainError:
        pass


def run(services: Services, workload: list[tuple[str, Any, int]]) -> None:
    for kind, what, size in workload:
        if kind == "import":
            services.catalogue.import_works(what)
        elif kind in ("link", "unlink"):
            change_link(services, what, kind == "link")
        else:
            decide(services, *what, not_mine=kind == "not_mine")
        catch_up(services, size)


def check(services: Services, workload: list[tuple[str, Any, int]]) -> None:
    run(services, workload)
    person = services.claims.get_record(researcher_id_for(PERSON))
    members = [] if person is None else person.members
    event(f"members at the end: {len(members)}")
    view = services.profiles_view
    docs = {n: view.profile(str(researcher_id_for(f"A{n}"))) for n in range(1, AUTHORS + 1)}
    for n, found in docs.items():
        if found is None:
            continue
        rid = str(researcher_id_for(f"A{n}"))
        records = msgspec.json.decode(found[0])["records"]
        if rid in members:
            assert found[0] == docs[1][0]  # the person's document, under the member's id
        elif n == 1:
            assert records == [rid, *members]
        else:
            assert records == [rid]
    [result] = verify(services, ["profiles"])
    # `topics` keeps the name of every topic the view has seen: a topic a work had and lost
    # within what a rebuild reads as one batch is never seen there (links have no part in it).
    assert [d for d in result.differences if d.table != "topics"] == []


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=steps())
def test_links_unlinks_decisions_and_reimports_keep_the_view_equal_to_a_rebuild_on_sqlite(tmp_path_factory, workload):
    services = Services(settings_for("sqlite", tmp_path_factory.mktemp("links"), None))
    try:
        check(services, workload)
    finally:
        services.close()


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=steps())
def test_links_unlinks_decisions_and_reimports_keep_the_view_equal_to_a_rebuild_on_postgres(
        tmp_path_factory, workload):
    with fresh_pg_schema() as schema:
        services = Services(settings_for("postgres", tmp_path_factory.mktemp("links"), schema))
        try:
            check(services, workload)
        finally:
            services.close()
