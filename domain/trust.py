"""The trust score: a documented sum of capped components, each with diminishing returns.

Nothing is hidden: `FORMULA` is what GET /trust/formula publishes, and every snapshot lists each
component with its points, its maximum and the facts it came from. Points are whole numbers and
the score is their sum.

A count-based component gives `maximum * n / (n + half)` points, rounded half up: `half` is the
count that earns half the maximum, and each further unit earns less than the one before. All
followers together earn at most 5 points, so a thousand followers from unverified accounts move
a profile by 5 at most; followers who own a verified record count separately and for more.

Calibration: the seed page's researcher (L1, unclaimed, 12 works, 0 followers, 8 topics, 4 close
collaborators) scores 5 + 0 + 8 + 3 + 5 + 0 + 0 = 21, "Emerging".
"""

from __future__ import annotations

from dataclasses import dataclass

LEVEL_POINTS = {"L0": 0, "L1": 5, "L2": 20, "L3": 30}
CLAIMED_POINTS = 10
# name -> (maximum, half): the count that earns half the maximum.
SATURATING = {
    "works": (16, 12),
    "topics": (6, 8),
    "close_collaborators": (10, 4),
    "verified_followers": (23, 10),
    "followers": (5, 200),
}
TIERS = ((80, "Exemplary"), (55, "Trusted"), (30, "Established"), (0, "Emerging"))


@dataclass(frozen=True)
class TrustInputs:
    verification_level: str  # L0 to L3
    claim_status: str  # unclaimed, claimed, disputed
    works: int
    topics: int
    close_collaborators: int
    followers: int  # all live followers, verified or not
    verified_followers: int


@dataclass(frozen=True)
class Component:
    name: str
    points: int
    maximum: int
    facts: dict[str, int | str]


@dataclass(frozen=True)
class TrustSnapshot:
    score: int
    tier: str
    components: tuple[Component, ...]


def saturating(n: int, maximum: int, half: int) -> int:
    if n <= 0:
        return 0
    # Whole points, rounded half up, in integers (no float edge cases at the .5 steps).
    return (2 * maximum * n + (n + half)) // (2 * (n + half))


def tier_for(score: int) -> str:
    return next(name for floor, name in TIERS if score >= floor)


def trust(inputs: TrustInputs) -> TrustSnapshot:
    unverified = max(0, inputs.followers - inputs.verified_followers)
    components = (
        Component("verification", LEVEL_POINTS.get(inputs.verification_level, 0), max(LEVEL_POINTS.values()),
                  {"verification_level": inputs.verification_level}),
        Component("claimed", CLAIMED_POINTS if inputs.claim_status == "claimed" else 0, CLAIMED_POINTS,
                  {"claim_status": inputs.claim_status}),
        Component("works", saturating(inputs.works, *SATURATING["works"]), SATURATING["works"][0],
                  {"works": inputs.works}),
        Component("topics", saturating(inputs.topics, *SATURATING["topics"]), SATURATING["topics"][0],
                  {"topics": inputs.topics}),
        Component("close_collaborators", saturating(inputs.close_collaborators, *SATURATING["close_collaborators"]),
                  SATURATING["close_collaborators"][0], {"close_collaborators": inputs.close_collaborators}),
        Component("verified_followers", saturating(inputs.verified_followers, *SATURATING["verified_followers"]),
                  SATURATING["verified_followers"][0], {"verified_followers": inputs.verified_followers}),
        Component("followers", saturating(inputs.followers, *SATURATING["followers"]), SATURATING["followers"][0],
                  {"followers": inputs.followers, "unverified_followers": unverified}),
    )
    score = sum(c.points for c in components)
    return TrustSnapshot(score, tier_for(score), components)


FORMULA = {
    "score": "the sum of the components' points, 0 to 100",
    "components": [
        {"name": "verification", "maximum": 30, "rule": "L0: 0, L1: 5, L2: 20, L3: 30 points"},
        {"name": "claimed", "maximum": CLAIMED_POINTS,
         "rule": f"{CLAIMED_POINTS} points while the record has an owner and no open dispute"},
        *(
            {"name": name, "maximum": maximum, "half_at": half,
             "rule": f"round({maximum} * n / (n + {half})), half up: n = {half} earns half of {maximum}"}
            for name, (maximum, half) in SATURATING.items()
        ),
    ],
    "notes": [
        "close collaborators share at least 2 works (on works with at most 100 authors)",
        "verified followers own a record verified at L2 or L3; 'followers' counts every live follower",
        "all followers together earn at most 5 points: unverified followers cannot buy a high score",
    ],
    "tiers": [{"from": floor, "name": name} for floor, name in sorted(TIERS)],
}
