"""The API's closed sets of words are the domain's: a new status or kind cannot be answered
without the OpenAPI enum listing it."""

from __future__ import annotations

from typing import get_args

from domain.accounts.application import NOTIFICATION_KINDS
from domain.claims.application import STRENGTH
from domain.claims.model import CLOSED, OPEN
from domain.errors import ErrorCode
from domain.invitations.model import PENDING, TERMINAL
from domain.trust import TIERS
from projections import vocabulary


def test_the_api_vocabulary_is_the_domains():
    assert set(get_args(vocabulary.NotificationKind)) == set(NOTIFICATION_KINDS)
    assert set(get_args(vocabulary.ClaimProgress)) == set(OPEN) | set(CLOSED)
    assert set(get_args(vocabulary.Tier)) == {name for _, name in TIERS}
    assert set(get_args(vocabulary.EvidenceKind)) == set(STRENGTH)
    assert set(get_args(vocabulary.EvidenceStrength)) == set(STRENGTH.values())
    assert PENDING == "pending" and "sent" not in TERMINAL


def test_error_codes_are_unique_snake_case_words():
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(v.replace("_", "").isalpha() and v == v.lower() for v in values)
