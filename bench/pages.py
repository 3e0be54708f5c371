"""The profile page (/r/{id}) beside /health in the same run, and the page's weight.

    python -m bench.run pages [--researchers 1000] [--seconds 5] [--rounds 3] [--connections 32] [--backend postgres]

Data: the demo researcher's 12 works (the seed page) and synthetic researchers with co-authors,
topics and institutions. Routes, read with wrk through the same client script as the baseline:
the demo profile page signed out (the page people land on), the pages of all researchers in
random order signed out, the demo page signed in (a session cookie: rendered per reader), and the
JSON profile for comparison. Alternating rounds, median round kept, as `bench.run reads` does.
Weight: the page's HTML with its stylesheet and script (it has no images).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.run import PgSchema, calibration_ms, env_for, serving, wrk
from bootstrap.services import Services
from bootstrap.settings import Settings
from operations.demo import load_demo_data
from operations.importing import import_file
from tests.factories import author, institution, register_confirmed, work

DEMO = "A5999000001"
PASSWORD = "benchmark password"
WEIGHT_LIMIT = 100 * 1024


def signed_in_cookie(base: str, email: str) -> str:
    """Signed in through the sign-in page, as a browser is: its session and CSRF cookies."""
    with httpx.Client(base_url=base) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/p/login").text).group(1)
        answer = client.post("/p/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
        assert answer.status_code in (200, 303) and "pl_session" in client.cookies, answer.text[:200]
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    assert "Signed in as" in httpx.get(f"{base}/r/{DEMO}", headers={"cookie": cookie}).text
    return cookie


def page_weight(base: str) -> dict[str, int]:
    page = httpx.get(f"{base}/r/{DEMO}")
    assert page.status_code == 200
    html = page.content
    assert b"<img" not in html
    assets = re.findall(rb'(?:href|src)="(/p/static/[^"]+)"', html)
    bodies = [httpx.get(base + a.decode()).content for a in assets]
    return {"html": len(html), "html_gzip": len(gzip.compress(html)), "assets": sum(len(b) for b in bodies),
            "total": len(html) + sum(len(b) for b in bodies)}


def first_views(base: str, paths: list[str]) -> dict[str, float]:
    times = []
    with httpx.Client(base_url=base) as client:
        for path in paths:
            started = time.perf_counter()
            assert client.get(path).status_code == 200
            times.append(time.perf_counter() - started)
    times.sort()
    return {"p50": times[len(times) // 2] * 1000, "p99": times[int(len(times) * 0.99)] * 1000,
            "rate": len(times) / sum(times)}


def bench_pages(args: argparse.Namespace) -> None:
    if not shutil.which("wrk"):
        sys.exit("bench pages needs wrk: apt-get install wrk")
    rng = random.Random(7)
    n = args.researchers
    with tempfile.TemporaryDirectory() as tmp, PgSchema() as schema:
        print(f"machine calibration {calibration_ms():.0f} ms")
        env = env_for(args.backend, Path(tmp), schema) | {"PEERLEDGER_RATE_LIMIT_SCALE": "1000"}
        works = [work(w + 1, [author((w * 5 + i) % n + 1) for i in range(5)], year=rng.randint(1990, 2026),
                      topics=[(rng.randint(1, 50), f"Topic {w % 50}")],
                      institutions=[[institution((w * 5 + i) % 40)] for i in range(5)])
                 for w in range(n * 2 // 5)]
        path = Path(tmp) / "works.jsonl"
        path.write_text("\n".join(json.dumps(x) for x in works))
        services = Services(Settings.from_env(env))
        load_demo_data(services.catalogue)
        import_file(services.catalogue, path)
        register_confirmed(services, "reader@example.org", "Page Reader", PASSWORD)
        for runner in services.runners:
            runner.catch_up()
        services.close()
        script = Path(__file__).resolve().parent / "profile_paths.lua"

        def paths_file(name: str, paths: list[str]) -> Path:
            file = Path(tmp) / f"{name}.txt"
            file.write_text("\n".join(paths) + "\n")
            return file

        many = [f"/r/A{a}" for a in range(1, n + 1)]
        rng.shuffle(many)
        files = {"health": paths_file("health", ["/health"] * 100),
                 "demo": paths_file("demo", [f"/r/{DEMO}"] * 100),
                 "many": paths_file("many", many),
                 "json": paths_file("json", [f"/researchers/{DEMO}"] * 100)}
        with serving(env) as base:
            weight = page_weight(base)
            cookie = signed_in_cookie(base, "reader@example.org")
            routes = [("/health (baseline)", "health", ""),
                      (f"/r/{DEMO} signed out (demo profile)", "demo", ""),
                      (f"/r/{{id}} signed out, {n:,} researchers", "many", ""),
                      (f"/r/{DEMO} signed in (session cookie)", "demo", cookie),
                      (f"/researchers/{DEMO} (JSON, for comparison)", "json", "")]
            print(f"pages: {n:,} synthetic researchers and the demo one on {args.backend}, wrk -t1 "
                  f"-c{args.connections} {args.seconds}s per route, median of {args.rounds} alternating rounds "
                  f"(ranked by the demo page's share of /health), one API process")
            first = first_views(base, many)  # every page once, as the cache is in use
            rounds = [[wrk(base + "/", args.seconds, args.connections, script, files[f], cookie=cookie)
                       for _, f, cookie in routes] for _ in range(args.rounds)]
        print(f"first view of each of the {len(many):,} pages (rendered, then kept), one client: "
              f"p50 {first['p50']:.1f} ms, p99 {first['p99']:.1f} ms, {first['rate']:,.0f} pages/s")
        kept = sorted(rounds, key=lambda r: r[1]["rps"] / r[0]["rps"])[len(rounds) // 2]
        health = kept[0]
        print(f"{'route':<52} {'req/s':>9} {'p50':>9} {'p99':>9} {'vs /health':>10} {'non-2xx':>8}")
        for (label, _, _), r in zip(routes, kept, strict=True):
            print(f"{label:<52} {r['rps']:>9,.0f} {r['p50']:>9} {r['p99']:>9} {r['rps'] / health['rps']:>10.0%} "
                  f"{r['non2xx']:>8}")
        print(f"page weight of /r/{DEMO}: HTML {weight['html'] / 1024:.1f} KB ({weight['html_gzip'] / 1024:.1f} KB "
              f"gzipped), with its stylesheet and script {weight['total'] / 1024:.1f} KB, no images "
              f"({'under' if weight['total'] < WEIGHT_LIMIT else 'OVER'} the 100 KB limit)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pages")
    p.add_argument("--researchers", type=int, default=1_000)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
