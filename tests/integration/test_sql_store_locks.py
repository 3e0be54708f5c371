"""Named locks of the PostgreSQL store (import parts, quotas, table creation) belong to a schema:
advisory locks are the whole database's, and two installations or test runs in schemas of one
database held each other's names (an import's parts were "being imported by another process")."""

from __future__ import annotations

from bootstrap.services import sql_store
from tests.conftest import fresh_pg_schema, settings_for

PART = "peerledger import part updated_date=2024-01-01/part_000.gz"


def test_a_name_held_in_one_schema_is_free_in_another_and_taken_in_the_same(tmp_path):
    with fresh_pg_schema() as first, fresh_pg_schema() as second:
        mine = sql_store(settings_for("postgres", tmp_path / "a", first))
        same = sql_store(settings_for("postgres", tmp_path / "b", first))
        other = sql_store(settings_for("postgres", tmp_path / "c", second))
        try:
            with mine.try_hold(PART) as held:
                assert held
                with same.try_hold(PART) as held_again:
                    assert not held_again  # another process of this installation waits its turn
                with other.try_hold(PART) as held_elsewhere:
                    assert held_elsewhere  # another installation is not held up
        finally:
            for store in (mine, same, other):
                store.close()
