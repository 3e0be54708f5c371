"""The research graph as SVGs drawn on the server: the profile's slice (the person in the middle,
co-authors on the inner ring sized by shared works, topics and institutions on the outer one) and
the explorer's graph at depth 2 (co-authors of co-authors too, labels along the rays). Every node
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


def topic_href(topic_id: str) -> str:
    return f"/p/topics/{topic_id}"


def institution_href(institution_id: str | None, fallback: str) -> str:
    """Institutions OpenAlex did not identify have no page: their node links to `fallback`."""
    return f"/p/institutions/{institution_id}" if institution_id else fallback


def researcher_href(person: dict[str, Any]) -> str:
    return f"/r/{person['openalex_id'] or person['id']}"


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
        nodes.append(_node(researcher_href(c), f'{c["display_name"] or "unnamed"}: {shared}'
                           + (", close collaborator" if c["close"] else ""), _short(c["display_name"]),
                           f'<circle cx="{x}" cy="{y}" r="{r}"/>', x, y, kind, r + 13))
    outer = [("topic", t) for t in topics] + [("institution", i) for i in institutions]
    for (kind, item), (x, y) in zip(outer, _ring(len(outer), OUTER, -math.pi / 2 + 0.2), strict=True):
        edges.append(f'<line x1="{CX}" y1="{CY}" x2="{x}" y2="{y}" class="edge {kind}"/>')
        ident = item.get("openalex_id")
        href = topic_href(ident) if kind == "topic" else institution_href(ident, "#graph")
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


# -- the explorer: depth 2 -----------------------------------------------------------------------

E_SIZE = 1120
E_C = E_SIZE / 2
E_INNER, E_OUTER = 210, 390
E_LABEL_CHARS = 18


def _ray_label(x: float, y: float, angle: float, gap: float, text: str) -> str:
    """A label along the ray from the centre, outside its node, read left to right on both sides."""
    lx, ly = round(x + gap * math.cos(angle), 1), round(y + gap * math.sin(angle), 1)
    degrees = math.degrees(angle) % 360
    left = 90 < degrees < 270
    rotate = round(degrees - 180 if left else degrees, 1)
    anchor = "end" if left else "start"
    return (f'<text x="{lx}" y="{ly}" dy="0.35em" text-anchor="{anchor}" '
            f'transform="rotate({rotate} {lx} {ly})">{escape(_short(text, E_LABEL_CHARS))}</text>')


def _ray_node(href: str, title: str, label: str, shape: str, x: float, y: float, angle: float, kind: str,
              gap: float) -> str:
    return (f'<a href="{escape(href)}" class="node {kind}"><title>{escape(title)}</title>{shape}'
            f'{_ray_label(x, y, angle, gap, label)}</a>')


def _angles(count: int, offset: float = -math.pi / 2) -> list[float]:
    return [offset + 2 * math.pi * i / count for i in range(count)]


def explorer_graph_svg(profile: dict[str, Any], graph: dict[str, Any]) -> Markup:
    """The graph at depth 2 (GET /researchers/{id}/graph?depth=2): co-authors on the inner ring,
    with an edge each; the person's topics, institutions and the co-authors of co-authors on the
    outer ring (those last without an edge: the API says through how many co-authors, not which)."""
    coauthors = graph["coauthors"]
    edges: list[str] = []
    nodes: list[str] = []
    for c, angle in zip(coauthors, _angles(len(coauthors)), strict=True):
        x, y = round(E_C + E_INNER * math.cos(angle), 1), round(E_C + E_INNER * math.sin(angle), 1)
        r = min(coauthor_radius(c["shared_works"]), 18)
        edges.append(f'<line x1="{E_C}" y1="{E_C}" x2="{x}" y2="{y}" class="edge{" close" if c["close"] else ""}"/>')
        shared = f'{c["shared_works"]} shared work{"s" if c["shared_works"] != 1 else ""}'
        nodes.append(_ray_node(researcher_href(c), f'{c["display_name"] or "unnamed"}: {shared}'
                               + (", close collaborator" if c["close"] else ""), c["display_name"] or "unnamed",
                               f'<circle cx="{x}" cy="{y}" r="{r}"/>', x, y, angle,
                               "coauthor close" if c["close"] else "coauthor", r + 5))
    outer = ([("topic", t) for t in graph["topics"]] + [("institution", i) for i in graph["institutions"]]
             + [("second", s) for s in graph["second_degree"] or []])
    for (kind, item), angle in zip(outer, _angles(len(outer), -math.pi / 2 + 0.05), strict=True):
        x, y = round(E_C + E_OUTER * math.cos(angle), 1), round(E_C + E_OUTER * math.sin(angle), 1)
        if kind == "second":
            r = min(5 + 2 * item["via"], 12)
            via = f'through {item["via"]} co-author{"s" if item["via"] != 1 else ""}'
            nodes.append(_ray_node(researcher_href(item), f'{item["display_name"] or "unnamed"}: co-author of a '
                                   f'co-author, {via}', item["display_name"] or "unnamed",
                                   f'<circle cx="{x}" cy="{y}" r="{r}"/>', x, y, angle, "second", r + 5))
            continue
        edges.append(f'<line x1="{E_C}" y1="{E_C}" x2="{x}" y2="{y}" class="edge {kind}"/>')
        ident = item.get("openalex_id")
        name = item["display_name"] or ident or "unnamed"
        if kind == "topic":
            title = f'Topic: {name}, {item["works"]} works'
            shape = f'<rect x="{round(x - 9, 1)}" y="{round(y - 9, 1)}" width="18" height="18" rx="3"/>'
            href = topic_href(ident)
        else:
            years = "-".join(str(v) for v in (item["first_year"], item["last_year"]) if v)
            title = f"Institution: {name}" + (f", {years}" if years else "")
            shape = (f'<polygon points="{x},{round(y - 11, 1)} {round(x + 11, 1)},{y} {x},{round(y + 11, 1)} '
                     f'{round(x - 11, 1)},{y}"/>')
            href = institution_href(ident, "#institutions")
        nodes.append(_ray_node(href, title, name, shape, x, y, angle, kind, 16))
    person = _node(researcher_href(profile), profile["display_name"], _short(profile["display_name"], 28),
                   f'<circle cx="{E_C}" cy="{E_C}" r="30"/>', E_C, E_C, "person", 48)
    second = len(graph["second_degree"] or [])
    return Markup(
        f'<svg class="graph explorer" viewBox="0 0 {E_SIZE} {E_SIZE}" width="{E_SIZE}" height="{E_SIZE}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="graph-title graph-desc">'
        f'<title id="graph-title">Research graph of {escape(profile["display_name"])} at depth 2</title>'
        f'<desc id="graph-desc">{len(coauthors)} co-authors on the inner ring (circles, larger for more shared '
        f'works); on the outer ring {len(graph["topics"])} topics (squares), {len(graph["institutions"])} '
        f'institutions (diamonds) and {second} co-authors of co-authors (open circles, larger through more '
        f'co-authors).</desc>'
        f'<circle class="ring" cx="{E_C}" cy="{E_C}" r="{E_OUTER}"/>'
        f'<g class="edges">{"".join(edges)}</g><g class="nodes">{"".join(nodes)}{person}</g></svg>'
    )
