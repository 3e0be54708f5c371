"""How every page is answered: autoescaped Jinja2 templates, a strict CSP, the CSRF seed, and
errors as HTML pages (the API's problem+json table stays the API's)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import anyio
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Controller, Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.datastructures import ResponseHeader, State
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from api.auth import PUBLIC, Principal
from api.claims import is_moderator
from api.errors import SECURITY_HEADERS, TITLES
from api.pages.session import csrf_seed, csrf_token
from api.pages.forms import readable, status_of
from domain.errors import DomainError, TooManyRequestsError

log = logging.getLogger("peerledger.pages")

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

# No inline script or style, nothing from elsewhere: the app's stylesheet and its pinned htmx, which
# makes the same requests the forms do (every page works without it).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {**SECURITY_HEADERS, "Content-Security-Policy": CSP, "Cache-Control": "no-store"}
RESPONSE_HEADERS = [ResponseHeader(name=k, value=v) for k, v in PAGE_HEADERS.items()]


def datetime_attr(moment: str) -> str:
    """A stored moment as HTML's `datetime` attribute takes it: at most milliseconds."""
    return _SUBMILLISECONDS.sub(r"\1", moment)


_SUBMILLISECONDS = re.compile(r"(\.\d{3})\d+")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["plural"] = lambda n, word: f"{n} {word}" + ("" if n == 1 else "s")
    env.filters["datetime_attr"] = datetime_attr
    return env


TEMPLATE_CONFIG = TemplateConfig(instance=JinjaTemplateEngine.from_environment(_environment()))


# What a redirect after a form says on the page it leads to (`?done=<key>`): fixed sentences only, so
# that nobody can make the site say something by sending a link.
NOTICES = {
    "registered": "Your account is created. We mailed a six-digit code to your address: enter it below.",
    "code-sent": "If the address has an unconfirmed account, a new code is on its way to it.",
    "confirmed": "Your email address is confirmed. Sign in to continue.",
    "reset-sent": "If the address has a confirmed account, a reset code is on its way to it: enter it below "
                  "with your new password.",
    "password-reset": "Your password is changed and every session of the account has ended. Sign in with the "
                      "new password.",
    "name-changed": "Your display name is changed.",
    "password-changed": "Your password is changed. Your other sessions have ended; this one stays.",
    "approved": "The claim is approved: its claimant owns the record now.",
    "rejected": "The claim is rejected. Its claimant may appeal once; another moderator decides.",
    "asked": "Your question is sent to the claimant. The claim waits for their answer.",
    "read": "Marked as read.",
    "policy-changed": "Your invitation policy is changed.",
    "blocked": "Blocked: this person cannot invite you.",
    "unblocked": "Unblocked: this person may invite you again, as your policy allows.",
    "reported": "Thank you: the invitation is reported to the moderators.",
    "mail-changed": "Your mail settings are changed.",
    "erased": "Your account is erased: your personal data is gone and every session has ended.",
}


def header_facts(state: State, principal: Principal | None) -> dict[str, Any]:
    """What the site header shows the reader: their name, the unread count GET /me/notifications
    gives, and the moderation link for the roles the moderation routes need."""
    if principal is None:
        return {"viewer": None, "unread_notifications": 0, "moderator": False}
    name = state.services.accounts.display_name(principal.account_id)
    return {"viewer": name or "your account",
            "unread_notifications": state.services.notifications.unread(str(principal.account_id)),
            "moderator": is_moderator(principal)}


async def page(request: Request, template: str, principal: Principal | None, *, status: int = 200,
               cookies: list[Any] = (), **context: Any) -> Template:
    """A page, with what every page shows: who is signed in, a CSRF token for its forms."""
    seed, seed_cookie = csrf_seed(request)
    context.setdefault("notice", NOTICES.get(request.query_params.get("done", "")))
    return Template(
        template_name=template,
        context={"signed_in": principal is not None,
                 **await anyio.to_thread.run_sync(header_facts, request.app.state, principal),
                 "csrf_token": csrf_token(request.app.state, seed), "here": request.url.path, **context},
        status_code=status,
        cookies=[*cookies, *([seed_cookie] if seed_cookie else [])],
        headers=PAGE_HEADERS,
        media_type="text/html",
    )


def see_other(path: str, cookies: list[Any] = ()) -> Redirect:
    """POST-redirect-GET: 303, so a reload does not post again."""
    return Redirect(path, status_code=303, cookies=list(cookies), headers=PAGE_HEADERS)


def safe_next(value: Any, default: str = "/") -> str:
    """Only paths on this site ("/r/A1"), never "//elsewhere" or "https://elsewhere"."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith("//") and "\\" not in value \
            and len(value) <= 300 and value.isprintable():
        return value
    return default


# -- errors as pages ---------------------------------------------------------------------------

def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    engine = request.app.template_engine
    html = engine.get_template("error.html").render(
        status=status, title=TITLES.get(status, "Error"), detail=readable(detail), signed_in=False, viewer=None,
        unread_notifications=0, moderator=False, csrf_token="", here=request.url.path, notice=None)
    return Response(html, status_code=status, media_type="text/html", headers={**PAGE_HEADERS, **(headers or {})})


def on_page_domain_error(request: Request, exc: DomainError) -> Response:
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequestsError) else None
    return error_page(request, status_of(exc), readable(exc), headers)


def on_page_http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code >= 500:
        log.error("HTTP %s on a page: %s", exc.status_code, exc.detail)
        return error_page(request, exc.status_code, "the service could not show this page; try again later")
    detail = exc.detail
    if isinstance(exc, NotAuthorizedException):
        detail = "sign in to see this page"
    return error_page(request, exc.status_code, detail, exc.headers)


PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {DomainError: on_page_domain_error, HTTPException: on_page_http_error}


class PageController(Controller):
    """What every page controller is: public (a page finds its reader itself), out of the API's
    schema, with the pages' headers and error pages."""

    opt = PUBLIC
    include_in_schema = False
    response_headers = RESPONSE_HEADERS
    exception_handlers = PAGE_EXCEPTION_HANDLERS
