"""Business errors, named for the problem, never for an HTTP status (api/errors.py maps them).

Each error carries a stable `code` (an ErrorCode: clients branch on it, never on the words) and
the facts a caller needs to act on it (`until`, `claim_id`, `field`, ...)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Why a command or a query was refused: one code per cause, stable across releases."""

    # kinds, when nothing more precise is known
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    INVALID_INPUT = "invalid_input"
    UNAUTHENTICATED = "unauthenticated"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    CHANGED_CONCURRENTLY = "changed_concurrently"
    INVALID_TEXT = "invalid_text"
    # accounts
    EMAIL_UNCONFIRMED = "email_unconfirmed"
    EMAIL_TAKEN = "email_taken"
    WEAK_PASSWORD = "weak_password"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_CONFIRMATION_CODE = "invalid_confirmation_code"
    INVALID_RESET_CODE = "invalid_reset_code"
    WRONG_PASSWORD = "wrong_password"
    INVALID_REFRESH_TOKEN = "invalid_refresh_token"
    # follows
    FOLLOW_OWN_RECORD = "follow_own_record"
    # claims and ownership
    ALREADY_OWNER = "already_owner"
    CLAIM_ALREADY_OPEN = "claim_already_open"
    EVIDENCE_ALREADY_REJECTED = "evidence_already_rejected"
    DISPUTE_OPEN = "dispute_open"
    CLAIM_NOT_OPEN = "claim_not_open"
    CLAIM_ALREADY_APPEALED = "claim_already_appealed"
    OWNER_CHANGED = "owner_changed"
    RECORD_HAS_OWNER = "record_has_owner"
    RECORD_UNCLAIMED = "record_unclaimed"
    NOT_OWNER = "not_owner"
    ALREADY_VOUCHED = "already_vouched"
    VOUCH_NOT_ALLOWED = "vouch_not_allowed"
    MODERATOR_INVOLVED = "moderator_involved"
    INVALID_EVIDENCE = "invalid_evidence"
    INVALID_EMAIL_CODE = "invalid_email_code"
    NOT_AN_AUTHOR = "not_an_author"
    OWNER_NOT_VERIFIED = "owner_not_verified"
    ALREADY_LINKED = "already_linked"
    LINK_PENDING = "link_pending"
    LINK_NOT_OPEN = "link_not_open"
    RECORD_CLAIMED = "record_claimed"
    ALREADY_FLAGGED = "already_flagged"
    FLAG_NOT_OPEN = "flag_not_open"
    ALREADY_AN_AUTHOR = "already_an_author"
    ALREADY_ADOPTED = "already_adopted"
    ADOPTION_PENDING = "adoption_pending"
    ADOPTION_NOT_OPEN = "adoption_not_open"
    ORCID_NOT_CONFIGURED = "orcid_not_configured"
    # invitations and conversations
    SENDER_NOT_VERIFIED = "sender_not_verified"
    SENDER_DISPUTED = "sender_disputed"
    RECIPIENT_DISPUTED = "recipient_disputed"
    RECIPIENT_UNCLAIMED = "recipient_unclaimed"
    INVITATION_REFUSED = "invitation_refused"
    INVITATION_TO_SELF = "invitation_to_self"
    INVITATION_PENDING = "invitation_pending"
    INVITATION_COOLDOWN = "invitation_cooldown"
    INVITATION_NOT_PENDING = "invitation_not_pending"
    INVITATION_EXPIRED = "invitation_expired"
    INVITATION_QUOTA = "invitation_quota"
    NOT_A_PARTY = "not_a_party"
    ALREADY_REPORTED = "already_reported"
    CONVERSATION_CLOSED = "conversation_closed"
    CONVERSATION_FULL = "conversation_full"
    UNKNOWN_WORK = "unknown_work"
    UNKNOWN_TOPIC = "unknown_topic"


def _between(first: ErrorCode, last: ErrorCode) -> frozenset[ErrorCode]:
    codes = list(ErrorCode)
    return frozenset(codes[codes.index(first):codes.index(last) + 1])


