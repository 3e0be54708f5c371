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
