"""Business errors, named for the problem, never for an HTTP status (api/errors.py maps them)."""


class DomainError(Exception):
    """A rule of the business refused a command or a query."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    """The thing asked for does not exist (or is not visible to the asker)."""


class ConflictError(DomainError):
    """The command clashes with the current state, for example a concurrent change."""


class ForbiddenError(DomainError):
    """The actor may not do this."""


class InvalidInputError(DomainError):
    """The input is well-formed but breaks a business rule about its content."""


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


class TooManyRequestsError(DomainError):
    """A rate limit or quota refused the command; `retry_after` says when to try again."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class UnavailableError(DomainError):
    """Something the command needs (mail, a sign-in provider) does not answer; try later."""


class WeakPasswordError(InvalidInputError):
    pass


class EmailTakenError(ConflictError):
    def __init__(self) -> None:
        super().__init__("an account with this email address already exists")


class InvalidCredentialsError(UnauthorizedError):
    def __init__(self) -> None:
        super().__init__("the email address or the password is wrong")


class InvalidConfirmationCodeError(InvalidInputError):
    def __init__(self) -> None:
        super().__init__("the confirmation code is wrong or has expired; ask for a new one")


class InvalidResetCodeError(InvalidInputError):
    def __init__(self) -> None:
        super().__init__("the reset code is wrong, spent or has expired; ask for a new one")


class WrongPasswordError(ForbiddenError):
    """The current password, asked for again before it changes, is not right."""

    def __init__(self) -> None:
        super().__init__("the current password is wrong")


class InvalidRefreshTokenError(UnauthorizedError):
    def __init__(self) -> None:
        super().__init__("the refresh token is not valid; log in again")


class AccountNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such account")


class ClaimNotFoundError(NotFoundError):
    def __init__(self) -> None:
        super().__init__("no such claim")


class ClaimConflictError(ConflictError):
    """A claim clashes with the record's state: an owner, a dispute, another open claim."""
