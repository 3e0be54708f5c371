"""The README's picture of the demo profile, kept current by this script rather than by hand:
a live server with the demo data, Debian's Chromium at 1280 px, the page from its top down to its
first works (the whole page, its twelve abstracts, is six times as tall).

    python -m tests.browser.screenshot [--out docs/profile.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser.support import ROOT, chromium_path, live_server

DEMO = "A5999000001"
WIDTH, HEIGHT = 1280, 2400


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.browser.screenshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "profile.png")
    args = parser.parse_args()
    with live_server() as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            response = page.goto(f"{server.base}/r/{DEMO}")
            assert response is not None and response.status == 200, "the demo profile did not load"
            page.evaluate("document.fonts.ready")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
        finally:
            browser.close()
    print(f"{args.out}: the demo profile at {WIDTH} px")


if __name__ == "__main__":
    main()
