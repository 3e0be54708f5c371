"""Server-rendered pages for people (the profile at /r/{id}, the rest under /p/), beside the JSON API."""

from __future__ import annotations

from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from api.auth import PUBLIC
from api.pages.accounts import AccountPagesController
from api.pages.claims import ClaimPagesController
from api.pages.explorer import ExplorerPagesController
from api.pages.invitations import InvitationPagesController
from api.pages.moderation import ModerationPagesController
from api.pages.notifications import NotificationPagesController
from api.pages.profile import ProfilePagesController
from api.pages.profile_text import ProfileTextPagesController
from api.pages.rendering import PAGE_EXCEPTION_HANDLERS, STATIC, TEMPLATE_CONFIG
from api.pages.settings import SettingsPagesController
from api.pages.signin import SignInPagesController

PAGE_ROUTES = [
    ProfileTextPagesController,
    ProfilePagesController,
    SignInPagesController,
    AccountPagesController,
    ClaimPagesController,
    InvitationPagesController,
    ModerationPagesController,
    NotificationPagesController,
    SettingsPagesController,
    ExplorerPagesController,
    create_static_files_router("/p/static", directories=[STATIC], name="page-static", opt=PUBLIC,
                               cache_control=CacheControlHeader(max_age=3600, public=True),
                               exception_handlers=PAGE_EXCEPTION_HANDLERS),
]

__all__ = ["PAGE_ROUTES", "TEMPLATE_CONFIG"]
