"""OpenAlex-shaped works for tests and benchmarks, in the published format (URLs as ids)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
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


FIRST_NAMES = ["José", "María", "Zhiwu", "Jiawei", "Søren", "Zoë", "François", "Łukasz", "Ayşe", "Nguyễn",
               "Müller", "Ana", "João", "Björn", "Anaïs", "Dmitrij", "Chloé", "Ángel", "Kenji", "Priya"]
LAST_NAMES = ["García", "Lu", "Luo", "Kierkegaard", "Dvořák", "Øvergaard", "Ibáñez", "Wójcik", "Çelik",
              "Thị", "Schröder", "Silva", "Gonçalves", "Ólafsson", "Nuñez", "Lévêque", "Smith", "Chen"]


def author_names(n: int) -> list[str]:
    """The ways author n is written across works: the full name with accents, an initial, and
    without accents (OpenAlex keeps one author id for them all)."""
    first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]
    plain = (first + " " + last).encode("ascii", "ignore").decode() or f"Author {n}"
    return [f"{first} {last}", f"{first[0]}. {last}", plain]


def skewed_works(count: int, seed: int = 13, first_id: int = 1) -> list[dict[str, Any]]:
    """Works whose authorship is skewed the way OpenAlex's is: a few authors on thousands of works
    (each of 5 stars on a tenth of the works), one work in 200 a consortium paper of 100 to 600
    authors, the rest 1 to 8 authors drawn with a long tail from a pool of about 0.8 per work;
    names with accents and written three ways; about 10% of authors with an ORCID iD."""
    rng = random.Random(seed)
    pool = max(50, int(count * 0.8))
    stars = list(range(1, 6))
    orcids = {a: orcid_with_checksum(f"{a:015d}") for a in range(1, pool + 1) if a % 10 == 3}
    works = []
    for n in range(first_id, first_id + count):
        if rng.random() < 0.005:
            ids = rng.sample(range(6, pool + 1), min(pool - 6, rng.randint(100, 600)))
        else:
            # Mostly anyone; sometimes from a long tail (log-uniform) that favours the low ids.
            ids = {rng.randint(6, pool) if rng.random() < 0.7 else 5 + int((pool - 5) ** rng.random())
                   for _ in range(rng.randint(1, 8))}
            ids = list(ids)
        ids += [s for s in stars if rng.random() < 0.1 and s not in ids]
        rng.shuffle(ids)
        authors = [author(a, rng.choice(author_names(a)), orcid=(f"https://orcid.org/{orcids[a]}" if a in orcids
                                                                   and rng.random() < 0.9 else None))
                   for a in ids]
        year = rng.randint(1990, 2025)
        works.append(work(n, authors, year=year, date=f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                          title=f"Étude {n} über Qualität",
                          topics=[(t, f"Topic {t} – théorie") for t in rng.sample(range(1, 400), rng.randint(1, 3))],
                          institutions=[[institution(a % 300 + 1)] for a in ids], abstract=None,
                          cited_by_count=rng.randint(0, 500)))
    return works


def write_snapshot(root: Path, works: list[dict[str, Any]], *, parts: int, dates: int = 2) -> Path:
    """Works written in OpenAlex's snapshot layout under root/works: `dates` partitions of
    updated_date=2024-MM-01, `parts` gzipped JSON Lines parts spread over them, and a manifest."""
    folder = root / "works"
    entries = []
    size = -(-len(works) // parts)
    for p in range(parts):
        chunk = works[p * size : (p + 1) * size]
        partition = folder / f"updated_date=2024-{p % dates + 1:02d}-01"
        partition.mkdir(parents=True, exist_ok=True)
        path = partition / f"part_{p // dates:03d}.gz"
        with gzip.open(path, "wt", encoding="utf-8") as f:
            for w in chunk:
                f.write(json.dumps(w, ensure_ascii=False) + "\n")
        entries.append({"url": f"s3://openalex/data/works/{partition.name}/{path.name}",
                        "meta": {"content_length": path.stat().st_size, "record_count": len(chunk)}})
    (folder / "manifest").write_text(json.dumps({
        "entries": entries,
        "meta": {"content_length": sum(e["meta"]["content_length"] for e in entries), "record_count": len(works)}}))
    return folder


def counts_from_snapshot(folder: Path) -> dict[str, tuple[int, str | None]]:
    """Straight from the files, not through the importer: each author's number of works and ORCID iD."""
    works: dict[str, set[str]] = {}
    orcid: dict[str, str | None] = {}
    for path in sorted(folder.glob("updated_date=*/*.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                w = json.loads(line)
                for a in w["authorships"]:
                    key = "A" + a["author"]["id"].rsplit("/A", 1)[1]
                    works.setdefault(key, set()).add(w["id"])
                    if a["author"].get("orcid"):
                        orcid[key] = a["author"]["orcid"].rsplit("/", 1)[1]
                    else:
                        orcid.setdefault(key, None)
    return {key: (len(ids), orcid[key]) for key, ids in works.items()}
