""""Not mine" decisions in the incrementally kept profiles view: random sequences of imports,
corrections, re-imports, not-mine and undo (Hypothesis), caught up in batches of any size,
leave every profile, co-author pair, institution and explorer list equal to a fold of the works
as they finally stand with the disowned authorships left out, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bootstrap.services import Services
from domain.catalogue.model import researcher_id_for, work_id_for
from domain.claims.ports import RecordFacts
from domain.errors import DomainError
from tests.conftest import fresh_services
from tests.integration.test_profiles_incremental import AUTHORS, differences, work_record

MODERATOR = uuid.uuid4()  # decides for unclaimed records (no account needed by the rules)


@st.composite
def steps(draw: Any) -> list[tuple[str, Any, int]]:
    """Imports of works (new, corrected or as they stand) and decisions (author n on work m),
    each with the batch size the projection then reads the logs with."""
    current: dict[int, dict[str, Any]] = {}
    found = []
    for _ in range(draw(st.integers(2, 9))):
        size = draw(st.sampled_from([1, 3, 1000]))
        if current and draw(st.integers(0, 2)) > 0:
            n, m = draw(st.integers(1, AUTHORS)), draw(st.sampled_from(sorted(current)))
            found.append(("not_mine" if draw(st.booleans()) else "undo", (n, m), size))
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


def catch_up(services: Services, batch_size: int) -> None:
    for runner in services.runners:
        if runner.projection_name == "profiles":
            runner.batch_size = batch_size
            runner.catch_up()


def run(services: Services, workload: list[tuple[str, Any, int]]) -> frozenset[tuple[str, str]]:
    for kind, what, size in workload:
        if kind == "import":
            services.catalogue.import_works(what)
        else:
            decide(services, *what, not_mine=kind == "not_mine")
        catch_up(services, size)
    return frozenset((str(researcher_id_for(f"A{n}")), wid) for n in range(1, AUTHORS + 1)
                     for wid in services.profiles_view.disowned_works(str(researcher_id_for(f"A{n}"))))


def decisions_in_domain(services: Services) -> frozenset[tuple[str, str]]:
    """The decisions the claims records hold: what the view's table must agree with."""
    found = set()
    for n in range(1, AUTHORS + 1):
        record = services.claims.get_record(researcher_id_for(f"A{n}"))
        found.update((str(researcher_id_for(f"A{n}")), wid) for wid in (record.disowned if record else ()))
    return frozenset(found)


def problems(services: Services, workload: list[tuple[str, Any, int]]) -> list[Any]:
    """Where the view, after the workload, differs from the claims records' decisions and from a
    fold of the works without the disowned authorships (nothing: an empty list)."""
    hidden = run(services, workload)
    event(f"decisions in force: {bool(hidden)}")
    in_domain = decisions_in_domain(services)
    found: list[Any] = [] if hidden == in_domain else [("decisions", sorted(hidden), sorted(in_domain))]
    return found + differences(services, hidden)


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
