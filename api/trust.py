"""TrustController: the page's "Trust snapshot" and "Research graph" panels, and the formula.

The snapshot is worked out from the record's profile document and follower counts (both read
models) by domain.trust, exactly as the profile page shows it; the trust projection applies the
same function to the same read models' change feeds and keeps the history, one point per change.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, Parameter

from api.auth import PUBLIC
from api.researchers import (
    AS_OF_HELP,
    ID_HELP,
    Limit,
    one_as_of,
    parse_researcher_id,
    past_profile,
    reject_unknown_query,
)
from domain.errors import ResearcherNotFoundError
from domain.trust import FORMULA
from projections.profiles.documents import trust_inputs
from projections.trust.runner import snapshot_of
from projections.vocabulary import ClaimStatus, Level, Tier

GRAPH_COAUTHORS = 25
GRAPH_SECOND_DEGREE = 25
GRAPH_INSTITUTIONS = 20
GRAPH_TOPICS = 20
GRAPH_ADJACENT = 10


class ComponentOut(msgspec.Struct):
    name: str
    points: int
    maximum: int
    facts: dict[str, Any]


class CountsOut(msgspec.Struct):
    works: int
    followers: int
    verified_followers: int
    topics: int
    close_collaborators: int


class TrustSnapshotOut(msgspec.Struct):
    researcher_id: UUID
    score: int
    tier: Tier
    label: str  # as the page shows it: "Trust 21 - Emerging"
    verification_level: Level
    claim_status: ClaimStatus
    counts: CountsOut
    components: list[ComponentOut]


class HistoryPointOut(msgspec.Struct):
    number: int
    at: str
    score: int
    tier: Tier
    cause: dict[str, Any]  # which input feed moved, and each input that changed: [before, after]


class HistoryOut(msgspec.Struct):
    items: list[HistoryPointOut]
    next_cursor: str | None


class CoauthorOut(msgspec.Struct):
    id: UUID
    openalex_id: str | None
    display_name: str | None
    shared_works: int
    latest_year: int | None
    close: bool


class SecondDegreeOut(msgspec.Struct):
    id: UUID
    openalex_id: str | None
    display_name: str | None
    via: int  # through how many of the person's co-authors


class GraphTopicOut(msgspec.Struct):
    openalex_id: str
    display_name: str | None
    works: int


class GraphInstitutionOut(msgspec.Struct):
    openalex_id: str | None
    display_name: str | None
    country_code: str | None
    first_year: int | None
    last_year: int | None
    works: int


class AdjacentWorkOut(msgspec.Struct):
    id: UUID
    openalex_id: str
    title: str | None
    publication_year: int | None
    shared_topics: int


class GraphTotalsOut(msgspec.Struct):
    """How many exist in all, beside the first ones the graph lists."""

    coauthors: int
    topics: int
    institutions: int
    adjacent_works: int  # among the close collaborators' newest 500 works


class GraphOut(msgspec.Struct):
    researcher_id: UUID
    depth: int
    coauthors: list[CoauthorOut]
    topics: list[GraphTopicOut]
    institutions: list[GraphInstitutionOut]
    adjacent_works: list[AdjacentWorkOut]
    second_degree: list[SecondDegreeOut] | None
    totals: GraphTotalsOut


def profile_doc(state: State, raw: str) -> tuple[str, bytes]:
    """The internal id and stored profile of a researcher, from the API's profile cache (no query
    when it is cached); 404 if unknown."""
    internal_id, orcid = parse_researcher_id(raw)
    if internal_id is None:
        internal_id = state.services.read_view("profiles").researcher_id_for_orcid(orcid)
    doc = None
    if internal_id is not None:
        doc = state.profile_cache.get(internal_id) or state.profile_cache.load(internal_id)
    if doc is None:
        raise ResearcherNotFoundError(raw)
    return internal_id, doc


def live_snapshot(state: State, internal_id: str, doc: bytes) -> dict[str, Any]:
    return snapshot_of(trust_inputs(doc, *state.follower_counts.get(internal_id)))


class TrustController(Controller):
    tags = ["trust and graph"]
    opt = PUBLIC

    @get("/researchers/{researcher_id:str}/trust", summary="The trust snapshot, with every component",
         description=ID_HELP + AS_OF_HELP, sync_to_thread=True)
    def snapshot(self, request: Request, state: State, researcher_id: FromPath[str],
                 as_of: Annotated[str | None, Parameter(max_length=64)] = None) -> TrustSnapshotOut:
        reject_unknown_query(request, {"as_of"})
        as_of = one_as_of(request)
        if as_of is not None:
            internal_id, past = past_profile(state, researcher_id, as_of)
            snap = snapshot_of(past.trust_inputs())
        else:
            # From the same document and counts the profile page shows, so the two always agree;
            # the trust projection keeps the history.
            internal_id, doc = profile_doc(state, researcher_id)
            snap = live_snapshot(state, internal_id, doc)
        i = snap["inputs"]
        return TrustSnapshotOut(
            UUID(internal_id), snap["score"], snap["tier"], f"Trust {snap['score']} - {snap['tier']}",
            i["verification_level"], i["claim_status"],
            CountsOut(i["works"], i["followers"], i["verified_followers"], i["topics"], i["close_collaborators"]),
            [ComponentOut(c["name"], c["points"], c["maximum"], c["facts"]) for c in snap["components"]],
        )

    @get("/researchers/{researcher_id:str}/trust/history", summary="The score over time, one point per change",
         description=ID_HELP, sync_to_thread=True)
    def history(self, request: Request, state: State, researcher_id: FromPath[str],
                order: FromQuery[Literal["oldest", "newest"]] = "oldest", limit: Limit = 20,
                cursor: Annotated[str | None, Parameter(pattern=r"^\d{1,9}$")] = None) -> HistoryOut:
        reject_unknown_query(request, {"order", "limit", "cursor"})
        internal_id, _ = profile_doc(state, researcher_id)
        rows = state.services.read_view("trust").history(internal_id, int(cursor) if cursor else None, limit + 1,
                                                 newest_first=order == "newest")
        next_cursor = str(rows[limit - 1]["number"]) if len(rows) > limit else None
        return HistoryOut([HistoryPointOut(r["number"], r["at"], r["score"], r["tier"], r["cause"])
                           for r in rows[:limit]], next_cursor)

    @get("/trust/formula", summary="How the trust score is worked out: nothing in it is hidden")
    async def formula(self) -> dict[str, Any]:
        return FORMULA

    @get("/researchers/{researcher_id:str}/graph", summary="The research graph around a researcher",
         description=ID_HELP + " `depth=2` adds co-authors of co-authors.", sync_to_thread=True)
    def graph(self, request: Request, state: State, researcher_id: FromPath[str],
              depth: Annotated[int, Parameter(ge=1, le=2)] = 1) -> GraphOut:
        reject_unknown_query(request, {"depth"})
        return graph_out(state, researcher_id, depth)


def graph_out(state: State, researcher_id: str, depth: int) -> GraphOut:
    """The research graph around a researcher (GET /researchers/{id}/graph, and the profile page's picture)."""
    view = state.services.read_view("profiles")
    internal_id, doc = profile_doc(state, researcher_id)
    topics = msgspec.json.decode(doc)["topics"]
    records = view.person_records(internal_id)  # a person's graph is its records' together
    person = len(records) > 1
    coauthors = view.person_coauthors(records, GRAPH_COAUTHORS) if person else view.coauthors([internal_id],
                                                                                              GRAPH_COAUTHORS)
    second: list[dict[str, Any]] | None = None
    if depth == 2:
        direct = {c["id"] for c in coauthors}
        near = view.coauthors([c["id"] for c in coauthors[:10]], GRAPH_SECOND_DEGREE + len(direct) + 1) \
            if coauthors else []
        second = [c for c in near if c["id"] not in records and c["id"] not in direct][:GRAPH_SECOND_DEGREE]
    close = [c["id"] for c in coauthors if c["shared"] >= 2]
    adjacent, adjacent_total = view.adjacent_works(records, close, {t["openalex_id"] for t in topics},
                                                   GRAPH_ADJACENT)
    places = view.person_places(records) if person else view.institutions_over_time(internal_id)
    totals = {"coauthors": len(view.person_coauthors(records, 1_000_000)), "institutions": len(places)} if person \
        else view.graph_totals(internal_id)
    return GraphOut(
        UUID(records[0]), depth,
        [CoauthorOut(UUID(c["id"]), c["openalex_id"], c["display_name"], c["shared"], int(c["latest"][:4]) or None,
                     c["shared"] >= 2) for c in coauthors],
        [GraphTopicOut(t["openalex_id"], t["display_name"], t["works_count"]) for t in topics[:GRAPH_TOPICS]],
        [GraphInstitutionOut(i.get("openalex_id"), i.get("display_name"), i.get("country_code"), i["first_year"],
                             i["last_year"], i["works"])
         for i in places[:GRAPH_INSTITUTIONS]],
        [AdjacentWorkOut(UUID(w["id"]), w["openalex_id"], w["title"], w["publication_year"], w["shared_topics"])
         for w in adjacent],
        [SecondDegreeOut(UUID(c["id"]), c["openalex_id"], c["display_name"], c["via"]) for c in second]
        if second is not None else None,
        GraphTotalsOut(totals["coauthors"], len(topics), totals["institutions"], adjacent_total),
    )
