"""InvitationsController and ConversationsController: "Direct collaboration", consent first.

An invitation and its conversation are visible to their two parties only: to anyone else they
do not exist (404). Policies and blocks are the recipient's; a refusal for either reason reads
the same to the sender.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from api.accounts import NO_STORE, Strict
from api.own_writes import caught_up
from api.auth import Principal, requires_role
from api.text import OPENALEX_TOPIC, OPENALEX_WORK, free_text
from api.researchers import (
    Cursor,
    Limit,
    decode_cursor,
    encode_cursor,
    reject_unknown_query,
    resolve_researcher,
)
from domain.catalogue.model import work_id_for
from domain.claims.model import Record
from domain.errors import ErrorCode, InvalidInputError
from domain.invitations.application import SendFacts
from domain.invitations.model import POLICIES


InvitationStatus = Literal["pending", "accepted", "declined", "withdrawn", "expired"]
# topic and work_id: OpenAlex ids (api/text.py), stored short; they must name a work or topic this
# service has imported (422 unknown_work / unknown_topic otherwise).


class InvitationIn(Strict):
    message: free_text(2_000)
    topic: Annotated[str, msgspec.Meta(pattern=OPENALEX_TOPIC, description="an OpenAlex topic id")] | None = None
    work_id: Annotated[str, msgspec.Meta(pattern=OPENALEX_WORK, description="an OpenAlex work id")] | None = None


def short_openalex_id(value: str | None) -> str | None:
    return None if value is None else value.rpartition("/")[2].upper()


def known_subject(state: State, topic: str | None, work_id: str | None) -> None:
    view = state.services.profiles_view
    if work_id is not None and not view.has_work(str(work_id_for(work_id))):
        raise InvalidInputError(f"work {work_id} is not among the works imported here", code=ErrorCode.UNKNOWN_WORK,
                                field="work_id")
    if topic is not None and not view.has_topic(topic):
        raise InvalidInputError(f"topic {topic} is not among the topics of the works imported here",
                                code=ErrorCode.UNKNOWN_TOPIC, field="topic")


class ReportIn(Strict):
    reason: free_text(2_000)


class PolicyIn(Strict):
    policy: Literal["verified", "coauthors", "coauthors_of_coauthors", "nobody"]


class MessageIn(Strict):
    text: free_text(4_000)


class ReadIn(Strict):
    up_to: Annotated[int, msgspec.Meta(ge=0)]


class InvitationOut(msgspec.Struct):
    id: UUID
    sender_id: UUID
    recipient_id: UUID
    sender_record: UUID
    recipient_record: UUID
    status: InvitationStatus
    topic: str | None
    work_id: str | None
    expires_at: str
    conversation_id: UUID | None
    message: str | None = None  # None in lists, and once the sender's account is erased
    report_reason: str | None = None
    sender_name: str | None = None  # public names (null once an account is erased)
    recipient_name: str | None = None


class BoxOut(msgspec.Struct):
    items: list[InvitationOut]
    next_cursor: str | None
    pending_received: int
    unread_messages: int


class PolicyOut(msgspec.Struct):
    policy: str
    blocked: list[UUID]


class MessageOut(msgspec.Struct):
    number: int
    author_id: UUID
    text: str | None  # None once the author's account is erased
    at: str


class ConversationOut(msgspec.Struct):
    id: UUID
    invitation_id: UUID
    participants: list[UUID]
    messages: list[MessageOut]
    read: dict[str, int]
    closed: bool


class ConversationSummaryOut(msgspec.Struct):
    id: UUID
    invitation_id: UUID
    other_party_id: UUID
    other_party_name: str | None  # null once their account is erased
    messages: int
    unread: int
    closed: bool
    active_at: str  # the latest message, or when it opened or closed


class ConversationPageOut(msgspec.Struct):
    items: list[ConversationSummaryOut]
    next_cursor: str | None


class ReportOut(msgspec.Struct):
    invitation_id: UUID
    sender_id: UUID
    recipient_id: UUID
    reported_at: str
    reason: str | None


def person_of(state: State, record_id: UUID) -> tuple[UUID, Record | None]:
    """The person a record reads as: a member's person's own record (with its claims Record),
    or the record itself. From the claims log, so a link or unlink counts at once."""
    record = state.services.claims.get_record(record_id)
    if record is not None and record.person is not None:
        return record.person, state.services.claims.get_record(record.person)
    return record_id, record


def person_ids(person: UUID, record: Record | None) -> list[str]:
    """The person's records, its own first."""
    return [str(person), *(sorted(record.members) if record is not None else ())]


