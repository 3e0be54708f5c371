"""Every business area (an application with its own log) and every read model, in one place.

The relay, notifications, metrics, the history export, replay, shutdown and the command line all
iterate these tables (tests/unit/test_registry.py checks that each does): a new area or read
model is one entry here, not a list edited by hand in five places.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from domain.accounts.application import Accounts
from domain.catalogue.application import Catalogue
from domain.claims.application import Claims
from domain.follows.application import Follows
from domain.invitations.application import Invitations
from projections.followers.projection import FollowersProjection
from projections.followers.view import PostgresFollowersView, SQLiteFollowersView
from projections.history.projection import HistoryProjection
from projections.history.view import PostgresHistoryView, SQLiteHistoryView
from projections.invitations.projection import InvitationsProjection
from projections.invitations.view import PostgresInvitationsView, SQLiteInvitationsView
from projections.moderation.projection import ModerationProjection
from projections.moderation.view import PostgresModerationView, SQLiteModerationView
from projections.profiles.projection import ProfilesProjection
from projections.profiles.view import PostgresProfilesView, SQLiteProfilesView
from projections.runner import BatchProjectionRunner
from projections.trust.runner import TrustRunner
from projections.trust.view import PostgresTrustView, SQLiteTrustView

if TYPE_CHECKING:
    from bootstrap.services import Services

SQLITE, POSTGRES = "eventsourcing.sqlite", "eventsourcing.postgres"


@dataclass(frozen=True)
class Area:
    """A business area: its application (own table or file, own write lock), built by `build`
    from the process's adapters and its store settings."""

    attribute: str  # Services.<attribute>
    application: type[Any]
    build: Callable[[Services, dict[str, str]], Any]

    @property
    def name(self) -> str:
        return self.application.name  # the application's table and its settings' prefix


AREAS: tuple[Area, ...] = (
    Area("catalogue", Catalogue, lambda s, env: Catalogue(env=env)),
    Area("accounts", Accounts, lambda s, env: Accounts(env=env, vault=s.vault, hasher=s.hasher, mailer=s.mailer)),
    Area("claims", Claims, lambda s, env: Claims(
        env=env, vault=s.vault, mailer=s.mailer, institution_domains=s.catalogue.institution_domains,
        code_mail_quota=s.claim_code_quota, account_exists=s.accounts.exists, records=s.records)),
    Area("follows", Follows, lambda s, env: Follows(env=env, records=s.records)),
    Area("invitations", Invitations, lambda s, env: Invitations(env=env, vault=s.vault, exclusive=s.sql.exclusive)),
)


@dataclass(frozen=True)
class ReadModel:
    """A projection's read model: its view class per store, and how its runners are made.

    `follows`: the areas whose logs it is built from (one runner each, in this order). `reads`:
    for a read model built from other read models instead (trust), which ones; their positions
    are batch numbers a rebuild numbers afresh, so it is rebuilt and switched with them."""

    name: str
    views: Mapping[str, type[Any]]
    follows: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    runners: Callable[[Services, Any, Mapping[str, Any]], list[Any]] = lambda s, view, upstream: []


def _one_projection(make: Callable[[Services, Any], Any], *areas: str, batch_size: int = 1_000,  # noqa: ANN202
                    say_behind: tuple[str, ...] = ()):
    """Runners of one projection object over each area's log; those of `say_behind` tell it
    whether the log had more past each batch (BatchTracking.behind)."""
    def runners(services: Services, view: Any, _: Mapping[str, Any]) -> list[Any]:
        projection = make(services, view)
        return [BatchProjectionRunner(services.applications[area], projection, batch_size=batch_size,
                                      says_behind=area in say_behind)
                for area in areas]
    return runners


READ_MODELS: tuple[ReadModel, ...] = (
    ReadModel("profiles", {SQLITE: SQLiteProfilesView, POSTGRES: PostgresProfilesView},
              follows=("Catalogue", "Claims", "Accounts", "Invitations"),
              # Large batches: a prolific author's profile is encoded once per batch that names them.
              # Not larger: 5,000 events of skewed works (consortium papers of hundreds of authors)
              # took a worker past 300 MiB at 50,000 works, 3,000 kept it near 270 MiB (bench.run ingest).
              runners=_one_projection(lambda s, view: ProfilesProjection(view=view, open_sealed=s.vault.open),
                                      "Catalogue", "Claims", "Accounts", "Invitations", batch_size=3_000,
                                      # Behind an import, documents are written every so often
                                      # (ProfilesView.apply_batch); never behind commands, whose
                                      # senders wait to read their own writes.
                                      say_behind=("Catalogue",))),
    ReadModel("moderation", {SQLITE: SQLiteModerationView, POSTGRES: PostgresModerationView},
              follows=("Claims",),
              runners=_one_projection(lambda s, view: ModerationProjection(view), "Claims")),
    ReadModel("followers", {SQLITE: SQLiteFollowersView, POSTGRES: PostgresFollowersView},
              follows=("Follows", "Accounts", "Claims"),
              runners=_one_projection(lambda s, view: FollowersProjection(view), "Follows", "Accounts", "Claims",
                                      batch_size=5_000)),
    ReadModel("invitations", {SQLITE: SQLiteInvitationsView, POSTGRES: PostgresInvitationsView},
              follows=("Invitations",),
              runners=_one_projection(lambda s, view: InvitationsProjection(view), "Invitations")),
    ReadModel("history", {SQLITE: SQLiteHistoryView, POSTGRES: PostgresHistoryView},
              follows=("Catalogue", "Claims", "Follows", "Accounts"),
              runners=_one_projection(lambda s, view: HistoryProjection(view, open_sealed=s.vault.open), "Catalogue", "Claims", "Follows",
                                      "Accounts", batch_size=2_000)),
    # Last: built from the profile documents and follower counts, after those.
    ReadModel("trust", {SQLITE: SQLiteTrustView, POSTGRES: PostgresTrustView}, reads=("profiles", "followers"),
              runners=lambda s, view, upstream: [TrustRunner(view, upstream["profiles"], upstream["followers"])]),
)

PROJECTIONS = tuple(model.name for model in READ_MODELS)
READ_MODEL = {model.name: model for model in READ_MODELS}
VIEW_CLASSES = {model.name: dict(model.views) for model in READ_MODELS}
READS = {model.name: model.reads for model in READ_MODELS if model.reads}
