""""Not mine" decisions and adoptions in the incrementally kept profiles view: random sequences of
imports, corrections, re-imports, not-mine and undo, adopt (approved or rejected by a moderator)
and undo-adopt (Hypothesis), caught up in batches of any size, leave every profile, co-author
pair, institution and explorer list equal after every step to a fold of the works as they then
stand with the disowned authorships left out and the adopted ones moved, and the view equal to a
rebuild from the log at the end, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bootstrap.services import Services
from domain.catalogue.model import researcher_id_for, work_id_for
from domain.claims.application import EvidenceIn
from domain.claims.ports import RecordFacts
from domain.errors import DomainError
from operations.replay import verify
from tests.conftest import fresh_services
from tests.integration.test_profiles_incremental import AUTHORS, differences, work_record

MODERATOR = uuid.uuid4()  # decides for unclaimed records (no account needed by the rules)
OWNER = uuid.uuid4()  # owns A1 at L2 once it adopts: the adopter


@st.composite
def steps(draw: Any) -> list[tuple[str, Any, int]]:
    """Imports of works (new, corrected or as they stand) and decisions (author n on work m),
    each with the batch size the projection then reads the logs with."""
    current: dict[int, dict[str, Any]] = {}
    found = []
    for _ in range(draw(st.integers(2, 9))):
        size = draw(st.sampled_from([1, 3, 1000]))
        choice = draw(st.integers(0, 3)) if current else 0
        if choice in (1, 2):
            n, m = draw(st.integers(1, AUTHORS)), draw(st.sampled_from(sorted(current)))
            found.append(("not_mine" if draw(st.booleans()) else "undo", (n, m), size))
            continue
        if choice == 3:  # A1 adopts work m from author n (a moderator approves or rejects), or undoes it
            # Mostly a work that does not list A1, from one of its authors: one that can be adopted.
            others = sorted(k for k, w in current.items() if all(a["openalex_id"] != "A1" for a in w["authorships"]))
            m = draw(st.sampled_from(others or sorted(current)))
            listed = sorted({int(a["openalex_id"][1:]) for a in current[m]["authorships"]} - {1})
            n = draw(st.sampled_from(listed)) if listed and draw(st.integers(0, 4)) else draw(st.integers(2, AUTHORS))
            kind = draw(st.sampled_from(["adopt", "adopt", "adopt_rejected", "undo_adopt"]))
            found.append((kind, (n, m), size))
            continue
        records = []
        for _ in range(draw(st.integers(1, 4))):
            m = draw(st.integers(1, 8))
            if m not in current or draw(st.booleans()):
                current[m] = draw(work_record(m))
            records.append(current[m])
        found.append(("import", records, size))
    return found


def decide(services: Services, n: int, m: int, not_mine: bool) -> None:
    rid = researcher_id_for(f"A{n}")
    f = services.profiles_view.record_facts(str(rid))
    if f is None:
        return  # no such record yet
    facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
    try:
        services.claims.change_attribution(facts, work_id_for(f"W{m}"), MODERATOR, is_moderator=True,
                                           not_mine=not_mine)
    except DomainError:
        pass  # the work does not list the record: refused, nothing written


def facts_of(services: Services, n: int) -> RecordFacts | None:
    rid = researcher_id_for(f"A{n}")
    f = services.profiles_view.record_facts(str(rid))
    return None if f is None else RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])


def owned_by(services: Services, facts: RecordFacts, owner: uuid.UUID) -> None:
    """The record owned by `owner` at L2 (claimed and approved, unless it is already)."""
    record = services.claims.get_record(facts.researcher_id)
    if record is None or record.owner != owner:
        claim = services.claims.open_claim(owner, facts, [EvidenceIn("statement", text="me")])
        services.claims.approve(claim, MODERATOR, "L2", "checked", facts)


def adopt(services: Services, n: int, m: int, kind: str, owner: uuid.UUID = OWNER) -> None:
    """A1 (owned by `owner` at L2 first) asks to adopt work m from author n and a moderator decides, or A1
    undoes its adoption of m; a refusal (no such record or work, not adoptable) writes nothing."""
    adopter, source = facts_of(services, 1), facts_of(services, n)
    if adopter is None or source is None:
        return
    owned_by(services, adopter, owner)
    try:
        if kind == "undo_adopt":
            services.claims.undo_adoption(adopter, work_id_for(f"W{m}"), owner, is_moderator=False)
            return
        asked = services.claims.adopt(adopter, work_id_for(f"W{m}"), owner,
                                      [EvidenceIn("statement", text="mine")], source)
        services.claims.decide_adoption(asked.request_id, MODERATOR, approve=kind == "adopt", reason="seen")
    except DomainError as e:
        event(f"adoption refused: {e.code}")


def catch_up(services: Services, batch_size: int) -> None:
    for runner in services.runners:
        if runner.projection_name == "profiles":
            runner.batch_size = batch_size
            runner.catch_up()


Decided = tuple[frozenset[tuple[str, str]], dict[str, dict[str, str]]]


def in_view(services: Services) -> Decided:
    """The decisions the view holds: (record, work) said "not mine"; work -> adopter -> from."""
    view = services.profiles_view
    hidden = frozenset((str(researcher_id_for(f"A{n}")), wid) for n in range(1, AUTHORS + 1)
                       for wid in view.disowned_works(str(researcher_id_for(f"A{n}"))))
    adopted: dict[str, dict[str, str]] = {}
    for n in range(1, AUTHORS + 1):
        rid = str(researcher_id_for(f"A{n}"))
        for wid, source in view.adopted_works(rid).items():
            adopted.setdefault(wid, {})[rid] = source
    return hidden, adopted


def decisions_in_domain(services: Services) -> Decided:
    """The decisions the claims records hold: what the view's tables must agree with."""
    hidden, adopted = set(), {}
    for n in range(1, AUTHORS + 1):
        rid = str(researcher_id_for(f"A{n}"))
        record = services.claims.get_record(researcher_id_for(f"A{n}"))
        hidden.update((rid, wid) for wid in (record.disowned if record else ()))
        for wid, decision in (record.adoptions if record else {}).items():
            adopted.setdefault(wid, {})[rid] = decision["from_record"]
    return frozenset(hidden), adopted


