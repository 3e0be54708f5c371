"""OpenAlex-shaped works for tests and benchmarks, in the published format (URLs as ids)."""

from __future__ import annotations

import random
from typing import Any


def orcid_with_checksum(base15: str) -> str:
    total = 0
    for ch in base15:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    digits = base15 + ("X" if check == 10 else str(check))
    return "-".join(digits[i : i + 4] for i in range(0, 16, 4))


def author(n: int, name: str | None = None, *, orcid: str | None = None) -> dict[str, Any]:
    return {"id": f"https://openalex.org/A{n}", "display_name": name or f"Author {n}", "orcid": orcid}


def institution(n: int) -> dict[str, Any]:
    return {
        "id": f"https://openalex.org/I{n}",
        "display_name": f"Institute {n}",
        "ror": f"https://ror.org/0inst{n:04d}",
        "country_code": "NL",
        "type": "education",
    }


def work(
    n: int,
    authors: list[dict[str, Any]],
    *,
    year: int = 2020,
    date: str | None = None,
    title: str | None = None,
    topics: list[tuple[int, str]] = ((1, "Topic 1"),),
    institutions: list[list[dict[str, Any]]] | None = None,
    abstract: str | None = "An abstract about things",
    cited_by_count: int = 3,
) -> dict[str, Any]:
    index: dict[str, list[int]] = {}
    for pos, word in enumerate((abstract or "").split(" ")):
        if abstract:
            index.setdefault(word, []).append(pos)
    return {
        "id": f"https://openalex.org/W{n}",
        "doi": f"https://doi.org/10.1234/W{n}",
        "title": title or f"Work {n}",
        "display_name": title or f"Work {n}",
        "publication_year": year,
        "publication_date": date or f"{year}-06-01",
        "type": "article",
        "cited_by_count": cited_by_count,
        "primary_location": {"source": {"id": "https://openalex.org/S1", "display_name": "Journal One", "type": "journal"}},
        "abstract_inverted_index": index or None,
        "topics": [{"id": f"https://openalex.org/T{t}", "display_name": name, "score": 0.9} for t, name in topics],
        "authorships": [
            {
                "author_position": "first" if i == 0 else "middle",
                "author": a,
                "institutions": (institutions[i] if institutions else []),
                "raw_author_name": a["display_name"],
            }
            for i, a in enumerate(authors)
        ],
        "language": "en",
        "updated_date": "2026-01-01T00:00:00",
    }


def synthetic_works(count: int, researchers: int, authors_per_work: int = 5, seed: int = 7) -> list[dict[str, Any]]:
    """`count` works with `authors_per_work` distinct authors drawn from a pool of `researchers`."""
    rng = random.Random(seed)
    works = []
    for n in range(1, count + 1):
        picked = rng.sample(range(1, researchers + 1), authors_per_work)
        works.append(
            work(
                n,
                [author(a) for a in picked],
                year=rng.randint(1990, 2026),
                topics=[(t, f"Topic {t}") for t in rng.sample(range(1, 200), 3)],
                institutions=[[institution(a % 500)] for a in picked],
            )
        )
    return works


def register_confirmed(services: Any, email: str, name: str, password: str = "a long enough password") -> Any:
    """An account whose address is confirmed with the code mailed to it (the embedded mail folder),
    as a person does: only such accounts count as followers."""
    import email as email_parser
    import re

    account_id = services.accounts.register(email, password, name)
    for path in sorted((services.settings.data_dir / "mail").glob("*.eml"), reverse=True):
        message = email_parser.message_from_bytes(path.read_bytes())
        if message["To"] == email:
            services.accounts.confirm_email(email, re.search(r"code is (\d{6})", message.get_payload()).group(1))
            return account_id
    raise AssertionError(f"no mail to {email}")
