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
