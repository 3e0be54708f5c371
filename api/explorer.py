"""WorksController, TopicsController, InstitutionsController: the explorer behind "Open full
explorer", served from the profiles read model like the researcher routes.

Works are named by their internal UUID or OpenAlex id (W...); topics (T...) and institutions
(I...) by their OpenAlex ids, the only ids the API shows for them (the graph's nodes carry them).
Lists are newest first (works) or by works there then name (researchers), paged by cursor.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath

from api.auth import PUBLIC
from api.errors import PROBLEM_JSON, Problem, ProblemError
from api.researchers import (
    JSON,
    MAX_ID_LENGTH,
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    page,
    reject_unknown_query,
)
from domain.catalogue.model import work_id_for
from domain.errors import InstitutionNotFoundError, TopicNotFoundError, WorkNotFoundError
from projections.profiles.build import shown_name
from projections.profiles.documents import TopicOut, VenueOut, WorkPageOut
from projections.profiles.view import ProfilesView

_OPENALEX = re.compile(r"^([A-Za-z])(\d{1,15})$")
WORK_ID_HELP = "`work_id` is the internal UUID or an OpenAlex work id (W...)."
TOPIC_ID_HELP = "`topic_id` is an OpenAlex topic id (T...)."
INSTITUTION_ID_HELP = "`institution_id` is an OpenAlex institution id (I...)."
RESEARCHERS_ORDER = " Most works there first, then by name (case and accents ignored)."
PROBLEMS = {
    400: ResponseSpec(Problem, description="a malformed id, limit or cursor, or an unknown query parameter",
                      media_type=PROBLEM_JSON, generate_examples=False),
    404: ResponseSpec(Problem, description="no such work, or no work carries this topic or institution",
                      media_type=PROBLEM_JSON, generate_examples=False),
}


class InstitutionRefOut(msgspec.Struct):
    openalex_id: str | None  # null for an institution OpenAlex did not identify (not explorable)
    display_name: str | None
    ror: str | None
    country_code: str | None


class AuthorshipOut(msgspec.Struct):
    researcher_id: UUID
    openalex_id: str
    display_name: str | None  # as this work names the author
    position: str | None
    institutions: list[InstitutionRefOut]


class WorkDetailOut(msgspec.Struct):
    id: UUID
    openalex_id: str
    doi: str | None
    title: str | None
    publication_year: int | None
    publication_date: str | None
    type: str | None
    venue: VenueOut | None
    cited_by_count: int
    abstract: str | None
    topics: list[TopicOut]
    authorships: list[AuthorshipOut]
    institutions: list[InstitutionRefOut]  # every institution of its authors, once, in order of appearance


class TopicDetailOut(msgspec.Struct):
    openalex_id: str
    display_name: str | None
    works_count: int
    researchers_count: int


class InstitutionDetailOut(InstitutionRefOut):
    works_count: int
    researchers_count: int


class TopicResearcherOut(msgspec.Struct):
    id: UUID
    openalex_id: str
    display_name: str
    works: int  # on this topic
    works_count: int  # in all


class InstitutionResearcherOut(msgspec.Struct):
    id: UUID
    openalex_id: str
    display_name: str
    works: int  # naming this institution for the researcher
    first_year: int | None
    last_year: int | None
    works_count: int  # in all


class TopicResearcherPageOut(msgspec.Struct):
    items: list[TopicResearcherOut]
    next_cursor: str | None


class InstitutionResearcherPageOut(msgspec.Struct):
    items: list[InstitutionResearcherOut]
    next_cursor: str | None


def parse_openalex(value: str, kind: str, noun: str) -> str | None:
    """An OpenAlex id of this kind, as the import stores it (T0123 and t123 are T123); None when
    `value` is not one. 400 for anything too long to be an id."""
    if len(value) > MAX_ID_LENGTH:
        raise ProblemError(400, f"a {noun} id has at most {MAX_ID_LENGTH} characters")
    match = _OPENALEX.match(value)
    if match and match.group(1).upper() == kind:
        return f"{kind}{int(match.group(2))}"
    return None


def parse_work_id(value: str) -> str:
    """The internal id of a work given as UUID or OpenAlex id (W...); 400 otherwise."""
    openalex = parse_openalex(value, "W", "work")
    if openalex is not None:
        return str(work_id_for(openalex))
    try:
        return str(UUID(value))
    except ValueError:
        raise ProblemError(400, f"{value!r} is not a work id: use a UUID or an OpenAlex work id (W...)") from None


def parse_topic_id(value: str) -> str:
    topic = parse_openalex(value, "T", "topic")
    if topic is None:
        raise ProblemError(400, f"{value!r} is not a topic id: use an OpenAlex topic id (T...)")
    return topic


def parse_institution_id(value: str) -> str:
    institution = parse_openalex(value, "I", "institution")
    if institution is None:
        raise ProblemError(400, f"{value!r} is not an institution id: use an OpenAlex institution id (I...)")
    return institution


def institution_ref(i: dict[str, Any]) -> InstitutionRefOut:
    return InstitutionRefOut(i.get("openalex_id"), shown_name(i.get("display_name")), i.get("ror"),
                             i.get("country_code"))


def work_detail(work_id: str, fields: dict[str, Any]) -> WorkDetailOut:
    venue = fields["venue"]
    authorships = [AuthorshipOut(UUID(a["researcher_id"]), a["openalex_id"], shown_name(a["display_name"]) or None,
                                 a["position"], [institution_ref(i) for i in a["institutions"]])
                   for a in fields["authorships"]]
    institutions: dict[Any, InstitutionRefOut] = {}
    for a in authorships:
        for i in a.institutions:
            institutions.setdefault(i.openalex_id or i.display_name, i)
    return WorkDetailOut(
        UUID(work_id), fields["openalex_id"], fields["doi"], fields["title"], fields["publication_year"],
        fields["publication_date"], fields["type"], VenueOut(**venue) if venue else None, fields["cited_by_count"],
        fields["abstract"], [TopicOut(t["openalex_id"], t["display_name"]) for t in fields["topics"]],
        authorships, list(institutions.values()))


def works_cursor(cursor: str | None) -> tuple[str, str] | None:
    return decode_cursor(cursor, 2) if cursor else None  # type: ignore[return-value]


def researchers_cursor(cursor: str | None) -> tuple[int, str, str] | None:
    """(works, name key, id) of the last researcher on the previous page."""
    if not cursor:
        return None
    works, key, rid = decode_cursor(cursor, 3)
    if not (works.isascii() and works.isdigit() and len(works) <= 18):
        raise ProblemError(400, "cursor is not one this API gave out; start again without it")
    return int(works), key, rid


def works_page(rows: list[tuple[str, str, bytes]], limit: int) -> tuple[list[bytes], str | None]:
    next_cursor = encode_cursor(rows[limit - 1][0], rows[limit - 1][1]) if len(rows) > limit else None
    return [doc for _, _, doc in rows[:limit]], next_cursor


def next_researchers_cursor(rows: list[dict[str, Any]], limit: int) -> str | None:
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(str(last["works"]), last["name_key"], last["id"])


def view_of(state: State) -> ProfilesView:
    return state.services.profiles_view


# What each route reads, as functions: the explorer pages (api/pages/explorer.py) call the same ones.

def work_of(state: State, work_id: str) -> WorkDetailOut:
    internal_id = parse_work_id(work_id)
    fields = view_of(state).work(internal_id)
    if fields is None:
        raise WorkNotFoundError(work_id)
    return work_detail(internal_id, fields)


def topic_of(state: State, topic_id: str) -> TopicDetailOut:
    topic = parse_topic_id(topic_id)
    found = view_of(state).topic(topic)
    if found is None:
        raise TopicNotFoundError(topic_id)
    return TopicDetailOut(topic, shown_name(found["display_name"]), found["works"], found["researchers"])


def topic_researchers(state: State, topic_id: str, limit: int, cursor: str | None) -> TopicResearcherPageOut:
    topic = parse_topic_id(topic_id)
    after = researchers_cursor(cursor)
    view = view_of(state)
    rows = view.researchers_on_topic(topic, after, limit + 1)
    if not rows and after is None and view.topic(topic) is None:
        raise TopicNotFoundError(topic_id)
    return TopicResearcherPageOut(
        [TopicResearcherOut(UUID(r["id"]), r["openalex_id"], r["display_name"], r["works"], r["works_count"])
         for r in rows[:limit]], next_researchers_cursor(rows, limit))


def topic_works(state: State, topic_id: str, limit: int, cursor: str | None) -> tuple[list[bytes], str | None]:
    """The works (encoded as WorkOut) on a page, and the cursor of the next one."""
    topic = parse_topic_id(topic_id)
    after = works_cursor(cursor)
    rows = view_of(state).works_on_topic(topic, after, limit + 1)
    if not rows and after is None:
        raise TopicNotFoundError(topic_id)
    return works_page(rows, limit)


def institution_of(state: State, institution_id: str) -> InstitutionDetailOut:
    found = view_of(state).institution(parse_institution_id(institution_id))
    if found is None:
        raise InstitutionNotFoundError(institution_id)
    ref = institution_ref(found)
    return InstitutionDetailOut(ref.openalex_id, ref.display_name, ref.ror, ref.country_code, found["works"],
                                found["researchers"])


def institution_researchers(state: State, institution_id: str, limit: int,
                            cursor: str | None) -> InstitutionResearcherPageOut:
    institution = parse_institution_id(institution_id)
    after = researchers_cursor(cursor)
    rows = view_of(state).researchers_at_institution(institution, after, limit + 1)
    if not rows and after is None:
        raise InstitutionNotFoundError(institution_id)
    return InstitutionResearcherPageOut(
        [InstitutionResearcherOut(UUID(r["id"]), r["openalex_id"], r["display_name"], r["works"],
                                  r["first_year"], r["last_year"], r["works_count"]) for r in rows[:limit]],
        next_researchers_cursor(rows, limit))


def institution_works(state: State, institution_id: str, limit: int,
                      cursor: str | None) -> tuple[list[bytes], str | None]:
    institution = parse_institution_id(institution_id)
    after = works_cursor(cursor)
    rows = view_of(state).works_at_institution(institution, after, limit + 1)
    if not rows and after is None:
        raise InstitutionNotFoundError(institution_id)
    return works_page(rows, limit)


def works_response(found: tuple[list[bytes], str | None]) -> Response[WorkPageOut]:
    return Response(page(*found), media_type=JSON)


class WorksController(Controller):
    path = "/works"
    tags = ["explorer"]
    opt = PUBLIC

    @get("/{work_id:str}", summary="A work with its authorships, topics, institutions and venue",
         description=WORK_ID_HELP + " Each authorship links to the researcher's id, each topic and"
                                    " institution to its OpenAlex id (GET /topics/{id}, /institutions/{id}).",
         sync_to_thread=True, responses=PROBLEMS)
    def get_work(self, request: Request, state: State, work_id: FromPath[str]) -> WorkDetailOut:
        reject_unknown_query(request, set())
        return work_of(state, work_id)


class TopicsController(Controller):
    path = "/topics"
    tags = ["explorer"]
    opt = PUBLIC

    @get("/{topic_id:str}", summary="A topic: its name and how many works and researchers have it",
         description=TOPIC_ID_HELP, sync_to_thread=True, responses=PROBLEMS)
    def get_topic(self, request: Request, state: State, topic_id: FromPath[str]) -> TopicDetailOut:
        reject_unknown_query(request, set())
        return topic_of(state, topic_id)

    @get("/{topic_id:str}/researchers", summary="Researchers with works on a topic",
         description=TOPIC_ID_HELP + RESEARCHERS_ORDER, sync_to_thread=True, responses=PROBLEMS)
    def researchers(self, request: Request, state: State, topic_id: FromPath[str], limit: Limit = 20,
                    cursor: Cursor = None) -> TopicResearcherPageOut:
        reject_unknown_query(request, {"limit", "cursor"})
        return topic_researchers(state, topic_id, limit, cursor)

    @get("/{topic_id:str}/works", summary="Works on a topic, newest first", description=TOPIC_ID_HELP,
         sync_to_thread=True, responses=PROBLEMS)
    def works(self, request: Request, state: State, topic_id: FromPath[str], limit: Limit = 20,
              cursor: Cursor = None) -> Response[WorkPageOut]:
        reject_unknown_query(request, {"limit", "cursor"})
        return works_response(topic_works(state, topic_id, limit, cursor))


class InstitutionsController(Controller):
    path = "/institutions"
    tags = ["explorer"]
    opt = PUBLIC

    @get("/{institution_id:str}", summary="An institution as its newest work names it, with its counts",
         description=INSTITUTION_ID_HELP, sync_to_thread=True, responses=PROBLEMS)
    def get_institution(self, request: Request, state: State, institution_id: FromPath[str]) -> InstitutionDetailOut:
        reject_unknown_query(request, set())
        return institution_of(state, institution_id)

    @get("/{institution_id:str}/researchers", summary="Researchers whose works name an institution for them",
         description=INSTITUTION_ID_HELP + RESEARCHERS_ORDER, sync_to_thread=True, responses=PROBLEMS)
    def researchers(self, request: Request, state: State, institution_id: FromPath[str], limit: Limit = 20,
                    cursor: Cursor = None) -> InstitutionResearcherPageOut:
        reject_unknown_query(request, {"limit", "cursor"})
        return institution_researchers(state, institution_id, limit, cursor)

    @get("/{institution_id:str}/works", summary="Works naming an institution for one of their authors, newest first",
         description=INSTITUTION_ID_HELP, sync_to_thread=True, responses=PROBLEMS)
    def works(self, request: Request, state: State, institution_id: FromPath[str], limit: Limit = 20,
              cursor: Cursor = None) -> Response[WorkPageOut]:
        reject_unknown_query(request, {"limit", "cursor"})
        return works_response(institution_works(state, institution_id, limit, cursor))