# The codes each business area refuses with (in the order ErrorCode lists them); the kinds and
# the rest are general: any route may answer them.
AREA_CODES: dict[str, frozenset[ErrorCode]] = {
    "accounts": _between(ErrorCode.EMAIL_TAKEN, ErrorCode.INVALID_REFRESH_TOKEN),
    "follows": _between(ErrorCode.FOLLOW_OWN_RECORD, ErrorCode.FOLLOW_OWN_RECORD),
    "claims": _between(ErrorCode.ALREADY_OWNER, ErrorCode.ORCID_NOT_CONFIGURED),
    "invitations": _between(ErrorCode.SENDER_NOT_VERIFIED, ErrorCode.UNKNOWN_TOPIC),
}
GENERAL_CODES = frozenset(ErrorCode) - frozenset().union(*AREA_CODES.values())


class DomainError(Exception):
    """A rule of the business refused a command or a query."""

    code: ErrorCode = ErrorCode.INVALID_INPUT

    def __init__(self, detail: str, *, code: ErrorCode | None = None, **facts: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.facts = facts  # what a client needs to act on it: until, claim_id, status, ...


class NotFoundError(DomainError):
    """The thing asked for does not exist (or is not visible to the asker)."""

    code = ErrorCode.NOT_FOUND


class ConflictError(DomainError):
    """The command clashes with the current state, for example a concurrent change."""

    code = ErrorCode.CONFLICT


class ForbiddenError(DomainError):
    """The actor may not do this."""

    code = ErrorCode.FORBIDDEN


class InvalidInputError(DomainError):
    """The input is well-formed but breaks a business rule about its content."""

    code = ErrorCode.INVALID_INPUT


class ResearcherNotFoundError(NotFoundError):
    def __init__(self, researcher_id: str) -> None:
        super().__init__(f"no researcher with id {researcher_id!r}")


class WorkNotFoundError(NotFoundError):
    def __init__(self, work_id: str) -> None:
        super().__init__(f"no work with id {work_id!r}")


class TopicNotFoundError(NotFoundError):
    def __init__(self, topic_id: str) -> None:
        super().__init__(f"no work on record has topic {topic_id!r}")


class InstitutionNotFoundError(NotFoundError):
    def __init__(self, institution_id: str) -> None:
        super().__init__(f"no work on record names institution {institution_id!r}")


class UnauthorizedError(DomainError):
    """The caller did not prove who they are (bad credentials or token)."""

    code = ErrorCode.UNAUTHENTICATED


class TooManyRequestsError(DomainError):
    """A rate limit or quota refused the command; `retry_after` says when to try again."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, detail: str, retry_after: int, *, code: ErrorCode | None = None) -> None:
        super().__init__(detail, code=code, retry_after=retry_after)
        self.retry_after = retry_after


class UnavailableError(DomainError):
    """Something the command needs (mail, a sign-in provider) does not answer; try later."""

    code = ErrorCode.UNAVAILABLE


class WeakPasswordError(InvalidInputError):
    code = ErrorCode.WEAK_PASSWORD


class EmailTakenError(ConflictError):
    code = ErrorCode.EMAIL_TAKEN

    def __init__(self) -> None:
        super().__init__("an account with this email address already exists")


class InvalidCredentialsError(UnauthorizedError):
    code = ErrorCode.INVALID_CREDENTIALS

    def __init__(self) -> None:
        super().__init__("the email address or the password is wrong")


class InvalidConfirmationCodeError(InvalidInputError):
    code = ErrorCode.INVALID_CONFIRMATION_CODE

    def __init__(self) -> None:
        super().__init__("the confirmation code is wrong or has expired; ask for a new one")


class InvalidResetCodeError(InvalidInputError):
    code = ErrorCode.INVALID_RESET_CODE

    def __init__(self) -> None:
        super().__init__("the reset code is wrong, spent or has expired; ask for a new one")


class WrongPasswordError(ForbiddenError):
    """The current password, asked for again before it changes, is not right."""

    code = ErrorCode.WRONG_PASSWORD

    def __init__(self) -> None:
        super().__init__("the current password is wrong")


class InvalidRefreshTokenError(UnauthorizedError):
    code = ErrorCode.INVALID_REFRESH_TOKEN

    def __init__(self) -> None:
        super().__init__("the refresh token is not valid; log in again")


class AccountNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such account")


class ClaimNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such claim")


class LinkRequestNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such link request")


class AdoptionRequestNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such adoption request")


class FlagNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such flag")


class ClaimConflictError(ConflictError):
    """A claim clashes with the record's state: an owner, a dispute, another open claim."""
