"""The one table from errors to application/problem+json responses (RFC 9457).

Domain errors map by kind; Litestar's own HTTP errors keep their status; anything else is a
bug: a 500 whose body says nothing internal (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import msgspec
import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    OperationalError,
    RecordConflictError,
)
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from api.text import describe
from domain.text import InvalidTextError
from domain.errors import (
    ConflictError,
    DomainError,
    ErrorCode,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    UnavailableError,
)

log = logging.getLogger("peerledger.api")

PROBLEM_JSON = "application/problem+json"

STATUS_FOR_DOMAIN_ERROR: list[tuple[type[DomainError], int, str]] = [
    (UnauthorizedError, 401, "Unauthorized"),
    (TooManyRequestsError, 429, "Too many requests"),
    (UnavailableError, 503, "Service unavailable"),
    (NotFoundError, 404, "Not found"),
    (ConflictError, 409, "Conflict"),
    (ForbiddenError, 403, "Forbidden"),
    (InvalidTextError, 400, "Bad request"),
    (InvalidInputError, 422, "Unprocessable content"),
    (DomainError, 422, "Unprocessable content"),
]

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiCode(StrEnum):
    """Codes of the refusals the HTTP layer makes itself (the domain's are ErrorCode)."""

    VALIDATION_FAILED = "validation_failed"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    CHANGED_CONCURRENTLY = "changed_concurrently"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_INPUT = "invalid_input"
    IMPORT_MALFORMED = "import_malformed"
    RATE_LIMITED = "rate_limited"
    STORE_UNAVAILABLE = "store_unavailable"
    OVERLOADED = "overloaded"
    NOT_READY = "not_ready"
    INTERNAL_ERROR = "internal_error"


# Every code a response may carry: the enum of Problem.code in the OpenAPI document.
ALL_CODES: tuple[str, ...] = tuple(sorted({c.value for c in ErrorCode} | {c.value for c in ApiCode}))

CODE_FOR_STATUS = {
    400: ApiCode.VALIDATION_FAILED, 401: ApiCode.UNAUTHENTICATED, 403: ApiCode.FORBIDDEN,
    404: ApiCode.NOT_FOUND, 405: ApiCode.METHOD_NOT_ALLOWED, 409: ApiCode.CONFLICT,
    413: ApiCode.BODY_TOO_LARGE, 415: ApiCode.UNSUPPORTED_MEDIA_TYPE, 422: ApiCode.INVALID_INPUT,
    429: ApiCode.RATE_LIMITED, 503: ApiCode.STORE_UNAVAILABLE,
}

PROBLEM_TYPE = "urn:peerledger:problem:"  # + code: RFC 9457's `type`, one per code


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem: `code` says why (stable: branch on it), `title` names the kind,
    `detail` says what to do about it; the other members are the facts a client acts on."""

    type: str
    status: int
    title: str
    detail: str
    code: str
    instance: str | None = None
    field: str | None = None  # the parameter or body member at fault
    retry_after: int | None = None  # seconds, as in the Retry-After header
    until: str | None = None  # ISO 8601: when the refusal ends (a cool-down)
    claim_id: str | None = None  # the claim the refusal is about (already open, a dispute to decide)
    claim_status: str | None = None
    invitation_status: str | None = None
    errors: list[dict[str, Any]] | None = None
    records: list[dict[str, Any]] | None = None


class ProblemError(HTTPException):
    """Raised by handlers for problems that are not domain rules (auth, media types, limits)."""

    def __init__(
        self, status: int, detail: str, *, headers: dict[str, str] | None = None,
        code: ApiCode | ErrorCode | None = None, **extra: Any
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.code = code
        self.problem_fields = extra


SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}


def problem(
    status: int, detail: str, headers: dict[str, str] | None = None, *, code: str | None = None,
    instance: str | None = None, **extra: Any
) -> Response[Problem]:
    code = str(code or CODE_FOR_STATUS.get(status, ApiCode.INTERNAL_ERROR))
    retry = (headers or {}).get("Retry-After", "")
    if retry.isdigit():
        extra.setdefault("retry_after", int(retry))
    return Response(
        Problem(type=PROBLEM_TYPE + code, status=status, title=TITLES.get(status, "Error"), detail=detail,
                code=code, instance=instance, **extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequestsError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, UnauthorizedError):
        headers["WWW-Authenticate"] = "Bearer"
    facts = dict(exc.facts)
    if isinstance(exc, UnavailableError):
        headers["Retry-After"] = "30"
        facts.setdefault("retry_after", 30)
    for kind, status, _title in STATUS_FOR_DOMAIN_ERROR:
        if isinstance(exc, kind):
            return problem(status, exc.detail, headers, code=exc.code, instance=request.url.path, **facts)
    raise AssertionError("unreachable")  # pragma: no cover


def on_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    instance = request.url.path
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return problem(status, "the service could not handle this request; try again later", exc.headers,
                       code=getattr(exc, "code", None) or CODE_FOR_STATUS.get(status, ApiCode.INTERNAL_ERROR),
                       instance=instance)
    extra: dict[str, Any] = dict(getattr(exc, "problem_fields", {}))
    code = getattr(exc, "code", None)
    detail = exc.detail
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = [_public_error(e) for e in exc.extra]
        extra = {"errors": errors}
        if errors and isinstance(errors[0].get("key"), str):
            extra["field"] = errors[0]["key"]
        detail = f"{detail}: " + "; ".join(f"{e['key']}: {e['message']}" if "key" in e else e["message"]
                                          for e in errors)
    headers = exc.headers
    if isinstance(exc, NotAuthorizedException) and not isinstance(exc, ProblemError):
        # The auth middleware's own words ("No JWT token found in request header") name its parts.
        detail = "a valid access token is required: log in and send it as 'Authorization: Bearer <token>'"
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    if status == 413:
        detail = "the request body is larger than this endpoint accepts"
    return problem(status, detail, headers, code=code, instance=instance, **extra)


def on_unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "an internal error occurred; it has been logged",
                   code=ApiCode.INTERNAL_ERROR, instance=request.url.path)


def _public_error(error: Any) -> dict[str, Any]:
    if isinstance(error, dict):
        public = {k: error[k] for k in ("key", "message", "source") if k in error}
        if isinstance(public.get("message"), str):
            public["message"] = describe(public["message"])
        return public
    return {"message": describe(str(error))}


def on_concurrent_change(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.info("concurrent change: %s", type(exc).__name__)
    return problem(409, "the resource changed at the same moment; try again", code=ApiCode.CHANGED_CONCURRENTLY,
                   instance=request.url.path)


def on_store_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.warning("store unavailable: %s", type(exc).__name__)
    return problem(503, "the service cannot reach its store right now; try again shortly", {"Retry-After": "5"},
                   code=ApiCode.STORE_UNAVAILABLE, instance=request.url.path, retry_after=5)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    RecordConflictError: on_concurrent_change,
    OperationalError: on_store_unavailable,
    InterfaceError: on_store_unavailable,
    # The service's own tables (keys, rate limits, locks) go through psycopg directly: a server
    # that is down, or a pool with no free connection in time, is the same 503 (not a 500).
    psycopg.OperationalError: on_store_unavailable,
    DomainError: on_domain_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected_error,
}
