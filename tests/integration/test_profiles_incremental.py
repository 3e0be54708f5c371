"""The profiles projection keeps each record's facts a work at a time; on any workload its profiles
equal those folded from the works as they finally stand (the full rebuild time travel does), and
its co-author pairs and institutions, and the explorer's lists of works, equal a recount. Random workloads (Hypothesis): imports,
corrections that add and remove authors, names, ORCID iDs, institutions, topics and dates,
re-imports that change nothing, in batches of any size, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap.services import Services
from domain.catalogue.model import recency_key, researcher_id_for, work_id_for
from projections.profiles.build import (
    MAX_AUTHORS_FOR_COLLABORATION,
    ProfileFacts,
    WorkFacts,
    encode_profile,
    facts_from_works,
)
from operations.importing import import_file
from tests.conftest import fresh_pg_schema, fresh_services, settings_for
from tests.factories import orcid_with_checksum, skewed_works

AUTHORS = 7
NAMES = ["Zoë Ångström", "Zoe Angstrom", "Z. Ångström", "José María García", "J. M. García", "Łukasz Żak", "Li Wei", ""]
ORCIDS = [None, orcid_with_checksum("000000000000001"), orcid_with_checksum("000000000000002")]


def place(n: int) -> dict[str, Any]:
    """An institution as imports store it."""
    return {"openalex_id": f"I{n}", "display_name": f"Institute {n}", "ror": None, "country_code": "NL"}


def authorship(n: int, draw: Any) -> dict[str, Any]:
    institutions = draw(st.lists(st.sampled_from([1, 2, 3]), max_size=2, unique=True))
    return {"openalex_id": f"A{n}", "display_name": draw(st.sampled_from(NAMES)), "orcid": draw(st.sampled_from(ORCIDS)),
            "position": "middle", "institutions": [place(i) for i in institutions]}


@st.composite
def work_record(draw: Any, n: int) -> dict[str, Any]:
    # Mostly a few authors; sometimes one listed twice, sometimes more than make collaborators.
    many = draw(st.integers(0, 9)) == 0
    count = MAX_AUTHORS_FOR_COLLABORATION + draw(st.integers(1, 3)) if many else draw(st.integers(1, 5))
    authors = [draw(st.integers(1, AUTHORS)) for _ in range(count)]
    year = draw(st.one_of(st.none(), st.integers(2000, 2004)))
    dated = year is not None and draw(st.booleans())
    return {
        "openalex_id": f"W{n}", "doi": None, "title": f"Work {n}", "publication_year": year,
        "publication_date": f"{year}-0{draw(st.integers(1, 9))}-01" if dated else None, "type": "article",
        "venue": None, "cited_by_count": 0, "abstract": None,
        "topics": [{"openalex_id": f"T{t}", "display_name": f"Topic {t}"}
                   for t in draw(st.lists(st.integers(1, 4), max_size=3, unique=True))],
        "authorships": [authorship(a, draw) for a in authors],
    }


@st.composite
def workloads(draw: Any) -> list[tuple[list[dict[str, Any]], int]]:
    """Batches of records to import (new works, corrections, unchanged re-imports), each with the
    batch size the projection then reads the log with."""
    batches, current = [], {}
    for _ in range(draw(st.integers(1, 5))):
        records = []
        for _ in range(draw(st.integers(1, 6))):
            n = draw(st.integers(1, 8))
            if n in current and draw(st.booleans()):
                records.append(current[n])  # re-imported as it stands: nothing changes
            else:
                current[n] = draw(work_record(n))
                records.append(current[n])
        batches.append((records, draw(st.sampled_from([1, 3, 50, 1000]))))
    return batches


Adopted = dict[str, dict[str, str]]  # work id -> adopter -> the record it took the work from


def decided(w: Any, hidden: frozenset[tuple[str, str]], adopted: Adopted) -> list[dict[str, Any]]:
    """A work's authorships with the decisions applied: "not mine" (`hidden`: researcher id,
    work id) left out; an adopted authorship (the record it was taken from) listed under the
    adopter, left out where OpenAlex lists the adopter itself, the adopter added at the end with
    no name where OpenAlex no longer lists the record."""
    wid = str(w.id)
    adopters = adopted.get(wid, {})
    moved = {source: adopter for adopter, source in adopters.items()}
    listed = {a["researcher_id"] for a in w.authorships}
    shown, placed = [], set()
    for a in w.authorships:
        rid = a["researcher_id"]
        if rid in moved:
            if moved[rid] not in listed and moved[rid] not in placed:
                shown.append({**a, "researcher_id": moved[rid]})
                placed.add(moved[rid])
        elif rid in adopters:
            shown.append(a)
            placed.add(rid)
        elif (rid, wid) not in hidden:
            shown.append(a)
    shown += [{"researcher_id": adopter, "display_name": "", "orcid": None, "institutions": []}
              for adopter in sorted(set(adopters) - placed)]
    return shown


def add_pairs(pairs: dict[tuple[str, str], list[str]], authors: Iterable[str], key: str) -> None:
    """Each two of a work's authors (a pair once, a < b) share the work whose sort key is `key`."""
    ids = sorted(set(authors))
    for i, x in enumerate(ids):
        for y in ids[i + 1:]:
            pairs[(x, y)].append(key)


