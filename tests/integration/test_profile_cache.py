"""The API's profile replica: warmed at start, refreshed by view position, never older than a refresh."""

from __future__ import annotations

import json

import msgspec

from api.profile_cache import ProfileCache
from domain.catalogue.model import researcher_id_for
from operations.importing import import_file
from tests.factories import author, work


def load(services, tmp_path, *works, name="w.json"):
    path = tmp_path / name
    path.write_text(json.dumps(list(works)))
    import_file(services.catalogue, path)
    services.profiles_runner.catch_up()


def cache_for(services, **kw) -> ProfileCache:
    return ProfileCache(services.profiles_view, refresh_seconds=60, **kw)


def works_count(doc: bytes | None) -> int:
    assert doc is not None
    return msgspec.json.decode(doc)["works_count"]


def test_warming_loads_every_profile_up_to_capacity(services, tmp_path):
    load(services, tmp_path, work(1, [author(1), author(2), author(3)]))
    cache = cache_for(services)
    cache.warm()
    assert len(cache) == 3
    small = cache_for(services, max_entries=2)
    small.warm()
    assert len(small) == 2


def test_a_refresh_replaces_profiles_the_projection_rewrote(services, tmp_path):
    load(services, tmp_path, work(1, [author(1)]))
    cache = cache_for(services)
    cache.warm()
    rid = str(researcher_id_for("A1"))
    assert works_count(cache.get(rid)) == 1
    load(services, tmp_path, work(2, [author(1)]), name="w2.json")
    assert works_count(cache.get(rid)) == 1  # not refreshed yet
    cache.refresh()
    assert works_count(cache.get(rid)) == 2


def test_a_profile_loaded_on_a_miss_is_cached(services, tmp_path):
    load(services, tmp_path, work(1, [author(1)]))
    cache = cache_for(services)
    rid = str(researcher_id_for("A1"))
    assert works_count(cache.load(rid)) == 1
    assert cache.get(rid) is not None
    cache_disabled = cache_for(services, max_entries=0)
    assert works_count(cache_disabled.load(rid)) == 1
    assert cache_disabled.get(rid) is None
    assert cache.load(str(researcher_id_for("A404"))) is None


class ReadBeforeTheLastRefresh:
    """The view as a slow reader saw it: its profile read happened before a newer write."""

    def __init__(self, view, stale_row):
        self.view, self.stale_row = view, stale_row

    def profile(self, researcher_id):
        return self.stale_row

    def __getattr__(self, name):
        return getattr(self.view, name)


def test_a_profile_read_before_the_last_refresh_never_replaces_a_newer_one(services, tmp_path):
    load(services, tmp_path, work(1, [author(1)]))
    rid = str(researcher_id_for("A1"))
    stale = services.profiles_view.profile(rid)
    load(services, tmp_path, work(2, [author(1)]), name="w2.json")
    cache = ProfileCache(ReadBeforeTheLastRefresh(services.profiles_view, stale), refresh_seconds=60, max_entries=10)
    cache.refresh()
    assert works_count(cache.get(rid)) == 2
    assert works_count(cache.load(rid)) == 1  # served as read...
    assert works_count(cache.get(rid)) == 2  # ...but the cache keeps the newer version
