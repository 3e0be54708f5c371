"""Links in the incrementally kept profiles and followers views: random sequences of imports,
corrections, re-imports, not-mine, undo, adopt into the person's record and undo-adopt, link,
unlink, follow and unfollow (Hypothesis), caught up in batches of any size: after every step the
person's works are the union of its records' works as OpenAlex lists them, minus "not mine", plus
adopted (so a re-import never brings a disowned work back), and follower counts equal a recount;
at the end both views equal a rebuild from the log (`replay --verify`),
every record of a person reading the person's document and every other record its own, and each
record's follower count equal to a recount (a person's: each account once), on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bootstrap.services import Services
from domain.catalogue.model import researcher_id_for, work_id_for
from domain.claims.application import EvidenceIn
from domain.errors import DomainError
from domain.follows.application import FollowCommand
from operations.replay import verify
from tests.conftest import fresh_services
from tests.integration.test_attribution_incremental import adopt, catch_up, decide, facts_of, owned_by
from tests.factories import register_confirmed
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
        choice = draw(st.integers(0, 6)) if current else 0
        if choice >= 5:  # A1, the person's record, adopts work m from author n, or undoes it
            others = sorted(k for k, w in current.items() if all(a["openalex_id"] != "A1" for a in w["authorships"]))
            m = draw(st.sampled_from(others or sorted(current)))
            listed = sorted({int(a["openalex_id"][1:]) for a in current[m]["authorships"]} - {1})
            n = draw(st.sampled_from(listed)) if listed else draw(st.integers(2, AUTHORS))
            found.append((draw(st.sampled_from(["adopt", "adopt", "undo_adopt"])), (n, m), size))
        elif choice == 4:
            found.append(("follow", (draw(st.integers(0, 1)), draw(st.integers(1, AUTHORS)), draw(st.booleans())),
                          size))
        elif choice == 1:
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


def change_link(services: Services, n: int, link: bool) -> None:
    """Author n linked into A1 through the moderators (A1 owned at L2 first), or unlinked; a
    refusal (no such record yet, not linked) writes nothing."""
    person, other = facts_of(services, 1), facts_of(services, n)
    if person is None or other is None:
        return
    owned_by(services, person, OWNER)
    try:
        if link:
            asked = services.claims.link(person, other, OWNER, [EvidenceIn("statement", text="me too")])
            services.claims.decide_link(asked.request_id, MODERATOR, approve=True, reason="seen")
        else:
            services.claims.unlink(person, other.researcher_id, OWNER, is_moderator=False)
    except DomainError:
        pass


def follow(services: Services, fans: list[uuid.UUID], following: set[tuple[int, int]], k: int, n: int,
           on: bool) -> None:
    """Fan k follows (or unfollows) author n's record, if it exists."""
    record = researcher_id_for(f"A{n}")
    if facts_of(services, n) is None:
        return
    services.follows.apply_all([FollowCommand(fans[k], record, on, confirmed=True)], known={record}, owners={})
    (following.add if on else following.discard)((k, n))


def person_and_members(services: Services) -> list[str]:
    person = services.claims.get_record(researcher_id_for(PERSON))
    return [str(researcher_id_for(PERSON)), *(person.members if person is not None else [])]


def expected_works(services: Services, listed: dict[str, set[str]], records: list[str]) -> set[str]:
    """The union of the records' works as OpenAlex lists them now, minus each record's "not mine"
    and the works adopted away from it, plus those it adopted (what the claims records say)."""
    expected: set[str] = set()
    for r in records:
        record = services.claims.get_record(uuid.UUID(r))
        decided = (set(record.disowned) | set(record.adopted_away), set(record.adoptions)) if record else (set(), set())
        expected |= ({w for w, authors in listed.items() if r in authors} - decided[0]) | decided[1]
    return expected


