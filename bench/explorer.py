"""The explorer routes on a skewed data set, beside the same run's profile read.

    python -m bench.run explorer [--works 5000] [--seconds 3] [--connections 8] [--backend postgres]

Works have 1 to 6 authors (1 in 100 a consortium of 150), drawn so that a few authors write
hundreds of works; topics and institutions are skewed the same way (the first topic is on about
a third of the works; most authors sit at a few institutions); names carry accents. Each route
is read with ids drawn as clicks would land: works uniformly, topics and institutions (and the
baseline's researchers, and theirs for the existing paged route /researchers/{id}/works, shown
for comparison) in proportion to how often the works name them, so the heaviest ones are
read most. wrk, one API process, one run per route after the baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.run import PgSchema, calibration_ms, env_for, serving, wrk
from bootstrap.services import Services
from bootstrap.settings import Settings
from operations.importing import import_file
from tests.factories import author, institution, work

FIRST = ["Zoë", "Élodie", "José", "Łukasz", "Søren", "Çağla", "Jiří", "Ana", "Zhiwu", "Mårten", "Nuño", "Ines"]
LAST = ["Ångström", "Martin", "García", "Żak", "Ørsted", "Öztürk", "Dvořák", "López", "Lu", "Müller", "Ñáñez"]


def skewed(rng: random.Random, size: int, power: float) -> int:
    """1..size, low numbers far more often (power 1: uniform)."""
    return 1 + int(size * rng.random() ** power)


def skewed_works(works: int, researchers: int, topics: int, institutions: int, seed: int = 15) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    home = {a: skewed(random.Random(a), institutions, 3) for a in range(1, researchers + 1)}
    name = {a: f"{FIRST[a % len(FIRST)]} {LAST[a * 7 % len(LAST)]}" for a in range(1, researchers + 1)}
    found = []
    for n in range(1, works + 1):
        count = 150 if n % 100 == 0 else rng.randint(1, 6)
        authors = sorted({skewed(rng, researchers, 3) for _ in range(count)})
        picked = sorted({skewed(rng, topics, 4) for _ in range(rng.randint(1, 3))})
        found.append(work(n, [author(a, name[a]) for a in authors], year=rng.randint(1990, 2026),
                          topics=[(t, f"Topic {t}") for t in picked],
                          institutions=[[institution(home[a])] for a in authors]))
    return found


def bench_explorer(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        sys.exit("bench explorer needs wrk: apt-get install wrk")
    rng = random.Random(5)
    works = skewed_works(args.works, args.researchers, args.topics, args.institutions)
    researcher_hits: list[str] = []
    topic_hits: list[str] = []
    institution_hits: list[str] = []
    for w in works:
        topic_hits += [t["id"].rsplit("/", 1)[1] for t in w["topics"]]
        for a in w["authorships"]:
            researcher_hits.append(a["author"]["id"].rsplit("/", 1)[1])
            institution_hits += [i["id"].rsplit("/", 1)[1] for i in a["institutions"]]
    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        env = env_for(args.backend, Path(tmp), schema)
        if args.backend == "postgres":
            env |= {"PEERLEDGER_PROJECTIONS": "external"}
        path = Path(tmp) / "works.jsonl"
        path.write_text("\n".join(json.dumps(w) for w in works) + "\n")
        services = Services(Settings.from_env(env))
        started = time.perf_counter()
        import_file(services.catalogue, path)
        services.profiles_runner.catch_up()
        loaded = time.perf_counter() - started
        services.close()
        topic_researchers: dict[str, set[str]] = {}
        institution_researchers: dict[str, set[str]] = {}
        for w in works:
            for a in w["authorships"]:
                rid = a["author"]["id"]
                for t in w["topics"]:
                    topic_researchers.setdefault(t["id"], set()).add(rid)
                for i in a["institutions"]:
                    institution_researchers.setdefault(i["id"], set()).add(rid)
        top_author = Counter(researcher_hits).most_common(1)[0]
        print(f"data ({args.backend}): {args.works:,} works, {len(set(researcher_hits)):,} researchers, "
              f"{len(set(topic_hits))} topics, {len(set(institution_hits))} institutions; imported and projected in "
              f"{loaded:.1f} s")
        print(f"skew: busiest author {top_author[0]} on {top_author[1]:,} works; busiest topic on "
              f"{Counter(topic_hits).most_common(1)[0][1]:,} works with "
              f"{max(len(s) for s in topic_researchers.values()):,} researchers; busiest institution with "
              f"{max(len(s) for s in institution_researchers.values()):,} researchers")
        routes = {
            "/researchers/{id} (baseline)": [f"/researchers/{rng.choice(researcher_hits)}" for _ in range(5000)],
            "/researchers/{id}/works (existing)": [f"/researchers/{rng.choice(researcher_hits)}/works"
                                                   for _ in range(5000)],
            "/works/{id}": [f"/works/W{rng.randint(1, args.works)}" for _ in range(5000)],
            "/topics/{id}": [f"/topics/{rng.choice(topic_hits)}" for _ in range(5000)],
            "/topics/{id}/researchers": [f"/topics/{rng.choice(topic_hits)}/researchers" for _ in range(5000)],
            "/topics/{id}/works": [f"/topics/{rng.choice(topic_hits)}/works" for _ in range(5000)],
            "/institutions/{id}": [f"/institutions/{rng.choice(institution_hits)}" for _ in range(5000)],
            "/institutions/{id}/researchers": [f"/institutions/{rng.choice(institution_hits)}/researchers"
                                               for _ in range(5000)],
            "/institutions/{id}/works": [f"/institutions/{rng.choice(institution_hits)}/works" for _ in range(5000)],
        }
        script = Path(__file__).resolve().parent / "profile_paths.lua"
        print(f"reads, wrk -t1 -c{args.connections} {args.seconds}s each, one API process, ids weighted as clicks land "
              f"(lists: first page of 20):")
        print(f"{'route':<36} {'req/s':>9} {'p50':>9} {'p99':>9} {'vs profile':>10} {'non-2xx':>8}")
        with serving(env) as base:
            baseline = None
            for label, paths in routes.items():
                paths_file = Path(tmp) / "paths.txt"
                paths_file.write_text("\n".join(paths) + "\n")
                r = wrk(base + "/", args.seconds, args.connections, script, paths_file)
                baseline = baseline or r
                print(f"{label:<36} {r['rps']:>9,.0f} {r['p50']:>9} {r['p99']:>9} "
                      f"{r['rps'] / baseline['rps']:>10.0%} {r['non2xx']:>8}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explorer")
    p.add_argument("--works", type=int, default=5_000)
    p.add_argument("--researchers", type=int, default=4_000)
    p.add_argument("--topics", type=int, default=300)
    p.add_argument("--institutions", type=int, default=200)
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
