"""A from-scratch build takes the follows log set-wise (projections/bulk.py): the followers and
history views it gives equal those built event by event from the same log, over several days,
with follows ended and started again, an unconfirmed follower, an owner's follow and an erasure."""

from __future__ import annotations

import random
import uuid

import pytest

from domain.catalogue.model import researcher_id_for
from domain.follows.model import Follow
from operations.replay import drop
from projections.runner import bulk_catch_up
from tests.integration.test_replay_verify import workload

pytestmark = pytest.mark.postgres


def more_follows(services, rng: random.Random) -> None:
    """Follows saved as they are stored (confirmed or not), some ended and started again, then
    the log's moments spread over five days (one day per fifth of the log, order kept)."""
    researchers = [researcher_id_for(f"A{n}") for n in range(1, 21)]
    follows, pairs = [], set()
    for n in range(300):
        pair = (uuid.UUID(int=n % 40 + 1), rng.choice(researchers))
        if pair in pairs:
            continue  # one aggregate per pair
        pairs.add(pair)
        follow = Follow(account_id=pair[0], researcher_id=pair[1], confirmed=n % 7 != 0)
        for _ in range(rng.randrange(4)):
            (follow.unfollow() if follow.active else follow.follow(confirmed=rng.random() < 0.9))
        follows.append(follow)
    services.follows.save(*follows)
    table = f'"{services.settings.store_env["POSTGRES_SCHEMA"]}".follows_events'
    with services.follows.recorder.datastore.transaction(commit=True) as c:
        c.execute(f"SELECT MAX(notification_id) AS n FROM {table}")
        head = c.fetchone()["n"]
        c.execute(f"UPDATE {table} SET state = convert_to(jsonb_set(convert_from(state, 'UTF8')::jsonb,"
                  " '{timestamp,_data_}', to_jsonb(to_char(((convert_from(state, 'UTF8')::jsonb -> 'timestamp'"
                  " ->> '_data_')::timestamptz + (notification_id * 5 / (%s + 1)) * interval '1 day')"
                  " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00'))::text, 'UTF8')", (head,))


def build(services, name: str, *, bulk: bool) -> tuple[object, str, int]:
    prefix = f"bulk{uuid.uuid4().hex[:6]}_{name}"
    view = services.open_view(name, table_prefix=prefix)
    taken = 0
    for runner in services.runners_for(name, view):
        if bulk:
            taken += bulk_catch_up(runner)
        runner.catch_up()
    return view, prefix, taken


@pytest.mark.parametrize("name", ["followers", "history"])
def test_the_set_wise_pass_equals_the_event_by_event_one(pg_settings, name):
    from bootstrap.services import Services

    services = Services(pg_settings)
    try:
        workload(services)
        more_follows(services, random.Random(5))
        one_by_one, prefix_a, _ = build(services, name, bulk=False)
        set_wise, prefix_b, taken = build(services, name, bulk=True)
        try:
            assert taken == services.follows.recorder.max_notification_id()  # the whole follows log
            for table in one_by_one.TABLES:
                if "*" in one_by_one.VERIFY_SKIP.get(table, ()):
                    continue
                assert set_wise.dump(table) == one_by_one.dump(table), table
            if name == "history":
                days = {row["ref"] for row in one_by_one._query(
                    "SELECT ref FROM {entries} WHERE app = 'follows.daily'", ())}
                assert len(days) >= 4  # the log spans several days
        finally:
            drop(services, one_by_one, prefix_a)
            drop(services, set_wise, prefix_b)
    finally:
        services.close()


def test_a_resumed_build_reads_the_follows_log_event_by_event(pg_settings):
    from bootstrap.services import Services

    services = Services(pg_settings)
    try:
        workload(services)
        view = services.open_view("followers", table_prefix=(prefix := f"bulk{uuid.uuid4().hex[:6]}_followers"))
        try:
            [follows_runner] = [r for r in services.runners_for("followers", view) if r.app is services.follows]
            follows_runner.batch_size = 5
            follows_runner.run_batch()  # a build interrupted after its first batch
            assert bulk_catch_up(follows_runner) == 0
        finally:
            drop(services, view, prefix)
    finally:
        services.close()
