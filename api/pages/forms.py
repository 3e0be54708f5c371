"""What every posted form goes through: its CSRF token, the API's own request Structs for its fields,
and refusals turned into sentences a person reads beside the form."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request

from api.auth import PUBLIC
from api.pages.session import csrf_holds
from api.text import describe
from domain.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
)

T = TypeVar("T")

FORM = {**PUBLIC, "body_types": ("application/x-www-form-urlencoded", "multipart/form-data")}
CSRF_REFUSED = ("this form could not be accepted: it has expired or did not come from this site. "
                "Go back, reload the page and send it again")

STATUS_FOR = [(UnauthorizedError, 401), (TooManyRequestsError, 429), (UnavailableError, 503), (NotFoundError, 404),
              (ConflictError, 409), (ForbiddenError, 403), (DomainError, 422)]

# The API's refusals name the route to call next ("(POST /accounts/confirm)"): on a page that is noise.
_ROUTE_HINT = re.compile(r" \((?:GET|POST|PUT|PATCH|DELETE) /[^)]*\)")


def status_of(error: DomainError) -> int:
    return next(s for kind, s in STATUS_FOR if isinstance(error, kind))


def readable(error: DomainError | str) -> str:
    """A refusal as a sentence: capitalised, ended, without API routes."""
    detail = _ROUTE_HINT.sub("", error.detail if isinstance(error, DomainError) else error).strip()
    if isinstance(error, TooManyRequestsError):
        detail += f"; try again in {error.retry_after} seconds"
    detail = detail[:1].upper() + detail[1:]
    return detail if detail.endswith((".", "?", "!")) else detail + "."


async def posted(request: Request) -> Any:
    """The form, once its CSRF token holds (a 403 page otherwise)."""
    form = await request.form()
    if not csrf_holds(request, form):
        raise ForbiddenError(CSRF_REFUSED)
    return form


def text(form: Any, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


LABELS = {"display_name": "Display name", "new_password": "New password", "current_password": "Current password",
          "email": "Email address", "code": "Code", "text": "Statement", "links": "Links", "message": "Message",
          "work_id": "Work", "topic": "Topic", "reason": "Reason", "password": "Password"}


def as_request(kind: type[T], fields: dict[str, Any], labels: dict[str, str] | None = None) -> T:
    """The form's fields as the API's request Struct, checked by the same rules: a field that breaks
    one is refused with its label and the rule in words (as the API's 400 says it)."""
    try:
        return msgspec.convert(fields, kind)
    except msgspec.ValidationError as error:
        message = str(error)
        found = re.search(r" - at `\$((?:\.\w+|\[\d+\])*)`$", message)
        where = ""
        if found:
            message = message[:found.start()]
            names = re.findall(r"\.(\w+)", found.group(1))
            known = LABELS | (labels or {})
            where = known.get(names[-1], names[-1].replace("_", " ").capitalize()) + ": " if names else ""
        rule = describe(message)
        rule = rule.replace("Expected `str` of length >= 1", "this field is required")
        rule = re.sub(r"Expected `str` of length >= (\d+)", r"at least \1 characters", rule)
        rule = re.sub(r"Expected `str` of length <= (\d+)", r"at most \1 characters", rule)
        rule = re.sub(r"Expected `array` of length <= (\d+)", r"at most \1", rule)
        raise InvalidInputError(where + rule) from None
