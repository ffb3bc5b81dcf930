"""leaderboard: one row per agent version (refused or --replace), `check` catches every hand edit,
and concurrent submits from several processes all land (the lock)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.results import write_json_atomic
from leaderboard import board, cli
from leaderboard import rows as R
from leaderboard.check import check
from test_leaderboard import fake_results, snapshot

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ours_board(tmp_path_factory):
    """A leaderboard directory with one accepted `ours` row, made once for the module."""
    tmp = tmp_path_factory.mktemp("ours-board")
    path = tmp / "ours.json"
    write_json_atomic(path, fake_results(agent="ours", version="aaa/bbb/ccc", seeds=(0, 1, 2), p=(0.5, 1.0, 1.0)))
    assert cli.main(["--dir", str(tmp / "board"), "submit", str(path)]) == 0
    assert check(board.Paths(tmp / "board")) == []
    return tmp / "board"


@pytest.fixture
def lb(ours_board, tmp_path):
    """A test's own copy of the one-row leaderboard directory."""
    return Path(shutil.copytree(ours_board, tmp_path / "board"))


def test_same_agent_version_is_refused_with_the_reason_or_replaced(lb, tmp_path, capsys):
    capsys.readouterr()
    # the shipped agent's seed-0 checkpoint alone, 100 trials: the same agent version
    again = tmp_path / "again.json"
    write_json_atomic(again, fake_results(agent="ours", version="aaa", seeds=(0,), p=(0.5, 0.9, 1.0), seed=3))
    before = snapshot(lb)
    assert cli.main(["--dir", str(lb), "submit", str(again)]) == 1
    err = capsys.readouterr().err
    assert "duplicate: ours version aaa/bbb/ccc already has a row" in err and "--replace" in err
    assert snapshot(lb) == before
    assert cli.main(["--dir", str(lb), "submit", "--replace", str(again)]) == 0
    out = capsys.readouterr().out
    assert "replaced: ours aaa/bbb/ccc" in out and "accepted: ours aaa" in out
    rows = R.read_rows(lb / "results.csv")
    assert [r["agent_version"] for r in rows] == ["aaa"]
    assert sorted(p.stem for p in (lb / "submissions").glob("*.json")) == [rows[0]["row_id"]]
    assert check(board.Paths(lb)) == []
    # a retrained agent (a new version) gets its own row
    other = tmp_path / "other.json"
    write_json_atomic(other, fake_results(agent="ours", version="ddd", seeds=(0,), seed=4))
    assert cli.main(["--dir", str(lb), "submit", str(other)]) == 0
    assert len(R.read_rows(lb / "results.csv")) == 2


def _edit_csv(root: Path, column: str, value: str) -> None:
    rows = R.read_rows(root / "results.csv")
    rows[0][column] = value
    (root / "results.csv").write_text(R.rows_to_csv(rows))


@pytest.mark.parametrize("edit, words", [
    ("score", "columns ['score'] differ"),
    ("verified", "columns ['verification'] differ"),
    ("lost-submit", "without a row in results.csv"),
    ("results-file", "has SHA-256"),
    ("page", "index.html: not what"),
    ("stale-plot", "a generated file that no row needs"),
    ("missing-plot", "missing or not a PNG"),
    ("forged-record", "signature does not match"),
    ("stray", "not a leaderboard file"),
])
def test_check_catches_hand_edits(lb, tmp_path, edit, words):
    rid = R.read_rows(lb / "results.csv")[0]["row_id"]
    if edit == "score":
        _edit_csv(lb, "score", "0.99")
    elif edit == "verified":
        _edit_csv(lb, "verification", "verified")
    elif edit == "lost-submit":
        (lb / "submissions" / "0123456789abcdef.json").write_text("{}")
    elif edit == "results-file":
        sub = lb / "submissions" / f"{rid}.json"
        sub.write_text(sub.read_text().replace('"agent": "ours"', '"agent": "ourz"'))
    elif edit == "page":
        html = lb / "index.html"
        html.write_text(html.read_text().replace("ours", "theirs"))
    elif edit == "stale-plot":
        (lb / "plots" / "rows" / "0123456789abcdef.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    elif edit == "missing-plot":
        next((lb / "plots" / "rows").glob("*.png")).unlink()
    elif edit == "forged-record":
        fake = {"record": {"row_id": rid, "results_sha256": R.read_rows(lb / "results.csv")[0]["results_sha256"],
                           "status": "verified"}, "signature": "AAAA"}
        (lb / "verifications").mkdir()
        (lb / "verifications" / f"{rid}.json").write_text(json.dumps(fake))
    elif edit == "stray":
        (lb / "notes.txt").write_text("x")
    problems = check(board.Paths(lb))
    assert any(words in p for p in problems), problems
    assert cli.main(["--dir", str(lb), "check"]) == 1


@pytest.mark.slow  # spawns processes
def test_concurrent_submits_from_several_processes_all_land(lb, tmp_path):
    """Four `python -m leaderboard submit` processes started at once: four rows, every file kept."""
    paths = []
    for i in range(4):
        p = tmp_path / f"agent{i}.json"
        write_json_atomic(p, fake_results(agent=f"agent-{i}", seed=10 + i))
        paths.append(p)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-m", "leaderboard", "--dir", str(lb), "submit", str(p)], cwd=REPO,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in paths]
    # and a render and a withdrawal racing with them
    procs.append(subprocess.Popen([sys.executable, "-m", "leaderboard", "--dir", str(lb), "render"], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    procs.append(subprocess.Popen([sys.executable, "-m", "leaderboard", "--dir", str(lb), "withdraw", "ours", "aaa/bbb/ccc"],
                                  cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert sum("accepted:" in out for out, _ in outs) == 4
    rows = R.read_rows(lb / "results.csv")
    assert sorted(r["agent"] for r in rows) == [f"agent-{i}" for i in range(4)]
    assert len(list((lb / "submissions").glob("*.json"))) == 4
    assert check(board.Paths(lb)) == []


def test_check_judges_plots_by_their_inputs_not_their_bytes(lb):
    """Another matplotlib draws other PNG bytes from the same inputs: still up to date."""
    from PIL import Image

    png = next((lb / "plots" / "rows").glob("*.png"))
    Image.open(png).convert("L").save(png)  # a valid PNG with other bytes
    assert check(board.Paths(lb)) == []