def send_facts(state: State, sender: UUID, raw_researcher_id: str) -> SendFacts:
    """Invitations go between persons: a record linked into a person stands for the person, on
    both sides (its owner, claim status, dispute, level and co-authors over all its records)."""
    services = state.services
    internal_id = resolve_researcher(services.profiles_view, raw_researcher_id)
    recipient, record = person_of(state, UUID(internal_id))
    owned = services.profiles_view.levels_owned_by(str(sender))
    mine: dict[UUID, str] = {}  # the sender's persons' own records -> the person's level
    disputed: set[UUID] = set()
    near: set[str] = set()  # every record of the sender's persons: their co-authors are the sender's
    for r in owned:
        person, own = person_of(state, UUID(r))
        if str(person) not in owned:
            continue  # a member of a person someone else owns: theirs to speak for
        mine[person] = owned[str(person)]
        if own is not None and own.status == "disputed":
            disputed.add(person)
        near.update(person_ids(person, own))
    owner = record.owner if record is not None else None
    if owner is not None and not services.accounts.exists(owner):
        owner = None  # its owner erased their account: nobody to invite
    return SendFacts(
        sender_records=mine,
        sender_disputed=frozenset(disputed),
        recipient_record=recipient,
        recipient_owner=owner,
        recipient_status=(record.status if record is not None else "unclaimed") if owner else "unclaimed",
        distance=services.profiles_view.coauthor_distance(sorted(near), person_ids(recipient, record)),
    )


def invitation_out(row: dict[str, Any], names: dict[str, str] | None = None) -> InvitationOut:
    names = names or {}
    return InvitationOut(
        UUID(row["id"]), UUID(row["sender_id"]), UUID(row["recipient_id"]), UUID(row["sender_record"]),
        UUID(row["recipient_record"]), row["status"], row["topic"], row["work_id"], row["expires_at"],
        UUID(row["conversation_id"]) if row["conversation_id"] else None,
        sender_name=names.get(row["sender_id"]), recipient_name=names.get(row["recipient_id"]),
    )


def names_in(state: State, rows: list[dict[str, Any]]) -> dict[str, str]:
    """The public names of the people these invitations are between, in one query."""
    return state.services.profiles_view.owner_names(sorted({r[k] for r in rows for k in ("sender_id", "recipient_id")}))


def invitation_detail(state: State, invitation_id: UUID, account_id: UUID) -> InvitationOut:
    invitation, note, reason = state.services.invitations.get(invitation_id, account_id)
    names = state.services.profiles_view.owner_names([str(invitation.sender_id), str(invitation.recipient_id)])
    return InvitationOut(
        invitation.id, invitation.sender_id, invitation.recipient_id, invitation.sender_record,
        invitation.recipient_record, invitation.status, invitation.topic, invitation.work_id,
        invitation.expires_at.isoformat(), invitation.conversation_id, note, reason,
        names.get(str(invitation.sender_id)), names.get(str(invitation.recipient_id)),
    )


# The two steps that gather facts before the application decides, as functions the pages call too.


def send_invitation(state: State, me: UUID, researcher_id: str, data: InvitationIn) -> InvitationOut:
    topic, work_id = short_openalex_id(data.topic), short_openalex_id(data.work_id)
    known_subject(state, topic, work_id)
    facts = send_facts(state, me, researcher_id)
    invitation_id = state.services.invitations.send(me, facts, data.message, topic, work_id)
    return invitation_detail(state, invitation_id, me)


def accept_invitation(state: State, me: UUID, invitation_id: UUID) -> InvitationOut:
    invitation, _, _ = state.services.invitations.get(invitation_id, me)
    record = state.services.claims.get_record(invitation.recipient_record)
    status = record.status if record is not None else "unclaimed"
    state.services.invitations.accept(invitation_id, me, recipient_record_status=status,
                                      recipient_record_owner=record.owner if record is not None else None)
    return invitation_detail(state, invitation_id, me)


