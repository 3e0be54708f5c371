"""ResearchersController: profiles, works and name search, served from pre-encoded read models."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Annotated, TypeVar
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, Parameter

from api.auth import PUBLIC, optional_principal
from api.errors import ProblemError
from api.follower_counts import profile_body
from domain.catalogue.model import researcher_id_for
from domain.errors import ResearcherNotFoundError
from projections.profiles.documents import ProfileOut, ResearcherPageOut, WorkPageOut
from projections.profiles.build import name_key
from projections.profiles.view import ProfilesView
from adapters.openalex import MalformedRecordError, normalise_orcid
from bootstrap.standby import primary_position
from operations.timetravel import PastProfile, profile_at

T = TypeVar("T")

JSON = "application/json"
_OPENALEX_AUTHOR = re.compile(r"^[Aa]\d{1,15}$")
_ORCID_SHAPE = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
MAX_ID_LENGTH = 64
ID_HELP = "`researcher_id` is the internal UUID, an OpenAlex author id (A...) or an ORCID iD."

ResearcherIdParam = Annotated[
    str,
    Parameter(
        description="Internal UUID, OpenAlex author id (A...) or ORCID iD (0000-0000-0000-0000)",
        max_length=64,
    ),
]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size (1 to 100)")]
Cursor = Annotated[str | None, Parameter(max_length=512, description="next_cursor of the previous page")]


# Read by the handler itself (a typed parameter costs the hottest route ~10% of its rate).
AS_OF_QUERY = {"name": "as_of", "schema": {"type": "string", "format": "date-time"},
               "description": "ISO 8601 with a time zone: the resource as it was then (not with consistent_with)"}
PROFILE_QUERY = (AS_OF_QUERY, {"name": "consistent_with", "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                               "description": "the position a follow or unfollow returned: wait until it is counted"})

AS_OF_HELP = (" `as_of` (ISO 8601 with a time zone, e.g. 2026-01-31T00:00:00Z): as it was at that moment,"
              " rebuilt from the events up to it.")


def one_as_of(request: Request) -> str | None:
    """The as_of parameter, if given (once: a second one is a 400)."""
    values = request.query_params.getall("as_of", [])
    if len(values) > 1:
        raise ProblemError(400, "as_of is given once", field="as_of")
    return values[0] if values else None


def parse_as_of(value: str) -> datetime:
    """An ISO 8601 moment with its time zone (2026-01-31T00:00:00Z); 400 otherwise."""
    reject_control_characters("as_of", value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None:
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
            pass
    raise ProblemError(400, "as_of is a moment in ISO 8601 with its time zone, e.g. 2026-01-31T00:00:00Z",
                       field="as_of")


def past_profile(state: State, raw: str, as_of: str) -> tuple[str, PastProfile]:
    """A profile as it was at `as_of`; 404 for a record unknown today or not yet known then."""
    moment = parse_as_of(as_of)
    internal_id, _ = ResearchersController._load_profile(state, *parse_researcher_id(raw), raw)
    past = profile_at(state.services, internal_id, moment)
    if past is None:
        raise ProblemError(404, f"researcher {raw!r} was not on record yet at {as_of}")
    return internal_id, past


def parse_researcher_id(value: str) -> tuple[str | None, str | None]:
    """(internal id, orcid): an internal id is known without a lookup; an ORCID needs one."""
    if len(value) > MAX_ID_LENGTH:
        raise ProblemError(400, f"a researcher id has at most {MAX_ID_LENGTH} characters")
    if _OPENALEX_AUTHOR.match(value):
        return str(researcher_id_for(value.upper())), None
    if _ORCID_SHAPE.match(value):
        try:
            return None, normalise_orcid(value)
        except MalformedRecordError:
            raise ProblemError(400, f"{value!r} is not a valid ORCID iD (its check digit is wrong)") from None
    try:
        return str(UUID(value)), None
    except ValueError:
        raise ProblemError(
            400, f"{value!r} is not a researcher id: use a UUID, an OpenAlex author id (A...) or an ORCID iD"
        ) from None


def resolve_researcher(view: ProfilesView, raw: str) -> str:
    """The internal id of a researcher given as UUID, OpenAlex id or ORCID iD; 404 if unknown.
    Blocking (it may ask the view): call it off the event loop."""
    internal_id, orcid = parse_researcher_id(raw)
    if internal_id is None:
        internal_id = view.researcher_id_for_orcid(orcid)
    if internal_id is None or not view.exists(internal_id):
        raise ResearcherNotFoundError(raw)
    return internal_id


def reject_unknown_query(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ProblemError(400, f"unknown query parameter(s): {', '.join(unknown)}", field=unknown[0])


def reject_control_characters(name: str, value: str) -> None:
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in value):
        raise ProblemError(400, f"{name} must not contain control characters", field=name)


def encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(parts)).decode().rstrip("=")


def queue_page(rows: list[tuple[str, str]], limit: int, item: Callable[[UUID], T | None]) -> tuple[list[T], str | None]:
    """A page of a moderators' queue from up to `limit + 1` (opened at, id) rows, oldest first:
    `item` makes an entry of an id, or None for one this moderator has a side in (for others to
    decide: left out, never repeated, as the cursor follows the rows)."""
    items = [found for _, rid in rows[:limit] if (found := item(UUID(rid))) is not None]
    return items, encode_cursor(*rows[limit - 1]) if len(rows) > limit else None


def decode_cursor(cursor: str, size: int) -> tuple[str, ...]:
    try:
        parts = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, msgspec.DecodeError, ValueError):
        parts = None
    if not (
        isinstance(parts, list)
        and len(parts) == size
        and all(isinstance(p, str) and "\x00" not in p for p in parts)
    ):
        raise ProblemError(400, "cursor is not one this API gave out; start again without it", field="cursor")
    return tuple(parts)


def page(docs: list[bytes], next_cursor: str | None) -> bytes:
    tail = msgspec.json.encode(next_cursor)
    return b'{"items":[' + b",".join(docs) + b'],"next_cursor":' + tail + b"}"


class ResearchersController(Controller):
    path = "/researchers"
    tags = ["researchers"]
    opt = PUBLIC

    # The hottest route: a plain `str` parameter (a constrained one costs ~10% of the rate);
    # the length is checked in parse_researcher_id instead.
    @get("/{researcher_id:str}", summary="A researcher's profile", description=ID_HELP + AS_OF_HELP
         + " `consistent_with`: the position a follow returned; waits (2 s at most) until it is counted.",
         opt={"query_doc": PROFILE_QUERY})
    async def get_profile(self, request: Request, researcher_id: FromPath[str]) -> Response[ProfileOut]:
        state = request.app.state
        reader = await optional_principal(request) if "authorization" in request.headers else None
        if request.scope["query_string"]:
            reject_unknown_query(request, {"consistent_with", "as_of"})
            as_of = one_as_of(request)
            if as_of is not None:
                if "consistent_with" in request.query_params:
                    raise ProblemError(400, "as_of reads the past; consistent_with waits for the present: "
                                            "ask with one of them")
                _, past = await anyio.to_thread.run_sync(past_profile, state, researcher_id, as_of)
                return Response(profile_body(past.doc, (past.followers, past.verified_followers)), media_type=JSON)
            from_primary = await self._catch_up(state, request.query_params.get("consistent_with"))
        else:
            from_primary = False
        mine = state.own_writes.follow_position(reader.account_id) if reader is not None else None
        if mine is not None:
            # The reader's own latest follow or unfollow, counted before they see the profile.
            from_primary = await self._catch_up(state, str(mine)) or from_primary
        internal_id, orcid = parse_researcher_id(researcher_id)
        doc = state.profile_cache.get(internal_id) if internal_id is not None else None
        if doc is None:
            internal_id, doc = await anyio.to_thread.run_sync(
                self._load_profile, state, internal_id, orcid, researcher_id
            )
        counts = state.follower_counts.get(internal_id)
        if from_primary:  # the standby has not replayed the follow yet: this count from the primary
            counts = (await anyio.to_thread.run_sync(state.services.followers_view.counts_of, [internal_id])
                      ).get(internal_id, (0, 0))
        follows = None
        # A signed-in reader sees whether they follow: their own writes, read from the primary
        # (what they follow is kept a few seconds; their own follows in this process forget it).
        if reader is not None:
            kept = state.own_writes.reader_follows
            # Not while the reader's own follow is recent: a list read as it landed may predate it.
            asked_to_wait = mine is not None or from_primary or (
                request.scope["query_string"] and "consistent_with" in request.query_params)
            followed = None if asked_to_wait else kept.get(reader.account_id)
            if followed is None:
                followed = await anyio.to_thread.run_sync(kept.load, reader.account_id)
            if followed is None:  # too many to keep
                follows = await anyio.to_thread.run_sync(
                    state.services.followers_view.follows, internal_id, str(reader.account_id)
                )
            else:
                follows = internal_id in followed
        return Response(profile_body(doc, counts, follows), media_type=JSON)

    @staticmethod
    async def _catch_up(state: State, position: str | None) -> bool:
        """Read-your-writes: wait (at most 2 s) until follows up to `position` are counted. With a
        standby, then until it has replayed the primary's WAL as it is once they are (at most
        PEERLEDGER_READ_MAX_WAIT); True if it has not, and the counts must be read from the primary."""
        if position is None:
            return False
        if not (position.isascii() and position.isdigit()) or len(position) > 18:
            raise ProblemError(400, "consistent_with is the position a follow or unfollow returned",
                               field="consistent_with")
        runner = state.services.followers_runner
        head = await anyio.to_thread.run_sync(runner.head)
        services = state.services
        if not await anyio.to_thread.run_sync(runner.wait, min(int(position), head), 2.0):
            return False
        if services.standby is not None:
            lsn = await anyio.to_thread.run_sync(primary_position, services.settings)
            if not await anyio.to_thread.run_sync(services.standby.wait_for, lsn, services.settings.read_max_wait):
                return True
        await anyio.to_thread.run_sync(state.follower_counts.refresh)
        return False

    @staticmethod
    def _load_profile(state: State, internal_id: str | None, orcid: str | None, asked: str) -> tuple[str, bytes]:
        if internal_id is None:
            internal_id = state.services.read_view("profiles").researcher_id_for_orcid(orcid)
        doc = state.profile_cache.load(internal_id) if internal_id else None
        if doc is None:
            raise ResearcherNotFoundError(asked)
        return internal_id, doc

    @get("/", summary="Search researchers by name", sync_to_thread=True)
    def search(
        self,
        request: Request,
        state: State,
        q: Annotated[str, Parameter(max_length=200, description="the start of a name or of a word in it; case and accents ignored")] = "",
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response[ResearcherPageOut]:
        reject_unknown_query(request, {"q", "limit", "cursor"})
        reject_control_characters("q", q)
        after = decode_cursor(cursor, 2) if cursor else None
        rows = state.services.read_view("profiles").search(name_key(q), after, limit + 1)  # type: ignore[arg-type]
        next_cursor = encode_cursor(rows[limit - 1][0], rows[limit - 1][1]) if len(rows) > limit else None
        counts = state.follower_counts
        docs = [profile_body(doc, counts.get(rid)) for _, rid, doc in rows[:limit]]
        return Response(page(docs, next_cursor), media_type=JSON)

    @get("/{researcher_id:str}/works", summary="A researcher's works, newest first", description=ID_HELP,
         sync_to_thread=True)
    def works(
        self, request: Request, state: State, researcher_id: ResearcherIdParam, limit: Limit = 20, cursor: Cursor = None
    ) -> Response[WorkPageOut]:
        reject_unknown_query(request, {"limit", "cursor"})
        view = state.services.read_view("profiles")
        internal_id = resolve_researcher(view, researcher_id)
        after = decode_cursor(cursor, 2) if cursor else None
        # A person's works are its records' together, each once.
        rows = view.works_of(view.person_records(internal_id), after, limit + 1)  # type: ignore[arg-type]
        next_cursor = encode_cursor(rows[limit - 1][0], rows[limit - 1][1]) if len(rows) > limit else None
        return Response(page([doc for _, _, doc in rows[:limit]], next_cursor), media_type=JSON)


