"""The generated leaderboard page in a real browser: headless Debian chromium through Playwright.

Skips with the reason when Playwright or /usr/bin/chromium is missing, except under CI=true,
where a missing browser fails (`.ci/run` installs both). Screenshots at 1280 and 800 px wide are
saved under the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmark.results import write_json_atomic
from leaderboard import board, cli, signing
from leaderboard import rows as R
from leaderboard.check import check
from leaderboard.screenshot import CHROMIUM, launch
from test_leaderboard import REPO_BOARD, fake_results



def _browser_or_skip():
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
        sync_playwright = None
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if missing:
        why = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(why + "; under CI=true a missing browser is a failure")
        pytest.skip(why)
    return sync_playwright


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The shipped board's protocol-v0 rows plus protocol-v1 rows on two envs, one of them verified
    (a record signed by a throwaway key)."""
    tmp = tmp_path_factory.mktemp("site")
    root = tmp / "board"
    v0 = [r for r in R.read_rows(REPO_BOARD / "results.csv") if r["protocol"] == "v0"]
    (root / "submissions").mkdir(parents=True)
    for r in v0:
        shutil.copy(REPO_BOARD / "submissions" / f"{r['row_id']}.json", root / "submissions")
    (root / "results.csv").write_text(R.rows_to_csv(v0))
    specs = [("explorer", (0.5, 1.0, 1.0), "RefExp/TwoDrawer-v0", None),
             ("fixed", (0.5, 0.5, 0.5), "RefExp/TwoDrawer-v0", None),
             ("never", (0.0, 0.02, 0.0), "RefExp/TwoDrawer-v0", "refexp/two-drawer/expert-v0"),
             ("three", (0.33, 0.66, 0.9), "RefExp/ThreeDrawer-v0", "refexp/three-drawer/expert-v0")]
    for i, (name, p, env, ds) in enumerate(specs):
        path = tmp / f"{name}.json"
        write_json_atomic(path, fake_results(agent=name, p=p, env=env, dataset=ds, seeds=(0, 1, 2), seed=i))
        assert cli.main(["--dir", str(root), "submit", str(path)]) == 0
    key_path, pub_path = tmp / "key.pem", tmp / "key.pub"
    signing.generate(key_path, pub_path)
    row = next(r for r in R.read_rows(root / "results.csv") if r["agent"] == "fixed")
    record = {"row_id": row["row_id"], "results_sha256": row["results_sha256"], "status": "verified",
              "reason": "test record", "submitted": {"score": float(row["score"]), "ci": [0.0, 1.0]},
              "rerun": {"score": float(row["score"]), "ci": [0.0, 1.0], "eval_seed": 1}, "date": "2026-11-26", "key_id": "test"}
    board.record_verification(root, row["row_id"], signing.sign(record, signing.load_private(key_path)), "verified",
                              row["results_sha256"])
    assert check(board.Paths(root), pub_path) == []
    return root


@pytest.mark.slow  # launches chromium
def test_the_page_in_chromium(site, tmp_path):
    sync_playwright = _browser_or_skip()
    rows = R.read_rows(site / "results.csv")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.goto((site / "index.html").as_uri())

        # every env's table renders with its rows: protocol v1 first, the paper's env first in each
        tables = page.locator("table.board")
        groups = R.groups(rows)
        assert tables.count() == len(groups) == 6
        assert [(t.get_attribute("data-protocol"), t.get_attribute("data-env")) for t in tables.all()][:4] == [
            ("v1", "RefExp/TwoDrawer-v0"), ("v1", "RefExp/ThreeDrawer-v0"), ("v0", "RefExp/TwoDrawer-v0"),
            ("v0", "RefExp/TwoDrawer-v0")]
        for table, (proto, env, k, cls, ranked) in zip(tables.all(), groups):
            got = table.locator("tbody tr[data-row] td.agent").all_inner_texts()
            assert sorted(got) == sorted(r["agent"] for _, r in ranked)
        # the scripted agents (handed the handles' positions) sit in their own table, never beside `ours`
        assert sorted(tables.nth(3).locator("tbody tr[data-row] td.agent").all_inner_texts()) == [
            "always-first", "scripted-explorer"]
        assert "privileged" in page.locator("section.env").nth(3).locator("h3").inner_text()
        v0_two = tables.nth(2).locator("tbody tr[data-row] td:first-child").all_inner_texts()
        assert v0_two.count("1") == 1  # ours alone at rank 1 among the pixel-only agents
        for img in page.locator("figure img").all():
            img.scroll_into_view_if_needed()
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")

        # sorting by the score column orders the rows (descending first, then ascending)
        two = tables.nth(0)
        header = two.locator("thead th.score")

        def scores():
            return [float(v) for v in two.locator("tbody tr[data-row] td.score").evaluate_all(
                "tds => tds.map(td => td.dataset.value)")]

        header.click()
        assert header.get_attribute("aria-sort") == "descending"
        assert scores() == sorted(scores(), reverse=True) and len(scores()) == 3
        header.click()
        assert scores() == sorted(scores())
        two.locator("thead th", has_text="agent").click()
        assert two.locator("tbody tr[data-row] td.agent").all_inner_texts() == ["explorer", "fixed", "never"]

        # the verified-only filter hides self-reported rows; the family filter keeps its family
        page.check("#f-verified")
        visible = page.locator("table.board tbody tr[data-row]:visible")
        assert visible.count() == 1 and visible.locator("td.agent").inner_text() == "fixed"
        assert page.locator("table.board").nth(1).locator("tr.empty").is_visible()
        assert page.locator("#f-count").inner_text() == f"1 of {len(rows)} rows shown"
        page.uncheck("#f-verified")
        page.select_option("#f-family", "offline")
        offline = sorted(r["agent"] for r in rows if r["family"] == "offline")
        assert sorted(visible.locator("td.agent").all_inner_texts()) == offline and "never" in offline
        page.select_option("#f-family", "")
        assert visible.count() == len(rows)
        for method in ("other", "RefExp"):  # the method filter: this site's agents are all "other"
            page.select_option("#f-method", method)
            assert visible.count() == sum(r["method"] == method for r in rows)
        page.select_option("#f-method", "")
        assert visible.count() == len(rows)

        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.screenshot(path=str(tmp_path / "index-1280.png"), full_page=True)
        page.set_viewport_size({"width": 800, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth") <= 800  # no sideways scrolling
        page.screenshot(path=str(tmp_path / "index-800.png"), full_page=True)

        # a detail link opens and shows the per-seed plot, the results file and the command
        page.locator("a.detail").first.click()
        page.wait_for_load_state()
        assert "/rows/" in page.url
        assert page.locator("#seed-plot").evaluate("i => i.complete && i.naturalWidth > 0")
        assert "python -m benchmark.run" in page.locator("#reproduce").inner_text()
        href = page.locator("#results-json").get_attribute("href")
        assert (Path(page.url.removeprefix("file://")).parent / href).resolve().is_file()
        page.screenshot(path=str(tmp_path / "detail-800.png"), full_page=True)
        browser.close()
    assert errors == []
    for name in ("index-1280.png", "index-800.png", "detail-800.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
