"""A live `peerledger serve` for the browser, Debian's Chromium driven by Playwright, and from the
npm registry (pinned; fetched once with `npm pack` into .venv) axe-core and the Nu Html Checker."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from playwright.sync_api import Browser, Page

from bootstrap.services import Services
from bootstrap.settings import Settings
from domain.claims.application import RecordFacts
from tests.conftest import CHEAP_HASHING
from tests.e2e.pages_support import HOSTILE_AUTHOR, hostile_work
from tests.e2e.support import MODERATOR, PASSWORD
from tests.schema_fuzz import free_port, wait_until_up

CHROMIUM = os.environ.get("PEERLEDGER_CHROMIUM", "/usr/bin/chromium")
AXE_VERSION = "4.14.1"
VNU_VERSION = "26.9.27"  # vnu-jar: the Nu Html Checker, run by the machine's Java
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    base: str
    data_dir: Path
    env: dict[str, str]
    proxy: RecordingProxy | None = None  # in front of `base` for browsers, when the tests put one there

    @property
    def page_base(self) -> str:
        """Where browsers go."""
        return self.proxy.base if self.proxy else self.base

    def approve_claim(self, claim_id: str, level: str = "L2") -> None:
        """A moderator approves, through the application itself on the server's store (as
        tests/e2e/support.py `own` does); the server's projections then pick the decision up."""
        services = Services(Settings.from_env(self.env))
        try:
            claims = services.claims
            record = str(claims.claim_researcher(UUID(claim_id)))
            found = services.profiles_view.record_facts(record)
            facts = RecordFacts(UUID(record), found["orcid"], found["base_level"], found["institution_ids"])
            claims.approve(UUID(claim_id), MODERATOR, level, "checked", facts)
        finally:
            services.close()

    def grant_role(self, address: str, role: str) -> None:
        """As an operator grants one: `peerledger accounts grant` on the server's store."""
        granted = subprocess.run([sys.executable, "-m", "peerledger", "accounts", "grant", address, role],
                                 env=self.env, capture_output=True, text=True, timeout=120)
        assert granted.returncode == 0, granted.stderr

    def confirmed_account(self, name: str) -> str:
        """Registered and confirmed through the API (the code read from the mail folder); its address."""
        address = f"{name.lower().replace(' ', '.')}@example.org"
        registered = httpx.post(self.base + "/accounts", json={"email": address, "password": PASSWORD,
                                                               "display_name": name})
        assert registered.status_code == 201, registered.text
        code = self.code_in_mail(address)
        confirmed = httpx.post(self.base + "/accounts/confirm", json={"email": address, "code": code})
        assert confirmed.status_code == 200, confirmed.text
        return address


    def code_in_mail(self, address: str, kind: str = "confirmation") -> str:
        """The code in the newest mail of this kind (confirmation, password reset, claim) to `address`."""
        mails = [p.read_text() for p in sorted((self.data_dir / "mail").glob("*.eml"))
                 if f"To: {address}" in p.read_text() and f"{kind} code is" in p.read_text()]
        assert mails, f"no {kind} mail to {address}"
        return re.search(rf"{kind} code is (\d{{6}})", mails[-1]).group(1)


@contextmanager
def live_server() -> Iterator[LiveServer]:
    """The embedded service with the demo data and a work whose title and abstract carry markup."""
    with tempfile.TemporaryDirectory(prefix="pl-pages-") as folder:
        data_dir = Path(folder) / "var"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PEERLEDGER_", "POSTGRES_", "PERSISTENCE_"))}
        env |= {"PEERLEDGER_DATA_DIR": str(data_dir), "PEERLEDGER_RATE_LIMIT_SCALE": "100",
                "PEERLEDGER_LOG_LEVEL": "WARNING", **CHEAP_HASHING}
        works = Path(folder) / "hostile.json"
        works.write_text(json.dumps([hostile_work()]))
        imported = subprocess.run([sys.executable, "-m", "peerledger", "import", str(works)], env=env,
                                  capture_output=True, text=True, timeout=120)
        assert imported.returncode == 0, imported.stderr
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = Path(folder) / "server.log"
        with log.open("w") as server_log:
            server = subprocess.Popen([sys.executable, "-m", "peerledger", "serve", "--port", str(port)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=server_log, text=True)
            try:
                wait_until_up(base, server, log)
                wait_for_works(base, 12)
                wait_for_works(base, 1, HOSTILE_AUTHOR)
                yield LiveServer(base, data_dir, env)
            finally:
                server.terminate()
                server.wait(timeout=30)


def wait_for_works(base: str, count: int, author: str = "A5999000001") -> None:
    """Projections run in the server's process: wait until the record shows its works."""
    for _ in range(300):
        answer = httpx.get(f"{base}/researchers/{author}")
        if answer.status_code == 200 and answer.json()["works_count"] >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{author} did not show its works")


def npm_package(name: str, version: str) -> Path:
    """A package from the npm registry at a pinned version, unpacked once into .venv (its folder)."""
    folder = ROOT / ".venv" / f"{name}-{version}"
    unpacked = folder / "package"
    if not (unpacked / "package.json").exists():
        npm = shutil.which("npm")
        assert npm, f"npm is needed to fetch {name} for the page checks"
        folder.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(folder)],
                                capture_output=True, text=True, timeout=300, check=True)
        tarball = folder / packed.stdout.strip().splitlines()[-1]
        with tarfile.open(tarball) as archive:
            archive.extractall(folder, filter="data")
        tarball.unlink()
    return unpacked


