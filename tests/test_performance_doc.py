"""benchmark.performance_doc: docs/performance.md's tables come from the records in docs/perf/."""

import json

from benchmark import performance_doc as P


def test_tables_are_made_from_the_records_and_the_shipped_page_is_current(tmp_path):
    (tmp_path / "tests_20261204T1000.json").write_text(json.dumps({
        "date": "2026-12-04", "machine": "cpu, 2 cores", "load_average": [3.5, 2, 1], "pytest_args": ["-m", "not slow"],
        "outcome": "250 passed, 40 deselected", "exit_code": 0, "wall_s": 58.4}))
    text = "x\n<!-- perf:tests -->\nold\n<!-- /perf -->\n<!-- perf:env_speed -->\n<!-- /perf -->\n"
    out = P.render(text, tmp_path)
    assert "| 2026-12-04 | cpu, 2 cores | 3.5 | `-m not slow` | 250 passed, 40 deselected | 58 s |" in out
    assert "old" not in out and "*No records yet.*" in out  # no env_speed records in this folder
    assert P.render(P.DOC.read_text()) == P.DOC.read_text(), "run python -m benchmark.performance_doc render"


def test_tiers_records_each_tier_and_renders_its_rows(tmp_path):
    """`tiers` with a fake measurement in place of pytest: one record, a row per tier."""
    def fake_run(args):
        quick = args == ["-m", "not slow"]
        return {"load_average": [1.25, 1, 1], "pytest_args": args, "tests": 330 if quick else 110,
                "outcome": "330 passed, 110 deselected" if quick else "109 passed, 1 skipped, 330 deselected",
                "exit_code": 0, "wall_s": 57.6 if quick else 402.2, "cpu_s": 55.1 if quick else 380.7}

    out = P.time_tiers(tmp_path, run=fake_run)
    record = json.loads(out.read_text())
    assert out.name.startswith("tiers_") and [t["pytest_args"] for t in record["tiers"]] == [list(a) for a in P.TIERS]
    text = P.render("<!-- perf:tiers -->\n<!-- /perf -->\n", tmp_path)
    date, machine = record["date"], record["machine"]
    assert (f"| {date} | {machine} | `-m not slow` | 330 | 330 passed, 110 deselected | 58 s | 55 s | 1.2 | "
            f"`perf/{out.name}` |") in text
    assert f"| {date} | {machine} | `-m slow` | 110 | 109 passed, 1 skipped, 330 deselected | 402 s | 381 s | 1.2 |" in text
