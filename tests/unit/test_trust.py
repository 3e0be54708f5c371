"""The trust formula: calibrated on the seed page, explainable, hard to buy with followers."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from domain.trust import FORMULA, TrustInputs, saturating, trust

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
