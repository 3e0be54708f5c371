"""ProfilePagesController: the researcher profile page at /r/{id}, its Follow form, trust explained
and the public history, read through the same read models and functions as the JSON API."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import anyio
import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.types import ASGIApp

from api.auth import Principal
from api.follower_counts import profile_body
from api.follows import require_confirmed, researcher_uuid, run_command
from api.history import HistoryController
from api.invitations import send_facts
from api.pages.forms import CSRF_REFUSED, FORM, readable
from api.pages.graph_svg import research_graph_svg
from api.pages.page_cache import KeptPage, profile_pages, stamp
from api.pages.rendering import PAGE_HEADERS, PageController, header_facts, page, see_other
from api.pages.session import CSRF_FIELD, csrf_holds, page_principal
from api.researchers import ResearchersController, decode_cursor, encode_cursor, parse_researcher_id
from api.trust import graph_out, live_snapshot, profile_doc
from domain.errors import ForbiddenError
from domain.follows.application import FollowCommand
from domain.trust import FORMULA

WORKS_PER_PAGE = 10
HISTORY_PER_PAGE = 20

CLAIM_LABELS = {"unclaimed": "Unclaimed author", "claimed": "Claimed author", "disputed": "Ownership disputed"}
POLICY_LABELS = {
    "verified": "Any researcher verified at L2 or above",
    "coauthors": "Only my co-authors",
    "coauthors_of_coauthors": "My co-authors and their co-authors",
    "nobody": "Nobody",
}


def profile_of(state: State, raw: str, principal: Principal | None,
               counts: tuple[int, int] | None = None) -> tuple[str, dict[str, Any]]:
    """The profile exactly as GET /researchers/{id} serves it to this reader (profile_body), with
    the record's follower counts as the API process has them (or as given)."""
    internal_id, doc = profile_doc(state, raw)
    following = None
    if principal is not None:
        following = state.services.followers_view.follows(internal_id, str(principal.account_id))
    body = profile_body(doc, state.follower_counts.get(internal_id) if counts is None else counts, following)
    return internal_id, msgspec.json.decode(body)


