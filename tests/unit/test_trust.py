"""The trust formula: calibrated on the seed page, explainable, hard to buy with followers."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.trust import FORMULA, TrustInputs, saturating, tier_for, trust

SEED = TrustInputs("L1", "unclaimed", works=12, topics=8, close_collaborators=4, followers=0, verified_followers=0)


def test_the_seed_researcher_scores_21_emerging():
    s = trust(SEED)
    assert (s.score, s.tier) == (21, "Emerging")
    assert {c.name: c.points for c in s.components} == {
        "verification": 5, "claimed": 0, "works": 8, "topics": 3, "close_collaborators": 5,
        "verified_followers": 0, "followers": 0}


def test_claiming_verifying_and_verified_followers_raise_the_score():
    claimed = trust(replace(SEED, claim_status="claimed", verification_level="L2"))
    l3 = trust(replace(SEED, claim_status="claimed", verification_level="L3"))
    followed = trust(replace(SEED, claim_status="claimed", verification_level="L3", followers=10, verified_followers=10))
    assert 21 < claimed.score < l3.score < followed.score
    assert trust(replace(SEED, claim_status="disputed", verification_level="L2")).score < claimed.score


def test_each_further_follower_or_collaborator_adds_no_more_than_the_one_before():
    for name, maximum in (("verified_followers", 23), ("close_collaborators", 10), ("works", 16)):
        gains = [saturating(n + 1, maximum, dict(verified_followers=10, close_collaborators=4, works=12)[name])
                 - saturating(n, maximum, dict(verified_followers=10, close_collaborators=4, works=12)[name])
                 for n in range(0, 200)]
        assert sum(gains) <= maximum
        # Rounded to whole points, a gain can only be followed by gains at most one point larger.
        assert all(later <= earlier + 1 for earlier, later in zip(gains, gains[1:], strict=False))
        assert gains[-1] == 0


def test_a_thousand_unverified_followers_do_not_buy_a_high_score():
    bought = trust(replace(SEED, followers=1_000))
    assert bought.score - trust(SEED).score <= 5
    assert bought.tier == "Emerging"
    earned = trust(replace(SEED, followers=20, verified_followers=20))
    assert earned.score > bought.score


def test_the_published_formula_names_every_component_and_its_maximum():
    published = {c["name"]: c["maximum"] for c in FORMULA["components"]}
    assert published == {c.name: c.maximum for c in trust(SEED).components}
    assert sum(published.values()) == 100


counts = st.integers(min_value=0, max_value=1_000_000)


@given(level=st.sampled_from(["L0", "L1", "L2", "L3"]), status=st.sampled_from(["unclaimed", "claimed", "disputed"]),
       works=counts, topics=counts, collaborators=counts, followers=counts, verified=counts)
def test_components_add_up_to_a_score_between_0_and_100(level, status, works, topics, collaborators, followers,
                                                         verified):
    s = trust(TrustInputs(level, status, works, topics, collaborators, max(followers, verified), verified))
    assert s.score == sum(c.points for c in s.components)
    assert 0 <= s.score <= 100
    assert all(0 <= c.points <= c.maximum for c in s.components)


@given(st.sampled_from(["works", "topics", "close_collaborators", "verified_followers"]), counts, st.integers(1, 1000))
def test_more_of_any_count_never_lowers_the_score(name, n, more):
    base = replace(SEED, **{name: n}, followers=max(SEED.followers, n if name == "verified_followers" else 0))
    raised = replace(base, **{name: n + more},
                     followers=base.followers + (more if name == "verified_followers" else 0))
    assert trust(raised).score >= trust(base).score


@pytest.mark.parametrize(("score", "tier"), [
    (0, "Emerging"), (29, "Emerging"), (30, "Established"), (54, "Established"),
    (55, "Trusted"), (79, "Trusted"), (80, "Exemplary"), (100, "Exemplary"),
])
def test_each_tier_starts_at_its_floor(score, tier):
    assert tier_for(score) == tier


@pytest.mark.parametrize(("n", "maximum", "half", "points"), [
    (0, 16, 12, 0), (-3, 16, 12, 0),  # nothing, or a count gone wrong, earns nothing
    (12, 16, 12, 8), (8, 6, 8, 3), (4, 10, 4, 5),  # the half count earns half the maximum
    (200, 5, 200, 3),  # 2.5 rounds half up
    (10, 23, 10, 12),  # 11.5 rounds half up
    (199, 5, 200, 2),  # 2.49...: down
    (1, 5, 200, 0),  # 0.02...: a single unverified follower earns nothing
])
def test_saturating_points_are_whole_and_rounded_half_up(n, maximum, half, points):
    assert saturating(n, maximum, half) == points


def test_verification_and_claimed_points_follow_the_level_and_status_only():
    by_level = {level: next(c.points for c in trust(replace(SEED, verification_level=level)).components
                            if c.name == "verification") for level in ("L0", "L1", "L2", "L3", "L9")}
    assert by_level == {"L0": 0, "L1": 5, "L2": 20, "L3": 30, "L9": 0}  # an unknown level earns nothing
    claimed = {status: next(c.points for c in trust(replace(SEED, claim_status=status)).components
                            if c.name == "claimed") for status in ("unclaimed", "claimed", "disputed")}
    assert claimed == {"unclaimed": 0, "claimed": 10, "disputed": 0}


def test_the_followers_component_says_how_many_followers_are_unverified():
    facts = {c.name: c.facts for c in trust(replace(SEED, followers=7, verified_followers=3)).components}
    assert facts["followers"] == {"followers": 7, "unverified_followers": 4}
    assert facts["verified_followers"] == {"verified_followers": 3}
    # Counts read at different moments may disagree for a while: never a negative count.
    assert {c.name: c.facts for c in trust(replace(SEED, followers=2, verified_followers=3)).components}[
        "followers"]["unverified_followers"] == 0