def step_problems(services: Services, listed: dict[str, set[str]], following: set[tuple[int, int]],
                  step: int) -> list[Any]:
    """After one step: the person's works against the union its records' works make, and every
    record's follower count against a recount (a person's: each account once)."""
    for runner in services.runners:
        if runner.projection_name == "followers":
            runner.catch_up()
    found: list[Any] = []
    records = person_and_members(services)
    shown = {wid for _, wid, _ in services.profiles_view.works_of(records, None, 10_000)}
    if shown != (expected := expected_works(services, listed, records)):
        found.append(("person's works", step, sorted(shown ^ expected)))
    ids = {n: str(researcher_id_for(f"A{n}")) for n in range(1, AUTHORS + 1)}
    group = {r: ids[1] if r in records else r for r in ids.values()}  # a member counts with the person
    counts = services.followers_view.counts_of(list(ids.values()))
    for n, r in ids.items():
        expected_count = len({k for k, m in following if group[ids[m]] == group[r]})
        if counts.get(r, (0, 0))[0] != expected_count:
            found.append(("followers", step, n, counts.get(r, (0, 0))[0], expected_count))
    return found


def run(services: Services, workload: list[tuple[str, Any, int]], found: list[Any]) -> set[tuple[int, int]]:
    """The workload, step by step, each step's problems added to `found`."""
    fans = [register_confirmed(services, f"fan{k}@example.org", f"Fan {k}") for k in range(2)]
    following: set[tuple[int, int]] = set()
    listed: dict[str, set[str]] = {}  # work -> its authors' records, as OpenAlex lists them now
    for step, (kind, what, size) in enumerate(workload):
        if kind == "follow":
            follow(services, fans, following, *what)
        elif kind == "import":
            services.catalogue.import_works(what)
            listed.update((str(work_id_for(w["openalex_id"])),
                           {str(researcher_id_for(a["openalex_id"])) for a in w["authorships"]}) for w in what)
        elif kind in ("link", "unlink"):
            change_link(services, what, kind == "link")
        elif kind in ("adopt", "undo_adopt"):
            adopt(services, *what, kind, owner=OWNER)
        else:
            decide(services, *what, not_mine=kind == "not_mine")
        catch_up(services, size)
        found += step_problems(services, listed, following, step)
    return following


def problems(services: Services, workload: list[tuple[str, Any, int]]) -> list[Any]:
    """Where the views, after the workload, differ from what the links and follows say and from a
    rebuild (nothing: an empty list)."""
    found: list[Any] = []
    following = run(services, workload, found)
    for runner in services.runners:
        if runner.projection_name == "followers":
            runner.catch_up()
    person = services.claims.get_record(researcher_id_for(PERSON))
    members = [] if person is None else person.members
    event(f"members at the end: {len(members)}")
    view = services.profiles_view
    ids = {n: str(researcher_id_for(f"A{n}")) for n in range(1, AUTHORS + 1)}
    event(f"adoptions at the end: {len(view.adopted_works(ids[1]))}")
    docs = {n: view.profile(ids[n]) for n in ids}
    for n, doc in docs.items():
        if doc is None:
            continue
        records = msgspec.json.decode(doc[0])["records"]
        if ids[n] in members:
            if doc[0] != docs[1][0]:  # a member's id serves the person's document
                found.append(("member's document", n))
        elif records != ([ids[n], *members] if n == 1 else [ids[n]]):
            found.append(("records", n, records))
    group = {r: ids[1] if r in members else r for r in ids.values()}  # a member counts with the person
    counts = services.followers_view.counts_of(list(ids.values()))
    event(f"follows at the end: {len(following)}")
    for n, r in ids.items():
        expected = len({k for k, m in following if group[ids[m]] == group[r]})  # each account once
        if counts.get(r, (0, 0))[0] != expected:
            found.append(("followers", n, counts.get(r, (0, 0))[0], expected))
    profiles, followers = verify(services, ["profiles", "followers"])
    # `topics` keeps the name of every topic the view has seen: a topic a work had and lost
    # within what a rebuild reads as one batch is never seen there (links have no part in it).
    return found + [d for d in profiles.differences if d.table != "topics"] + list(followers.differences)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=steps())
def test_links_unlinks_decisions_and_reimports_keep_the_view_equal_to_a_rebuild_on_sqlite(tmp_path_factory, workload):
    with fresh_services("sqlite", tmp_path_factory.mktemp("links")) as services:
        assert problems(services, workload) == []


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=steps())
def test_links_unlinks_decisions_and_reimports_keep_the_view_equal_to_a_rebuild_on_postgres(
        tmp_path_factory, workload):
    with fresh_services("postgres", tmp_path_factory.mktemp("links")) as services:
        assert problems(services, workload) == []
