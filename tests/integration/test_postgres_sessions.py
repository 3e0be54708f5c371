"""Every PostgreSQL connection the applications and views open runs with JIT off
(adapters/postgres_sessions.py): the views' batch statements were compiled for longer than
they ran."""

from __future__ import annotations

from bootstrap.services import Services
from bootstrap.settings import Settings


def test_applications_and_views_connect_with_jit_off(pg_settings: Settings) -> None:
    services = Services(pg_settings)
    try:
        datastores = {"catalogue": services.catalogue.recorder.datastore,
                      "follows": services.follows.recorder.datastore,
                      "profiles view": services.profiles_view.datastore,
                      "followers view": services.followers_view.datastore}
        settings = {}
        for name, datastore in datastores.items():
            with datastore.transaction(commit=False) as c:
                c.execute("SHOW jit")
                settings[name] = c.fetchone()["jit"]
        assert settings == dict.fromkeys(datastores, "off")
    finally:
        services.close()
