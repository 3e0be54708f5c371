"""POST /imports: an operator loads OpenAlex works over HTTP, all or nothing."""

from __future__ import annotations

import hmac

import anyio
from litestar import Request, Response, post
from litestar.datastructures import State

from api.errors import ProblemError
from runtime.importing import ImportSummary, MalformedImportError, import_body
from runtime.openalex import UnreadableFileError

ACCEPTED_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")


def check_operator(request: Request, state: State) -> None:
    """Until accounts exist, imports over HTTP need the operator token from the settings."""
    token = state.services.settings.operator_token
    if not token:
        raise ProblemError(403, "imports over HTTP are disabled on this server (PEERLEDGER_OPERATOR_TOKEN is unset)")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise ProblemError(401, "a valid operator bearer token is required", headers={"WWW-Authenticate": "Bearer"})


def make_import_handler(max_bytes: int):  # noqa: ANN201 - a Litestar route handler
    @post(
        "/imports",
        summary="Import OpenAlex works (JSON object, list, API page or JSON Lines)",
        tags=["operations"],
        request_max_body_size=max_bytes,
        status_code=200,
    )
    async def import_works(request: Request, state: State) -> ImportSummary:
        check_operator(request, state)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in ACCEPTED_TYPES:
            raise ProblemError(415, f"send the works as one of: {', '.join(ACCEPTED_TYPES)}")
        body = await request.body()
        try:
            return await anyio.to_thread.run_sync(import_body, state.services.catalogue, body)
        except UnreadableFileError as e:
            raise ProblemError(400, str(e)) from None
        except MalformedImportError as e:
            raise ProblemError(
                422,
                f"{e.summary.malformed} of {e.summary.records_read} records are malformed; nothing was imported",
                records=[{"where": p.where, "reason": p.reason} for p in e.summary.problems],
            ) from None

    return import_works
