"""Fixed-window rate limits (adapters/ratelimit.py) on an in-memory SQLite store and a clock moved by
hand: what counts, where a window starts and ends, and the Retry-After a refusal carries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.ratelimit import RateLimiter
from adapters.sqlstore import SQLiteStore
from domain.errors import TooManyRequestsError

WINDOW = 60
START = 1_800_000_000.0  # a window's first second (a multiple of 60)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def limiter(clock: Clock) -> Iterator[RateLimiter]:
    yield RateLimiter(SQLiteStore(":memory:"), b"secret", clock=clock)


def test_the_limit_is_how_many_hits_a_window_allows(limiter, clock):
    for _ in range(3):
        limiter.hit("login:ada", 3, WINDOW, "login attempts")
    clock.now = START + 15
    with pytest.raises(TooManyRequestsError, match="too many login attempts; try again in 45 seconds") as refused:
        limiter.hit("login:ada", 3, WINDOW, "login attempts")
    assert refused.value.retry_after == 45


def test_a_new_window_starts_counting_again_at_its_first_second(limiter, clock):
    for _ in range(3):
        limiter.hit("login:ada", 3, WINDOW, "login attempts")
    clock.now = START + WINDOW - 0.5  # the last half second of the window: still refused
    with pytest.raises(TooManyRequestsError):
        limiter.hit("login:ada", 3, WINDOW, "login attempts")
    clock.now = START + WINDOW
    for _ in range(3):
        limiter.hit("login:ada", 3, WINDOW, "login attempts")


@pytest.mark.parametrize(("elapsed", "retry_after"), [(0, 60), (10.5, 50), (59.5, 1), (59.9999, 1),
                                                       (10.9995, 50)])
def test_retry_after_is_the_rest_of_the_window_rounded_up_and_at_least_a_second(limiter, clock, elapsed,
                                                                                   retry_after):
    clock.now = START + elapsed
    limiter.hit("k", 1, WINDOW, "attempts")
    with pytest.raises(TooManyRequestsError) as refused:
        limiter.hit("k", 1, WINDOW, "attempts")
    assert refused.value.retry_after == retry_after


def test_check_refuses_at_the_limit_without_counting(limiter, clock):
    for _ in range(10):
        limiter.check("failed:ada", 2, WINDOW, "failed login attempts")  # counts nothing
    limiter.hit("failed:ada", 2, WINDOW, "failed login attempts")
    limiter.check("failed:ada", 2, WINDOW, "failed login attempts")
    limiter.hit("failed:ada", 2, WINDOW, "failed login attempts")
    clock.now = START + 20.25
    with pytest.raises(TooManyRequestsError, match="failed login attempts; try again in 40 seconds") as refused:
        limiter.check("failed:ada", 2, WINDOW, "failed login attempts")
    assert refused.value.retry_after == 40


def test_each_key_counts_on_its_own(limiter):
    limiter.hit("login:ada", 1, WINDOW, "login attempts")
    limiter.hit("login:bob", 1, WINDOW, "login attempts")
    with pytest.raises(TooManyRequestsError):
        limiter.hit("login:ada", 1, WINDOW, "login attempts")
    limiter.check("login:cy", 1, WINDOW, "login attempts")


def test_only_keyed_hashes_of_the_keys_are_stored(limiter):
    limiter.hit("login:ada@example.org", 5, WINDOW, "login attempts")
    [(key, window_start, hits)] = limiter.store.execute("SELECT key, window_start, hits FROM peerledger_rate_limits")
    assert "ada" not in key and len(key) == 40
    assert (window_start, hits) == (int(START), 1)
