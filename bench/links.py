"""Linked persons (issue 18): a person's profile read beside a single record's, and a link's time
until the profile shows it, each beside a baseline from the same run.

    python -m bench.run links [--members 4] [--member-works 2000] [--big 10000] [--seconds 5] [--rounds 3]
                              [--backends sqlite postgres]

Per backend, one `peerledger serve` process (projections in process, the embedded default's
and production's single-process shape) over: 2,000 single records (each on a few works of 5
authors), a prolific single record with as many works as the person, a person's own record
(10 works) with `--members` records of `--member-works` works each linked into it, all five
with co-authors among the single records, and two owners' pairs of records for the timing:

(b) link: the owner POSTs a link with ORCID proof (conclusive: linked at once), the answer comes
    once the profiles projection has caught up; then GETs the profile until it shows the union
    (works_count). The target: a record with `--big` works into a record with one; the baseline:
    a record with one work into a record with one. Then the unlink, the same way.
(a) reads (PostgreSQL, as `bench.run reads`): wrk on GET /researchers/{id}, alternating rounds
    (the median round by the person's ratio to single records): single records in random order;
    the prolific single record; the person under each of its records' ids. Cache on and off.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from uuid import UUID

import httpx

from bench.run import PgSchema, calibration_ms, env_for, serving, wrk
from bootstrap.services import Services
from bootstrap.settings import Settings
from domain.catalogue.model import researcher_id_for
from domain.claims.application import EvidenceIn, RecordFacts
from operations.importing import import_file
from tests.factories import author, institution, orcid_with_checksum, register_confirmed, work

PASSWORD = "a long enough password"
SINGLES = 2_000
FIRST_SINGLE = 100_000
PERSON, PROLIFIC = 1, 40  # the person's own record is A1, its members A2 ...
SMALL_OWNER, SMALL = 20, 21  # baseline link: one work into one work
BIG_OWNER, BIG = 30, 31  # target link: --big works into one work
OWNERS = {PERSON: "ada", SMALL_OWNER: "quinn", BIG_OWNER: "rosa"}


def orcid(n: int) -> str:
    return orcid_with_checksum(f"{n:015d}")


def works_for(args: argparse.Namespace) -> list[dict]:
    rng = random.Random(7)
    singles = range(FIRST_SINGLE, FIRST_SINGLE + SINGLES)
    found: list[dict] = []

    def add(first: dict, count: int) -> None:
        for _ in range(count):
            n = len(found) + 1
            others = [author(a, f"Single {a}") for a in rng.sample(singles, rng.randint(1, 4))]
            year = rng.randint(1990, 2026)
            found.append(work(n, [first, *others], year=year, date=f"{year}-{rng.randint(1, 12):02d}-01",
                              topics=[(t, f"Topic {t}") for t in rng.sample(range(1, 300), rng.randint(1, 3))],
                              institutions=[[institution(rng.randint(1, 200))] for _ in range(len(others) + 1)]))

    for w in range(SINGLES * 2 // 5):  # every single record on about two works of five
        ids = [FIRST_SINGLE + (w * 5 + i) % SINGLES for i in range(5)]
        n = len(found) + 1
        found.append(work(n, [author(a, f"Single {a}") for a in ids], year=rng.randint(1990, 2026),
                          topics=[(rng.randint(1, 300), "Topic")], institutions=[[institution(a % 200)] for a in ids]))
    add(author(PERSON, "Ada Person", orcid=orcid(PERSON)), 10)
    for m in range(args.members):
        add(author(PERSON + 1 + m, f"A. Person {m}", orcid=orcid(PERSON)), args.member_works)
    add(author(PROLIFIC, "Pat Prolific"), 10 + args.members * args.member_works)
    add(author(SMALL_OWNER, "Quinn Small", orcid=orcid(SMALL_OWNER)), 1)
    add(author(SMALL, "Q. Small", orcid=orcid(SMALL_OWNER)), 1)
    add(author(BIG_OWNER, "Rosa Big", orcid=orcid(BIG_OWNER)), 1)
    add(author(BIG, "R. Big", orcid=orcid(BIG_OWNER)), args.big)
    return found


def prepare(env: dict[str, str], path: Path) -> float:
    """Import, project, and let each owner claim their record by proving its ORCID iD (L2)."""
    services = Services(Settings.from_env(env))
    try:
        started = time.perf_counter()
        import_file(services.catalogue, path)
        for runner in services.runners:
            runner.catch_up()
        loaded = time.perf_counter() - started
        for record, name in OWNERS.items():
            account = register_confirmed(services, f"{name}@example.org", name.title(), PASSWORD)
            rid = researcher_id_for(f"A{record}")
            f = services.profiles_view.record_facts(str(rid))
            facts = RecordFacts(rid, f["orcid"], f["base_level"], f["institution_ids"])
            claim = services.claims.open_claim(account, facts, [EvidenceIn("orcid")])
            assert services.claims.prove_orcid(claim, account, facts.orcid, facts) == "approved"
        for runner in services.runners:  # (no runner threads here: the API process starts its own)
            runner.catch_up()
    finally:
        services.close()
    return loaded


def token(base: str, name: str) -> dict[str, str]:
    answer = httpx.post(base + "/auth/login", json={"email": f"{name}@example.org", "password": PASSWORD}, timeout=30)
    answer.raise_for_status()
    return {"authorization": f"Bearer {answer.json()['access_token']}"}


def shown(client: httpx.Client, record: int, works: int, deadline: float = 60.0) -> tuple[float, int]:
    """GET the profile until it shows `works` works: seconds taken and how many GETs."""
    started, gets = time.perf_counter(), 0
    while True:
        gets += 1
        body = client.get(f"/researchers/A{record}").json()
        if body["works_count"] == works or time.perf_counter() - started > deadline:
            assert body["works_count"] == works, body["works_count"]
            return time.perf_counter() - started, gets


def timed_link(client: httpx.Client, headers: dict, person: int, record: int, works: int) -> dict[str, float]:
    started = time.perf_counter()
    answer = client.post(f"/researchers/A{person}/links", headers=headers,
                         json={"record": f"A{record}", "evidence": [{"kind": "orcid"}]})
    posted = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    # The answer waits (2 s at most) for the profiles to show the link; past that, the GETs below do.
    waited = str(researcher_id_for(f"A{record}")) in answer.json()["records"]
    confirm, gets = shown(client, record, works)
    return {"post": posted, "get": confirm, "total": time.perf_counter() - started, "gets": gets, "waited": waited}


def timed_unlink(client: httpx.Client, headers: dict, person: int, record: int, works: int) -> dict[str, float]:
    started = time.perf_counter()
    answer = client.delete(f"/researchers/A{person}/links/A{record}", headers=headers)
    posted = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    confirm, gets = shown(client, record, works)
    return {"post": posted, "get": confirm, "total": time.perf_counter() - started, "gets": gets, "waited": True}


def line(label: str, t: dict[str, float]) -> str:
    return (f"  {label:<52} request {t['post'] * 1000:>7.0f} ms, confirming GET {t['get'] * 1000:>5.0f} ms "
            f"({t['gets']:.0f}), until shown {t['total'] * 1000:>7.0f} ms"
            + ("" if t["waited"] else " (answered before the profiles showed it)"))


def reads(args: argparse.Namespace, base: str, tmp: Path, label: str) -> None:
    rng = random.Random(5)
    singles = [f"/researchers/A{a}" for a in range(FIRST_SINGLE, FIRST_SINGLE + SINGLES)]
    rng.shuffle(singles)
    person = [f"/researchers/A{a}" for a in range(PERSON, PERSON + 1 + args.members)] * 50
    rng.shuffle(person)
    files = {}
    for name, paths in (("single", singles), ("prolific", [f"/researchers/A{PROLIFIC}"] * 100), ("person", person)):
        files[name] = tmp / f"{name}.txt"
        files[name].write_text("\n".join(paths) + "\n")
    sizes = {name: len(httpx.get(base + paths.read_text().split("\n")[0]).content) for name, paths in files.items()}
    script = Path(__file__).resolve().parent / "profile_paths.lua"
    for f in files.values():  # warm up: every profile read once (into the cache, when it is on)
        wrk(base + "/", 2, args.connections, script, f)
    rounds = []
    for _ in range(args.rounds):
        rounds.append({name: wrk(base + "/", args.seconds, args.connections, script, f) for name, f in files.items()})
    mid = sorted(rounds, key=lambda r: r["person"]["rps"] / r["single"]["rps"])[len(rounds) // 2]
    print(f"  GET /researchers/{{id}}, {label}: wrk -t1 -c{args.connections} {args.seconds}s, median of "
          f"{args.rounds} alternating rounds")
    print(f"  {'route':<52} {'bytes':>7} {'req/s':>9} {'p50':>9} {'p99':>9} {'vs single':>9} {'non-2xx':>8}")
    for name, what in (("single", f"single records ({SINGLES:,}, random order; baseline)"),
                       ("prolific", f"a single record with {10 + args.members * args.member_works:,} works"),
                       ("person", f"the person ({1 + args.members} records, "
                                  f"{10 + args.members * args.member_works:,} works), any of its ids")):
        r = mid[name]
        print(f"  {what:<52} {sizes[name]:>7,} {r['rps']:>9,.0f} {r['p50']:>9} {r['p99']:>9} "
              f"{r['rps'] / mid['single']['rps']:>9.0%} {r['non2xx']:>8}")
    ratios = ", ".join(f"{r['person']['rps'] / r['single']['rps']:.2f}" for r in rounds)
    print(f"  person / single record: {mid['person']['rps'] / mid['single']['rps']:.2f}; "
          f"person / prolific single record: {mid['person']['rps'] / mid['prolific']['rps']:.2f}; all rounds "
          f"(person / single): {ratios}")


def bench_links(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        sys.exit("bench links needs wrk: apt-get install wrk")
    works = works_for(args)
    print(f"machine calibration {calibration_ms():.0f} ms")
    print(f"data: {len(works):,} works; the person: A{PERSON} (10 works) and {args.members} records of "
          f"{args.member_works:,} works; links timed: A{SMALL} (1 work) into A{SMALL_OWNER} (1 work), "
          f"A{BIG} ({args.big:,} works) into A{BIG_OWNER} (1 work)")
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp_name, PgSchema() as schema:
            tmp = Path(tmp_name)
            env = env_for(backend, tmp, schema if backend == "postgres" else None)
            path = tmp / "works.jsonl"
            path.write_text("\n".join(json.dumps(w) for w in works) + "\n")
            loaded = prepare(env, path)
            print(f"{backend}: imported and projected in {loaded:.1f} s; one API process, projections in it")
            with serving(env) as base, httpx.Client(base_url=base, timeout=120) as client:
                headers = {name: token(base, name) for name in OWNERS.values()}
                member_works = 10
                for m in range(args.members):
                    member_works += args.member_works
                    t = timed_link(client, headers["ada"], PERSON, PERSON + 1 + m, member_works)
                    print(line(f"link member {m + 1} ({args.member_works:,} works) into the person", t))
                small = timed_link(client, headers["quinn"], SMALL_OWNER, SMALL, 2)
                print(line("link 1 work into 1 work (baseline)", small))
                big = timed_link(client, headers["rosa"], BIG_OWNER, BIG, args.big + 1)
                print(line(f"link {args.big:,} works into 1 work", big))
                print(f"  link of {args.big:,} works until the profile shows them: {big['total']:.2f} s "
                      f"({big['total'] / small['total']:.1f}x the baseline; target under 2 s)")
                gone = timed_unlink(client, headers["rosa"], BIG_OWNER, BIG, args.big)
                print(line(f"unlink the {args.big:,} works", gone))
                if backend == "postgres":
                    reads(args, base, tmp, "cache on")
            if backend == "postgres" and args.cache_off:
                with serving(env | {"PEERLEDGER_PROFILE_CACHE_ENTRIES": "0"}) as base:
                    reads(args, base, tmp, "cache off")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("links")
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--member-works", type=int, default=2_000)
    p.add_argument("--big", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    p.add_argument("--cache-off", action=argparse.BooleanOptionalAction, default=True,
                   help="also read with the profile cache off")