def expected(services: Services, hidden: frozenset[tuple[str, str]] = frozenset(), adopted: Adopted | None = None
             ) -> tuple[dict[str, bytes], dict[tuple[str, str], tuple[int, str]], dict[str, Any]]:
    """Profiles, co-author pairs and institutions folded from the works as they finally stand,
    without the authorships in `hidden` (researcher id, work id: "not mine") and with the
    adoptions in `adopted` applied."""
    works = []
    for n in range(1, 9):
        try:
            works.append(services.catalogue.get_work(work_id_for(f"W{n}")))
        except Exception:  # noqa: BLE001 - never imported
            continue
    by_researcher: dict[str, list[WorkFacts]] = defaultdict(list)
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    places: dict[str, Counter[str]] = defaultdict(Counter)
    for w in works:
        key = recency_key(w.publication_date, w.publication_year, w.openalex_id)
        authorships = decided(w, hidden, adopted or {})
        listed: dict[str, dict[str, Any]] = {}
        for a in authorships:
            listed.setdefault(a["researcher_id"], a)
        small = len(authorships) <= MAX_AUTHORS_FOR_COLLABORATION
        for rid, a in listed.items():
            others = sorted(set(listed) - {rid}) if small else None
            by_researcher[rid].append(WorkFacts(key, a["institutions"], w.topics, a["display_name"] or None, a["orcid"],
                                                others))
            for i in a["institutions"]:
                places[rid][i["openalex_id"]] += 1
        if small:
            add_pairs(pairs, listed, key)
    docs = {}
    for n in range(1, AUTHORS + 1):
        rid = str(researcher_id_for(f"A{n}"))
        if rid not in by_researcher:
            continue
        registered = services.catalogue.get_researcher(researcher_id_for(f"A{n}"))
        facts = facts_from_works(ProfileFacts(rid, registered.openalex_id, registered.display_name, registered.orcid),
                                 by_researcher[rid])
        docs[rid] = encode_profile(facts)[0]
    return docs, {p: (len(keys), max(keys)) for p, keys in pairs.items()}, places


OWNERSHIP = ("claim_status", "verification_level", "owner", "open_to_collaborate")  # what claims decide


def differences(services: Services, hidden: frozenset[tuple[str, str]] = frozenset(),
                adopted: Adopted | None = None) -> list[str]:
    """Where the incrementally kept view differs from a fold of the works as they stand: profiles,
    co-author pairs, institutions, and the explorer's lists of each topic's and institution's works.
    A claimed record's profile is compared without what claims decide (the fold knows no owner)."""
    docs, pairs, places = expected(services, hidden, adopted)
    view = services.profiles_view
    found: list[str] = []
    for rid, doc in docs.items():
        stored = view.profile(rid)
        owned = (record := services.claims.get_record(uuid.UUID(rid))) is not None and record.owner is not None

        def compared(encoded: bytes) -> dict[str, Any]:
            decoded = msgspec.json.decode(encoded)
            return {k: v for k, v in decoded.items() if not (owned and k in OWNERSHIP)}

        if stored is None or compared(stored[0]) != compared(doc):
            found.append(f"profile {rid}")
        coauthors = {(c["id"], c["shared"], c["latest"]) for c in view.coauthors([rid], 100)}
        if coauthors != {(other, shared, latest) for (x, y), (shared, latest) in pairs.items() if rid in (x, y)
                         for other in {x, y} - {rid}}:
            found.append(f"co-authors of {rid}")
        if {i["openalex_id"]: i["works"] for i in view.institutions_over_time(rid)} != dict(places[rid]):
            found.append(f"institutions of {rid}")
    records = [str(researcher_id_for(f"A{n}")) for n in range(1, AUTHORS + 1)]
    groups = [[r] for r in records] + [records[:2], records[1:4], records[::2], records]
    return found + graph_differences(view, records, groups, pairs) + explorer_differences(services, hidden, adopted)


