"""What the page tests share: the demo works plus one whose title and abstract carry markup."""

from __future__ import annotations

import json
import re
from typing import Any

from httpx import Response
from litestar.testing import TestClient

from tests.conftest import DEMO
from tests.e2e.support import PASSWORD, person

HOSTILE_TITLE = "<script>document.title='owned'</script> Bounds on $\\frac{a}{b}$ <img src=x onerror=alert(1)>"
HOSTILE_ABSTRACT_WORDS = ["<script>alert(2)</script>", "\\textbf{bold}", "&amp;", "<b>not", "bold</b>"]


def demo_works() -> list[dict[str, Any]]:
    return json.loads(DEMO.read_text())["results"]


HOSTILE_AUTHOR = "A5999000900"  # not the demo researcher, whose page must stay as the seed shows it


def hostile_work() -> dict[str, Any]:
    """A work by an author of its own, with markup in its title and abstract."""
    work = json.loads(json.dumps(demo_works()[0]))
    authorship = work["authorships"][0] | {"author_position": "first", "institutions": [], "countries": [],
                                           "raw_author_name": "Mark Upton"}
    authorship["author"] = {"id": f"https://openalex.org/{HOSTILE_AUTHOR}", "display_name": "Mark Upton",
                            "orcid": None}
    work |= {"id": "https://openalex.org/W5999999901", "doi": None, "title": HOSTILE_TITLE,
             "display_name": HOSTILE_TITLE, "publication_year": 2027, "publication_date": "2027-01-02",
             "authorships": [authorship],
             "abstract_inverted_index": {w: [i] for i, w in enumerate(HOSTILE_ABSTRACT_WORDS)}}
    return work


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def alert(html: str) -> str:
    """The refusal a page shows beside its form."""
    found = re.search(r'<p class="problem" role="alert">(.*?)</p>', html, re.S)
    assert found, "no refusal on the page"
    return found.group(1)


def page_login(client: TestClient, address: str, **fields: str) -> Response:
    """This browser signed in as `address` through the login page (its form's CSRF token): the 303."""
    token = csrf_of(client.get("/p/login").text)
    answer = client.post("/p/login", data={"email": address, "password": PASSWORD, "csrf_token": token, **fields},
                         follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer


def signed_in(client: TestClient, name: str, *, confirm: bool = True, **fields: str) -> dict[str, Any]:
    """A new account (support.person) whose browser signed in through the login page; `login` is the 303."""
    who = person(client, name, confirm=confirm)
    return who | {"login": page_login(client, who["email"], **fields)}


def as_(client: TestClient, who: dict[str, Any] | None) -> None:
    """The browser of `who` (signed in through the page), or of nobody."""
    client.cookies.clear()
    if who is not None:
        page_login(client, who["email"])
