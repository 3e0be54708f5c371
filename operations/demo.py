"""The demo researcher from the seed profile page, shipped as an OpenAlex-shaped fixture."""

from __future__ import annotations

from pathlib import Path

from domain.catalogue.application import Catalogue
from operations.importing import ImportSummary, import_file

DEMO_FILE = Path(__file__).resolve().parent / "demo_data" / "openalex-demo-works.json"
DEMO_RESEARCHER_OPENALEX_ID = "A5999000001"


def load_demo_data(catalogue: Catalogue) -> ImportSummary:
    """Idempotent: a second load adds no events."""
    return import_file(catalogue, DEMO_FILE)