def first_coauthors(pairs: dict[tuple[str, str], tuple[int, str]], ids: list[str], limit: int
                    ) -> list[tuple[str, int, str, int]]:
    """The graph's first co-authors of `ids` recounted from the pairs: (id, shared works summed over
    `ids`, the latest one's sort key, through how many of `ids`), most shared, then latest, then id;
    the first `limit` beside `ids` themselves, as the view reads them."""
    summed: dict[str, tuple[int, str, int]] = {}
    for (x, y), (shared, latest) in pairs.items():
        for me, other in ((x, y), (y, x)):
            if me in ids:
                total, newest, via = summed.get(other, (0, "", 0))
                summed[other] = (total + shared, max(newest, latest), via + 1)
    ranked = sorted(summed)  # by id, then (stable) by the latest work, then by shared works
    ranked.sort(key=lambda o: summed[o][1], reverse=True)
    ranked.sort(key=lambda o: summed[o][0], reverse=True)
    return [(o, *summed[o]) for o in ranked[:limit + len(ids)] if o not in ids][:limit]


def graph_differences(view: Any, records: list[str], groups: list[list[str]],
                      pairs: dict[tuple[str, str], tuple[int, str]]) -> list[str]:
    """The graph's reads against a recount of the pairs: each record's count of co-authors, and
    the first co-authors of each group of records (one: a record's; several: summed, as depth 2
    reads them) at limits that cut the ranked pairs short or not."""
    found = []
    for ids in groups:
        for limit in (1, 2, 25, 36):
            got = [(c["id"], c["shared"], c["latest"], c["via"]) for c in view.coauthors(ids, limit)]
            if got != first_coauthors(pairs, ids, limit):
                found.append(f"first {limit} co-authors of {ids}")
    for rid in records:
        if view.graph_totals(rid)["coauthors"] != sum(1 for pair in pairs if rid in pair):
            found.append(f"count of co-authors of {rid}")
    return found


def explorer_differences(services: Services, hidden: frozenset[tuple[str, str]] = frozenset(),
                         adopted: Adopted | None = None) -> list[str]:
    """The explorer's lists: each topic's and institution's works, newest first, as the works stand."""
    works = []
    for n in range(1, 9):
        try:
            works.append(services.catalogue.get_work(work_id_for(f"W{n}")))
        except Exception:  # noqa: BLE001 - never imported
            continue
    newest = sorted(works, key=lambda w: recency_key(w.publication_date, w.publication_year, w.openalex_id),
                    reverse=True)
    view = services.profiles_view
    found = []
    for t in range(1, 5):
        if [wid for _, wid, _ in view.works_on_topic(f"T{t}", None, 100)] != \
                [str(w.id) for w in newest if any(x["openalex_id"] == f"T{t}" for x in w.topics)]:
            found.append(f"works on T{t}")
    firsts = [{a["researcher_id"]: a for a in reversed(decided(w, hidden, adopted or {}))}
              for w in newest]  # first listing wins
    for i in range(1, 4):
        if [wid for _, wid, _ in view.works_at_institution(f"I{i}", None, 100)] != \
                [str(w.id) for w, listed in zip(newest, firsts, strict=True)
                 if any(x["openalex_id"] == f"I{i}" for a in listed.values() for x in a["institutions"])]:
            found.append(f"works at I{i}")
    return found


def run(services: Services, workload: list[tuple[list[dict[str, Any]], int]]) -> None:
    """Import each batch of records and catch the profiles projection up in batches of the given size."""
    runner = services.profiles_runner
    for records, batch_size in workload:
        services.catalogue.import_works(records)
        runner.batch_size = batch_size
        runner.catch_up()
        for other in services.runners:
            if other.projection_name == "profiles":
                other.catch_up()


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=workloads())
def test_incremental_profiles_equal_a_fold_of_the_final_works_on_sqlite(tmp_path_factory, workload):
    services = Services(settings_for("sqlite", tmp_path_factory.mktemp("profiles"), None))
    try:
        run(services, workload)
        assert differences(services) == []
    finally:
        services.close()


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(workload=workloads())
def test_incremental_profiles_equal_a_fold_of_the_final_works_on_postgres(tmp_path_factory, workload):
    with fresh_pg_schema() as schema:
        services = Services(settings_for("postgres", tmp_path_factory.mktemp("profiles"), schema))
        try:
            run(services, workload)
            assert differences(services) == []
        finally:
            services.close()