def problems(services: Services, workload: list[tuple[str, Any, int]]) -> list[Any]:
    """Where the view, after each step of the workload, differs from the claims records' decisions
    and from a fold of the works with them applied, and at the end from a rebuild (nothing: an
    empty list)."""
    found: list[Any] = []
    for step, (kind, what, size) in enumerate(workload):
        if kind == "import":
            services.catalogue.import_works(what)
        elif kind in ("not_mine", "undo"):
            decide(services, *what, not_mine=kind == "not_mine")
        else:
            adopt(services, *what, kind)
        catch_up(services, size)
        hidden, adopted = in_view(services)
        if (hidden, adopted) != decisions_in_domain(services):
            found.append(("decisions", step, sorted(hidden), adopted, decisions_in_domain(services)))
        found += [(step, d) for d in differences(services, hidden, adopted)]
    hidden, adopted = in_view(services)
    event(f"decisions in force: {bool(hidden)}; adoptions in force: {bool(adopted)}")
    [profiles] = verify(services, ["profiles"])
    # `topics` keeps the name of every topic the view has seen: a topic a work had and lost
    # within what a rebuild reads as one batch is never seen there (decisions have no part in it).
    return found + [d for d in profiles.differences if d.table != "topics"]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=steps())
def test_not_mine_undo_and_reimports_keep_the_view_equal_to_a_fold_without_the_disowned_on_sqlite(
        tmp_path_factory, workload):
    with fresh_services("sqlite", tmp_path_factory.mktemp("attribution")) as services:
        assert problems(services, workload) == []


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=steps())
def test_not_mine_undo_and_reimports_keep_the_view_equal_to_a_fold_without_the_disowned_on_postgres(
        tmp_path_factory, workload):
    with fresh_services("postgres", tmp_path_factory.mktemp("attribution")) as services:
        assert problems(services, workload) == []