def axe_source() -> str:
    """axe-core's browser build, from the npm registry at a pinned version."""
    return (npm_package("axe-core", AXE_VERSION) / "axe.min.js").read_text()


def chromium_path() -> str:
    assert Path(CHROMIUM).exists(), (f"{CHROMIUM} is missing: apt-get install chromium (scripts/test does), "
                                     "or set PEERLEDGER_CHROMIUM")
    return CHROMIUM


class Console:
    """Every console message and page error: a CSP violation shows up here."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if "Content Security Policy" in m or "Refused to" in m]


def open_page(browser: Browser, server: LiveServer, *, javascript: bool = True,
              width: int = 1280) -> tuple[Page, Console]:
    context = browser.new_context(base_url=server.page_base, java_script_enabled=javascript,
                                  viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)  # a page that never shows what a test waits for fails in seconds
    console = Console()
    page.on("console", lambda m: console.messages.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.messages.append(f"pageerror: {e}"))
    return page, console


def api(server: LiveServer, path: str, **params: Any) -> Any:
    return httpx.get(server.base + path, params=params).json()


def axe_serious(page: Page) -> list[dict[str, Any]]:
    page.evaluate(axe_source())  # evaluated by the driver, not a page script: the CSP stays as served
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


class HtmlChecker:
    """The Nu Html Checker (vnu.jar from the npm package vnu-jar) as a local service on loopback:
    one Java process for every check, each document posted to it."""

    def __init__(self) -> None:
        java = shutil.which("java")
        assert java, "Java is needed for the Nu Html Checker (apt-get install default-jre-headless)"
        jar = npm_package("vnu-jar", VNU_VERSION) / "build" / "dist" / "vnu.jar"
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/?out=json"
        self.process = subprocess.Popen(
            [java, "-Xss4m", "-Dnu.validator.servlet.bind-address=127.0.0.1", "-cp", str(jar),
             "nu.validator.servlet.Main", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._seen: dict[str, list[str]] = {}
        for _ in range(240):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                return
            except httpx.TransportError:
                assert self.process.poll() is None, "the Nu Html Checker did not start"
                time.sleep(0.25)
        self.close()
        raise AssertionError("the Nu Html Checker did not answer within 60 s")

    def errors(self, html: str) -> list[str]:
        """Every error the checker reports (warnings and notes are not errors), as line, column and message."""
        if html not in self._seen:
            answer = httpx.post(self.url, content=html.encode(), timeout=60,
                                headers={"content-type": "text/html; charset=utf-8"})
            answer.raise_for_status()
            self._seen[html] = [
                f"{m.get('lastLine', '?')}:{m.get('firstColumn', m.get('lastColumn', '?'))} {m['message']}"
                f" [{m.get('extract', '').strip()[:80]}]"
                for m in answer.json()["messages"]
                if m["type"] in ("error", "non-document-error") or m.get("subType") == "fatal"]
        return self._seen[html]

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection",
              "host", "content-length", "accept-encoding"}


class RecordingProxy:
    """Between the browser and the live server, on loopback: every request and answer passes
    through unchanged, and the HTML answers (the source as served, error pages included; redirects
    have none) are kept for the HTML checker. Kept here, before the browser has them: Chromium
    forgets a document's body once its page moves on."""

    def __init__(self, target: str) -> None:
        self.found: list[tuple[str, str]] = []
        self._target = target
        self._transport = httpx.HTTPTransport()  # no client: no cookie jar shared between browsers, no redirects
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                proxy._pass(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="recording-proxy", daemon=True).start()

    def _pass(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else None
        answer = self._transport.handle_request(httpx.Request(
            handler.command, self._target + handler.path, content=body,
            headers=[(k, v) for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP],
            extensions={"timeout": {"connect": 10, "read": 60, "write": 60, "pool": 60}}))
        content = answer.read()
        if answer.headers.get("content-type", "").startswith("text/html") and not answer.is_redirect:
            self.found.append((handler.path, answer.text))
        handler.send_response(answer.status_code)
        for name, value in answer.headers.multi_items():
            if name.lower() not in HOP_BY_HOP:
                handler.send_header(name, value)
        handler.send_header("content-length", str(len(content)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(content)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._transport.close()


