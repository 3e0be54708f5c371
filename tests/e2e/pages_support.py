"""What the page tests share: the demo works plus one whose title and abstract carry markup."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import DEMO

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
