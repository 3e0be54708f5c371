"""POST /imports: an admin loads OpenAlex works over HTTP, all or nothing."""

from __future__ import annotations

import anyio
from litestar import Request, post
from litestar.datastructures import State

from api.auth import requires_role
from api.errors import ApiCode, ProblemError
from operations.importing import ImportSummary, MalformedImportError, import_body
from adapters.openalex import UnreadableFileError

ACCEPTED_TYPES = ("application/json", "application/x-ndjson", "application/jsonl")
_WORK = {"type": "object", "description": "an OpenAlex Work object (https://docs.openalex.org/api-entities/works)",
         "required": ["id"], "properties": {"id": {"type": "string", "description": "https://openalex.org/W..."}},
         "additionalProperties": True}
IMPORT_BODY = {
    "required": True,
    "description": "OpenAlex works: one Work, a list of them, an API page ({meta, results}); or JSON Lines "
                   "(application/x-ndjson or application/jsonl), one Work a line",
    "content": {
        "application/json": {"schema": {"oneOf": [
            _WORK, {"type": "array", "items": _WORK},
            {"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": _WORK}}},
        ]}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "application/jsonl": {"schema": {"type": "string"}},
    },
}


def make_import_handler(max_bytes: int):  # noqa: ANN201 - a Litestar route handler
    @post(
        "/imports",
        summary="Import OpenAlex works (JSON object, list, API page or JSON Lines)",
        tags=["operations"],
        request_max_body_size=max_bytes,
        status_code=200,
        guards=[requires_role("admin")],
        opt={"body_types": ACCEPTED_TYPES, "body_doc": IMPORT_BODY, "errors": (401, 403, 413, 415, 422)},
    )
    async def import_works(request: Request, state: State) -> ImportSummary:
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
                code=ApiCode.IMPORT_MALFORMED,
            ) from None

    return import_works