class InvitationsController(Controller):
    tags = ["invitations"]
    response_headers = NO_STORE

    @post("/researchers/{researcher_id:str}/invitations", summary="Invite the owner of a claimed record",
          sync_to_thread=True, status_code=201)
    def send(self, request: Request[Principal, Any, State], state: State, researcher_id: FromPath[str],
             data: JSONBody[InvitationIn]) -> InvitationOut:
        return send_invitation(state, request.user.account_id, researcher_id, data)

    @get("/invitations/{invitation_id:uuid}", summary="An invitation (its two parties only)", sync_to_thread=True)
    def get_invitation(self, request: Request[Principal, Any, State], state: State,
                       invitation_id: FromPath[UUID]) -> InvitationOut:
        return invitation_detail(state, invitation_id, request.user.account_id)

    @post("/invitations/{invitation_id:uuid}/accept", summary="Accept: opens a conversation",
          sync_to_thread=True, status_code=200)
    def accept(self, request: Request[Principal, Any, State], state: State,
               invitation_id: FromPath[UUID]) -> InvitationOut:
        return accept_invitation(state, request.user.account_id, invitation_id)

    @post("/invitations/{invitation_id:uuid}/decline", summary="Decline", sync_to_thread=True, status_code=200)
    def decline(self, request: Request[Principal, Any, State], state: State,
                invitation_id: FromPath[UUID]) -> InvitationOut:
        state.services.invitations.decline(invitation_id, request.user.account_id)
        return invitation_detail(state, invitation_id, request.user.account_id)

    @post("/invitations/{invitation_id:uuid}/withdraw", summary="Withdraw (the sender)", sync_to_thread=True,
          status_code=200)
    def withdraw(self, request: Request[Principal, Any, State], state: State,
                 invitation_id: FromPath[UUID]) -> InvitationOut:
        state.services.invitations.withdraw(invitation_id, request.user.account_id)
        return invitation_detail(state, invitation_id, request.user.account_id)

    @post("/invitations/{invitation_id:uuid}/report", summary="Report abuse (the recipient)",
          sync_to_thread=True, status_code=200)
    def report(self, request: Request[Principal, Any, State], state: State, invitation_id: FromPath[UUID],
               data: JSONBody[ReportIn]) -> InvitationOut:
        state.services.invitations.report(invitation_id, request.user.account_id, data.reason)
        return invitation_detail(state, invitation_id, request.user.account_id)

    @get("/me/invitations", summary="My invitations: inbox or sent, newest first", sync_to_thread=True)
    def box(self, request: Request[Principal, Any, State], state: State, box: FromQuery[Literal["inbox", "sent"]] = "inbox",
            status: FromQuery[InvitationStatus | None] = None, limit: Limit = 20, cursor: Cursor = None) -> BoxOut:
        reject_unknown_query(request, {"box", "status", "limit", "cursor"})
        me = str(request.user.account_id)
        view = state.services.invitations_view
        caught_up(state.services.invitations_runner)  # what either party just did is in the box
        after = decode_cursor(cursor, 2) if cursor else None
        rows = view.box(me, box, status, after, limit + 1)
        next_cursor = encode_cursor(rows[limit - 1]["sent_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        names = names_in(state, rows[:limit])
        return BoxOut([invitation_out(r, names) for r in rows[:limit]], next_cursor, view.pending_received(me),
                      view.unread_messages(me))

    @get("/me/invitation-policy", summary="Who may invite me, and whom I blocked", sync_to_thread=True)
    def get_policy(self, request: Request[Principal, Any, State], state: State) -> PolicyOut:
        policy, blocked = state.services.invitations.policy(request.user.account_id)
        return PolicyOut(policy, blocked)

    @put("/me/invitation-policy", summary=f"Set who may invite me: {', '.join(POLICIES)}", sync_to_thread=True)
    def set_policy(self, request: Request[Principal, Any, State], state: State, data: JSONBody[PolicyIn]) -> PolicyOut:
        state.services.invitations.set_policy(request.user.account_id, data.policy)
        policy, blocked = state.services.invitations.policy(request.user.account_id)
        return PolicyOut(policy, blocked)

    @put("/me/blocks/{account_id:uuid}", summary="Block a person from inviting me", sync_to_thread=True,
         status_code=204)
    def block(self, request: Request[Principal, Any, State], state: State, account_id: FromPath[UUID]) -> None:
        # Any id may be blocked: answering 404 for unknown ones would tell who has an account.
        state.services.invitations.block(request.user.account_id, account_id)

    @delete("/me/blocks/{account_id:uuid}", summary="Unblock (204, also when not blocked)", sync_to_thread=True)
    def unblock(self, request: Request[Principal, Any, State], state: State, account_id: FromPath[UUID]) -> None:
        state.services.invitations.unblock(request.user.account_id, account_id)


class ConversationsController(Controller):
    tags = ["invitations"]
    response_headers = NO_STORE

    @get("/me/conversations", summary="My conversations, the latest activity first, with unread counts",
         sync_to_thread=True)
    def mine(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
             cursor: Cursor = None) -> ConversationPageOut:
        reject_unknown_query(request, {"limit", "cursor"})
        after = decode_cursor(cursor, 2) if cursor else None
        caught_up(state.services.invitations_runner)
        rows = state.services.invitations_view.conversations_of(str(request.user.account_id), after, limit + 1)
        names = state.services.profiles_view.owner_names([r["other_id"] for r in rows[:limit]])
        next_cursor = encode_cursor(rows[limit - 1]["active_at"], rows[limit - 1]["id"]) if len(rows) > limit else None
        return ConversationPageOut([
            ConversationSummaryOut(UUID(r["id"]), UUID(r["invitation_id"]), UUID(r["other_id"]), names.get(r["other_id"]),
                                   r["messages"], r["unread"], bool(r["closed"]), r["active_at"])
            for r in rows[:limit]], next_cursor)

    @get("/conversations/{conversation_id:uuid}", summary="A conversation (its two parties only)",
         sync_to_thread=True)
    def get_conversation(self, request: Request[Principal, Any, State], state: State,
                         conversation_id: FromPath[UUID]) -> ConversationOut:
        return conversation_out(state, conversation_id, request.user.account_id)

    @post("/conversations/{conversation_id:uuid}/messages", summary="Write a message", sync_to_thread=True,
          status_code=201)
    def post_message(self, request: Request[Principal, Any, State], state: State, conversation_id: FromPath[UUID],
                     data: JSONBody[MessageIn]) -> ConversationOut:
        state.services.invitations.post(conversation_id, request.user.account_id, data.text)
        return conversation_out(state, conversation_id, request.user.account_id)

    @post("/conversations/{conversation_id:uuid}/read", summary="Mark messages read up to a number",
          sync_to_thread=True, status_code=200)
    def mark_read(self, request: Request[Principal, Any, State], state: State, conversation_id: FromPath[UUID],
                  data: JSONBody[ReadIn]) -> ConversationOut:
        state.services.invitations.mark_read(conversation_id, request.user.account_id, data.up_to)
        return conversation_out(state, conversation_id, request.user.account_id)

    @post("/conversations/{conversation_id:uuid}/close", summary="Close the conversation (either party)",
          sync_to_thread=True, status_code=200)
    def close(self, request: Request[Principal, Any, State], state: State,
              conversation_id: FromPath[UUID]) -> ConversationOut:
        state.services.invitations.close_conversation(conversation_id, request.user.account_id)
        return conversation_out(state, conversation_id, request.user.account_id)

    @get("/moderation/reports", summary="Reported invitations, newest first (moderators)", sync_to_thread=True,
         guards=[requires_role("moderator", "admin")])
    def reports(self, request: Request[Principal, Any, State], state: State, limit: Limit = 20,
                cursor: Cursor = None) -> list[ReportOut]:
        reject_unknown_query(request, {"limit", "cursor"})
        return reports_page(state, limit, cursor)


def reports_page(state: State, limit: int, cursor: str | None) -> list[ReportOut]:
    """Reported invitations, newest first, with the reporter's reason (the API's list and the moderation page)."""
    after = decode_cursor(cursor, 2) if cursor else None
    caught_up(state.services.invitations_runner)  # a report made a moment ago is listed
    rows = state.services.invitations_view.reports(after, limit)
    return [ReportOut(UUID(r["invitation_id"]), UUID(r["sender_id"]), UUID(r["recipient_id"]), r["reported_at"],
                      state.services.invitations.report_reason(UUID(r["invitation_id"]))) for r in rows]


def conversation_out(state: State, conversation_id: UUID, account_id: UUID) -> ConversationOut:
    conversation, messages = state.services.invitations.conversation(conversation_id, account_id)
    return ConversationOut(
        conversation.id, conversation.invitation_id, list(conversation.participants),
        [MessageOut(m.number, m.author_id, m.text, m.at) for m in messages], dict(conversation.read),
        conversation.closed_by is not None,
    )