def test_a_correction_that_takes_an_author_off_a_work_moves_every_fact_back(tmp_path):
    services = Services(settings_for("sqlite", tmp_path, None))
    try:
        first = {"openalex_id": "W1", "doi": None, "title": "One", "publication_year": 2003, "publication_date": None,
                 "type": "article", "venue": None, "cited_by_count": 0, "abstract": None,
                 "topics": [{"openalex_id": "T1", "display_name": "Topic 1"}],
                 "authorships": [{"openalex_id": "A1", "display_name": "Ada", "orcid": ORCIDS[1], "position": "first",
                                  "institutions": [place(1)]},
                                 {"openalex_id": "A2", "display_name": "Bo", "orcid": None, "position": "middle",
                                  "institutions": []}]}
        second = {**first, "openalex_id": "W2", "publication_year": 2001}
        run(services, [([first, second], 1000)])
        assert differences(services) == []
        assert msgspec.json.decode(services.profiles_view.profile(str(researcher_id_for("A2")))[0])[
            "close_collaborators_count"] == 1
        run(services, [([{**first, "authorships": first["authorships"][1:]}], 1000)])  # A1 taken off W1
        assert differences(services) == []
        a1 = msgspec.json.decode(services.profiles_view.profile(str(researcher_id_for("A1")))[0])
        assert (a1["works_count"], a1["close_collaborators_count"]) == (1, 0)
        assert [c["latest"][:4] for c in services.profiles_view.coauthors([str(researcher_id_for("A1"))], 5)] == ["2001"]
    finally:
        services.close()


@dataclass
class Skewed:
    """A skewed import as the view holds it, and its works as the catalogue lists them."""

    view: Any
    works: list[Any]

    def key(self, w: Any) -> str:
        return recency_key(w.publication_date, w.publication_year, w.openalex_id)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def skewed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Skewed]:
    """800 skewed works (records on hundreds of works, each with long tails of pairs, most at one
    shared work), imported and projected."""
    tmp_path = tmp_path_factory.mktemp("skewed")
    with fresh_services(request.param, tmp_path) as services:
        path = tmp_path / "works.jsonl"
        path.write_text("\n".join(json.dumps(w) for w in skewed_works(800, seed=5)) + "\n")
        import_file(services.catalogue, path)
        services.profiles_runner.catch_up()
        yield Skewed(services.profiles_view, [services.catalogue.get_work(work_id_for(f"W{n}")) for n in range(1, 801)])


# The stars and the long tail's head (A6 on most works after them), and others at random.
SKEWED_RECORDS = [str(researcher_id_for(f"A{n}")) for n in [*range(1, 16), *range(100, 640, 18)]]


def test_the_graphs_first_coauthors_of_skewed_records_equal_a_recount(skewed: Skewed) -> None:
    """Each record's first co-authors, those of its first ten summed (the second degree, read by
    index range until sure), and of groups of records whose pairs rank others differently (where
    a co-author first in neither can be first summed), equal a recount of the works' pairs."""
    keys: dict[tuple[str, str], list[str]] = defaultdict(list)
    for w in skewed.works:
        if len(w.authorships) <= MAX_AUTHORS_FOR_COLLABORATION:
            add_pairs(keys, (a["researcher_id"] for a in w.authorships), skewed.key(w))
    pairs = {p: (len(k), max(k)) for p, k in keys.items()}
    records = SKEWED_RECORDS
    rng = random.Random(3)
    groups = [[r] for r in records] + [[c[0] for c in first_coauthors(pairs, [r], 10)] for r in records
                                       if any(r in pair for pair in pairs)]
    groups += [rng.sample(records, rng.randint(2, 10)) for _ in range(40)]
    assert graph_differences(skewed.view, records, groups, pairs) == []


def test_the_adjacent_works_of_skewed_records_equal_a_recount(skewed: Skewed) -> None:
    """A record's adjacent works (its collaborators' newest works it did not write, read a few
    of each collaborator at a time and merged, ranked by topics shared with the record's) and
    their total equal a recount of the works, for collaborators many and few, prolific or not."""
    authors = {str(w.id): {a["researcher_id"] for a in w.authorships} for w in skewed.works}
    topics = {str(w.id): {t["openalex_id"] for t in w.topics} for w in skewed.works}
    keys = {str(w.id): skewed.key(w) for w in skewed.works}
    newest = sorted(keys, key=keys.__getitem__, reverse=True)
    found = []
    for rid in SKEWED_RECORDS:
        mine = {t for w, a in authors.items() if rid in a for t in topics[w]}
        works = Counter(r for a in authors.values() for r in a)
        coauthors = sorted(sorted({r for a in authors.values() if rid in a for r in a} - {rid}), key=lambda r: -works[r])
        for collaborators in (coauthors[:25], coauthors[:3], coauthors[-1:], coauthors[10:35]):
            candidates = [w for w in newest if authors[w] & set(collaborators) and rid not in authors[w]][:500]
            shared = {w: len(topics[w] & mine) for w in candidates if topics[w] & mine}
            ranked = sorted(sorted(shared, key=keys.__getitem__, reverse=True), key=lambda w: -shared[w])[:10]
            got, total = skewed.view.adjacent_works(rid, collaborators, mine, 10)
            if ([(w["id"], w["shared_topics"]) for w in got], total) != ([(w, shared[w]) for w in ranked], len(shared)):
                found.append((rid, len(collaborators)))
    assert found == []
