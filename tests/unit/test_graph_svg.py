"""The research graph picture drawn on the server: sizes, links and text that stays text."""

from __future__ import annotations

import re

from api.pages.graph_svg import coauthor_radius, research_graph_svg

PROFILE = {"display_name": "Ada <b>Lovelace</b>", "openalex_id": "A1"}


def coauthor(n: int, shared: int) -> dict:
    return {"id": f"00000000-0000-0000-0000-{n:012d}", "openalex_id": f"A{100 + n}",
            "display_name": f"Co <script>{n}</script>", "shared_works": shared, "close": shared >= 2}


GRAPH = {"coauthors": [coauthor(1, 5), coauthor(2, 2), coauthor(3, 1)],
         "topics": [{"openalex_id": "T1", "display_name": "Analytical engines", "works": 3}],
         "institutions": [{"openalex_id": "I9", "display_name": "Royal & Society", "first_year": 1840,
                           "last_year": 1843, "works": 2}]}


def test_coauthors_who_share_more_works_are_drawn_larger():
    assert coauthor_radius(1) < coauthor_radius(2) < coauthor_radius(5)


def test_every_node_is_a_link_to_its_page():
    svg = str(research_graph_svg(PROFILE, GRAPH))
    hrefs = re.findall(r'<a href="([^"]+)"', svg)
    assert hrefs == ["/r/A101", "/r/A102", "/r/A103", "/p/topics/T1", "/p/institutions/I9", "/r/A1"]
    assert svg.count('class="node coauthor close"') == 2


def test_names_in_the_picture_are_text_not_markup():
    svg = str(research_graph_svg(PROFILE, GRAPH))
    assert "<script>" not in svg and "<b>" not in svg
    assert "Co &lt;script&gt;1&lt;/script&gt;" in svg and "Royal &amp; Society" in svg


def test_no_style_attribute_or_script_in_the_picture():
    svg = str(research_graph_svg(PROFILE, GRAPH))
    assert "style=" not in svg and "<script" not in svg and "on" + "click" not in svg
