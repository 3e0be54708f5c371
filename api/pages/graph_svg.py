"""The research graph slice as an SVG drawn on the server: the person in the middle, co-authors
on the inner ring (sized by shared works), topics and institutions on the outer one; every node
is a link. No script and no style attribute: classes only, so the page's CSP stays strict."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 760, 520
CX, CY = WIDTH / 2, HEIGHT / 2
INNER, OUTER = 130, 215
MAX_COAUTHORS, MAX_TOPICS, MAX_INSTITUTIONS = 12, 8, 4
LABEL_CHARS = 22


def _short(text: str | None, limit: int = LABEL_CHARS) -> str:
    text = text or "unnamed"
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def coauthor_radius(shared_works: int) -> float:
    """Area grows with shared works (a square root), so two shared works do not look twice as big."""
    return round(7 + 5 * math.sqrt(max(shared_works, 1)), 1)


def _ring(count: int, radius: float, offset: float) -> list[tuple[float, float]]:
    return [(round(CX + radius * math.cos(offset + 2 * math.pi * i / count), 1),
             round(CY + radius * math.sin(offset + 2 * math.pi * i / count), 1)) for i in range(count)]


def _node(href: str, title: str, label: str, shape: str, x: float, y: float, kind: str,
          label_below: float) -> str:
    return (f'<a href="{escape(href)}" class="node {kind}"><title>{escape(title)}</title>{shape}'
            f'<text x="{x}" y="{round(y + label_below, 1)}" text-anchor="middle">{escape(label)}</text></a>')


def research_graph_svg(profile: dict[str, Any], graph: dict[str, Any]) -> Markup:
    """`profile` and `graph` as the API returns them (GET /researchers/{id} and .../graph)."""
    coauthors = graph["coauthors"][:MAX_COAUTHORS]
    topics = graph["topics"][:MAX_TOPICS]
    institutions = graph["institutions"][:MAX_INSTITUTIONS]
    edges: list[str] = []
    nodes: list[str] = []
    for c, (x, y) in zip(coauthors, _ring(len(coauthors), INNER, -math.pi / 2), strict=True):
        r = coauthor_radius(c["shared_works"])
        edges.append(f'<line x1="{CX}" y1="{CY}" x2="{x}" y2="{y}" class="edge{" close" if c["close"] else ""}"/>')
        shared = f'{c["shared_works"]} shared work{"s" if c["shared_works"] != 1 else ""}'
        kind = "coauthor close" if c["close"] else "coauthor"
        nodes.append(_node(f'/r/{c["openalex_id"] or c["id"]}', f'{c["display_name"] or "unnamed"}: {shared}'
                           + (", close collaborator" if c["close"] else ""), _short(c["display_name"]),
                           f'<circle cx="{x}" cy="{y}" r="{r}"/>', x, y, kind, r + 13))
    outer = [("topic", t) for t in topics] + [("institution", i) for i in institutions]
    for (kind, item), (x, y) in zip(outer, _ring(len(outer), OUTER, -math.pi / 2 + 0.2), strict=True):
        edges.append(f'<line x1="{CX}" y1="{CY}" x2="{x}" y2="{y}" class="edge {kind}"/>')
        ident = item.get("openalex_id")
        href = f"https://openalex.org/{ident}" if ident else "#graph"
        if kind == "topic":
            title = f'Topic: {item["display_name"] or ident}, {item["works"]} works'
            shape = f'<rect x="{round(x - 9, 1)}" y="{round(y - 9, 1)}" width="18" height="18" rx="3"/>'
        else:
            years = "-".join(str(v) for v in (item["first_year"], item["last_year"]) if v)
            title = f'Institution: {item["display_name"] or ident}' + (f", {years}" if years else "")
            shape = (f'<polygon points="{x},{round(y - 11, 1)} {round(x + 11, 1)},{y} {x},{round(y + 11, 1)} '
                     f'{round(x - 11, 1)},{y}"/>')
        nodes.append(_node(href, title, _short(item["display_name"] or ident), shape, x, y, kind, 24))
    person = _node(f'/r/{profile["openalex_id"]}', profile["display_name"], _short(profile["display_name"], 28),
                   f'<circle cx="{CX}" cy="{CY}" r="26"/>', CX, CY, "person", 42)
    return Markup(
        f'<svg class="graph" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="graph-title graph-desc">'
        f'<title id="graph-title">Research graph of {escape(profile["display_name"])}</title>'
        f'<desc id="graph-desc">{len(coauthors)} co-authors (circles, larger for more shared works), '
        f'{len(topics)} topics (squares) and {len(institutions)} institutions (diamonds).</desc>'
        f'<g class="edges">{"".join(edges)}</g><g class="nodes">{"".join(nodes)}{person}</g></svg>'
    )
