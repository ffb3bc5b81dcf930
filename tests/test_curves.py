"""leaderboard.curves: the RL^2 learning-curve figure, drawn from shipped curve.csv files as data."""

import csv

import numpy as np
import pytest

from leaderboard import curves

ENV = "RefExp/TwoDrawer-v1"


def _ship_curve(root, agent, seed, points):
    d = root / "families" / agent / f"twodrawer-v1-seed{seed}"
    d.mkdir(parents=True)
    with open(d / "curve.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["env_steps", "success_ep1", "success_ep2", "success_ep3", "exploration_score", "secret_id"])
        w.writeheader()
        for steps, ex in points:
            w.writerow({"env_steps": steps, "success_ep1": 0.5, "success_ep2": 0.6, "success_ep3": 0.7,
                        "exploration_score": ex, "secret_id": "abc"})


def test_mean_curve_is_over_seeds_at_the_steps_all_have(tmp_path):
    _ship_curve(tmp_path, "rl2-state", 0, [(0, -1.5), (100, 0.0), (200, 1.0)])
    _ship_curve(tmp_path, "rl2-state", 3, [(0, -0.5), (100, 0.5)])  # a run still going: 200 not reached
    runs = curves.read_runs(tmp_path, "rl2-state", ENV)
    assert sorted(runs) == [0, 3] and runs[0][1]["env_steps"] == 100.0
    x, y = curves.mean_curve(runs, "exploration_score")
    assert x.tolist() == [0, 100] and np.allclose(y, [-1.0, 0.25])


def test_figure_is_drawn_from_the_shipped_curves_and_says_what_it_drew(tmp_path, capsys):
    _ship_curve(tmp_path, "rl2-state", 0, [(0, -1.5), (20000, 0.2)])
    _ship_curve(tmp_path, "rl2-state", 1, [(0, -1.5), (20000, 0.4)])
    _ship_curve(tmp_path, "rl2", 0, [(0, -1.5), (20000, -1.0)])
    out = tmp_path / "fig.png"
    assert curves.main(["--checkpoints", str(tmp_path), "--results", str(tmp_path / "none"), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    said = capsys.readouterr().out
    assert '"state": [0, 1]' in said and '"pixels": [0]' in said and '"offline_steps": 100000' in said
    assert curves.offline_steps(ENV) == 2 * 1000 * 50  # the default dataset: tasks x episodes x horizon


def test_nothing_to_draw_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        curves.main(["--checkpoints", str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2 and not (tmp_path / "x.png").exists()
