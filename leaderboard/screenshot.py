"""A screenshot of the generated page in headless Debian chromium (Playwright), e.g. for the README.

    python -m leaderboard.screenshot docs/img/leaderboard.png --width 1280 --height 1100

Playwright drives the system's chromium (`apt-get install -y chromium`); its own browser download
is not used. The browser tests launch it the same way (`launch`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from leaderboard.board import LEADERBOARD_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


def launch(playwright):
    """Debian's chromium, headless, through a started `sync_playwright()`."""
    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"no browser at {CHROMIUM}: apt-get install -y chromium")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))


def screenshot(page_path: Path, out: Path, width: int, height: int, full_page: bool = False) -> Path:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(page_path.resolve().as_uri())
        page.wait_for_load_state("load")
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=full_page)
        browser.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaderboard.screenshot", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--dir", default=str(LEADERBOARD_DIR), help="leaderboard directory (its index.html)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width, px")
    parser.add_argument("--height", type=int, default=1100, help="viewport height, px")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not just the viewport")
    args = parser.parse_args(argv)
    if args.width < 320 or args.height < 200:
        parser.error("width must be >= 320 and height >= 200")
    page = Path(args.dir) / "index.html"
    if not page.is_file():
        parser.error(f"no page at {page}: run python -m leaderboard render")
    try:
        print(screenshot(page, Path(args.out), args.width, args.height, args.full_page))
    except (ImportError, FileNotFoundError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