def works_page(state: State, internal_id: str, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """As GET /researchers/{id}/works pages them: newest first, `cursor` from the previous page."""
    after = decode_cursor(cursor, 2) if cursor else None
    view = state.services.profiles_view
    rows = view.works_of(view.person_records(internal_id), after, WORKS_PER_PAGE + 1)
    next_cursor = encode_cursor(rows[WORKS_PER_PAGE - 1][0], rows[WORKS_PER_PAGE - 1][1]) \
        if len(rows) > WORKS_PER_PAGE else None
    return [msgspec.json.decode(doc) for _, _, doc in rows[:WORKS_PER_PAGE]], next_cursor


def shared_parts(state: State, at: tuple[int, int], internal_id: str, raw: str, profile: dict[str, Any],
                 cursor: str | None) -> dict[str, Any]:
    """What every reader of the page sees alike, the expensive part (a page of works, the graph and
    its picture): read once per profile cache stamp `at`, taken before `profile` was read."""
    key = (internal_id, cursor, at)
    parts = profile_pages(state).parts.get(key)
    if parts is None:
        works, next_cursor = works_page(state, internal_id, cursor)
        graph = msgspec.to_builtins(graph_out(state, raw, 1))
        parts = {"works": works, "works_cursor": cursor, "next_works_cursor": next_cursor, "graph": graph,
                 "graph_svg": research_graph_svg(profile, graph),
                 "close_collaborators": [c for c in graph["coauthors"] if c["close"]]}
        profile_pages(state).parts.put(key, parts)
    return parts


def profile_page_data(state: State, raw: str, principal: Principal | None, cursor: str | None,
                      counts: tuple[int, int] | None = None, at: tuple[int, int] | None = None) -> dict[str, Any]:
    at = stamp(state) if at is None else at  # first: everything read below is at least this fresh
    internal_id, profile = profile_of(state, raw, principal, counts)
    owner = profile["owner"]
    levels = state.services.profiles_view.levels_owned_by(str(principal.account_id)) if principal else {}
    # A person's records all read its profile: its owner owns the person's own record (records[0]).
    person = str(profile["records"][0]) if profile.get("records") else internal_id
    mine = internal_id in levels or person in levels
    can_invite = profile["claim_status"] == "claimed" and not mine and owner is not None \
        and any(level in ("L2", "L3") for level in levels.values())
    invite_refusal = policy = None
    if can_invite:  # what GET /researchers/{id}/viewer says of inviting, from the rule `send` applies
        me = principal.account_id  # type: ignore[union-attr]
        refused = state.services.invitations.refusal(me, send_facts(state, me, internal_id))
        invite_refusal = readable(refused) if refused is not None else None
    if mine:  # as GET /me/invitation-policy answers
        current, _ = state.services.invitations.policy(principal.account_id)  # type: ignore[union-attr]
        policy = POLICY_LABELS.get(current, current)
    return {
        "raw_id": raw,
        "p": profile,
        "trust_label": f"Trust {profile['trust']['score']} - {profile['trust']['tier']}",
        "claim_label": CLAIM_LABELS.get(profile["claim_status"], profile["claim_status"]),
        "owner_name": (owner["display_name"] or "an erased account") if owner else None,
        "mine": mine,
        "edit_id": raw if internal_id in levels else person,  # the owner edits the person's own record
        **shared_parts(state, at, internal_id, raw, profile, cursor),
        # Who sees the invitation form: a signed-in owner of an L2+ record, on someone else's claimed
        # record, unless the rule the send applies (policy, blocks, quotas, a pending one) refuses it now.
        "can_invite": can_invite, "invite_refusal": invite_refusal, "invitation_policy": policy,
        "invite_error": None, "invite_message": "", "invite_topic": None, "invite_work": None,
    }


# A signed-out reader's page is the same for all of them: rendered once per stamp and counts, with
# its ETag, and revalidated by browsers (no-cache) rather than kept. It sets no cookie (it has no form).
SIGNED_OUT_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-cache", "Vary": "Cookie"}


def signed_out_page(request: Request, raw: str, cursor: str | None, counts: tuple[int, int],
                    at: tuple[int, int]) -> KeptPage:
    """Rendered as `page` renders it for a reader who is not signed in: no viewer, no CSRF token."""
    data = profile_page_data(request.app.state, raw, None, cursor, counts, at)
    body = request.app.template_engine.get_template("profile.html").render(
        signed_in=False, **header_facts(request.app.state, None), csrf_token="", here=request.url.path, notice=None,
        **data).encode()
    return KeptPage(body, SIGNED_OUT_HEADERS)


async def signed_out_profile(request: Request, raw: str, internal_id: str, cursor: str | None) -> ASGIApp:
    state = request.app.state
    at, counts = stamp(state), state.follower_counts.get(internal_id)
    key = (internal_id, request.url.path, cursor, at, counts)
    pages = profile_pages(state).signed_out
    kept = pages.get(key)
    if kept is None:
        kept = await anyio.to_thread.run_sync(signed_out_page, request, raw, cursor, counts, at)
        pages.put(key, kept)
    return kept.answer(request.headers.get("if-none-match"))


def trust_page_data(state: State, raw: str) -> dict[str, Any]:
    internal_id, doc = profile_doc(state, raw)
    _, profile = profile_of(state, raw, None)
    snap = live_snapshot(state, internal_id, doc)
    rules = {c["name"]: c["rule"] for c in FORMULA["components"]}
    components = [{**c, "rule": rules.get(c["name"], ""), "label": c["name"].replace("_", " ").capitalize(),
                   "width": round(300 * c["points"] / c["maximum"]) if c["maximum"] else 0}
                  for c in snap["components"]]
    history = state.services.trust_view.history(internal_id, None, 200, newest_first=False)
    return {"raw_id": raw, "p": profile, "score": snap["score"], "tier": snap["tier"],
            "trust_label": f"Trust {snap['score']} - {snap['tier']}", "components": components,
            "formula": FORMULA, "history": history, "history_points": line_points(history)}


def line_points(history: list[dict[str, Any]], width: int = 600, height: int = 160) -> str:
    """The score over time as a polyline's points: one step per change, 0 to 100 bottom to top."""
    if not history:
        return ""
    step = width / max(len(history) - 1, 1)
    return " ".join(f"{round(i * step, 1)},{round(height - height * h['score'] / 100, 1)}"
                    for i, h in enumerate(history))


class ProfilePagesController(PageController):
    """Pages for one researcher record; `/r/{id}` is the canonical, shareable address."""

    path = "/r"

    @get("/{researcher_id:str}")
    async def profile(self, request: Request, researcher_id: FromPath[str]) -> ASGIApp:
        principal = await page_principal(request)
        cursor = request.query_params.get("works")
        if principal is None and set(request.query_params) <= {"works"}:
            internal_id, _ = parse_researcher_id(researcher_id)
            if internal_id is not None:  # (an ORCID iD needs a query to find the record: rendered each time)
                return await signed_out_profile(request, researcher_id, internal_id, cursor)
        data = await anyio.to_thread.run_sync(profile_page_data, request.app.state, researcher_id, principal, cursor)
        return await page(request, "profile.html", principal, **data)

    @post("/{researcher_id:str}/follow", opt=FORM, status_code=303)
    async def follow(self, request: Request, researcher_id: FromPath[str]) -> Redirect:
        return await self._follow(request, researcher_id, True)

    @post("/{researcher_id:str}/unfollow", opt=FORM, status_code=303)
    async def unfollow(self, request: Request, researcher_id: FromPath[str]) -> Redirect:
        return await self._follow(request, researcher_id, False)

    @staticmethod
    async def _follow(request: Request, researcher_id: str, follow: bool) -> Redirect:
        """The API's follow command (PUT/DELETE /me/following/{id}), then back to the profile with
        the count caught up to this follow (as `consistent_with` does)."""
        form = await request.form()
        if not csrf_holds(request, form):
            raise ForbiddenError(CSRF_REFUSED)
        state = request.app.state
        principal = await page_principal(request)
        back = f"/r/{researcher_id}"
        if principal is None:
            return see_other(f"/p/login?next={back}")
        rid: UUID = await researcher_uuid(state, researcher_id)
        if follow:
            await require_confirmed(state, principal)
        outcome = await run_command(state, FollowCommand(principal.account_id, rid, follow, confirmed=follow))
        state.own_writes.followed(principal.account_id, outcome.position)
        if outcome.position is not None:
            await ResearchersController._catch_up(state, str(outcome.position))
        return see_other(f"{back}#follow")

    @get("/{researcher_id:str}/trust")
    async def trust(self, request: Request, researcher_id: FromPath[str]) -> Template:
        principal = await page_principal(request)
        data = await anyio.to_thread.run_sync(trust_page_data, request.app.state, researcher_id)
        return await page(request, "trust.html", principal, **data)

    @get("/{researcher_id:str}/history")
    async def history(self, request: Request, researcher_id: FromPath[str]) -> Template:
        """The record's audit history as GET /researchers/{id}/history shows it to this reader."""
        principal = await page_principal(request)
        cursor = request.query_params.get("cursor")
        state = request.app.state

        def read() -> dict[str, Any]:
            _, profile = profile_of(state, researcher_id, None)
            entries = HistoryController._record_history(state, researcher_id, "newest", HISTORY_PER_PAGE, cursor,
                                                        principal)
            return {"raw_id": researcher_id, "p": profile, "entries": msgspec.to_builtins(entries.items),
                    "next_cursor": entries.next_cursor, "cursor": cursor}

        return await page(request, "history.html", principal, **await anyio.to_thread.run_sync(read))


__all__ = ["CSRF_FIELD", "ProfilePagesController"]
