"""refexp_baselines.report: the Figure-2 table and plot of trained runs, with the harness's statistics."""

import json

import numpy as np
import pytest

from benchmark.results import make_results
from refexp_baselines import report


def _final_eval(root, seed, p, n=3, k=2, tpt=4):
    """A train.py-style final evaluation (a harness results file) of one training seed."""
    rng = np.random.default_rng(seed)
    t = n * tpt
    raw = (rng.random((1, t, k)) < np.asarray(p)).astype(int)
    tasks = [rng.permutation(np.repeat(np.arange(n), tpt)).tolist()]
    res = make_results(meta={"name": "ours", "version": "x", "eligible": True}, agent_spec="ours",
                       env_id="RefExp/ThreeDrawer-v0", num_drawers=n, obs_type="pixels", dataset_id=None,
                       training_seeds=(seed,), eval_seed=0, secret_id="0123456789abcdef", trials_per_task=tpt,
                       raw_successes=raw.tolist(), raw_tasks=tasks, raw_returns=raw.astype(float).tolist(),
                       raw_rollouts=[[str(i) for i in range(t)]], wall_time_s=1.0, workers=1, batch=1,
                       bootstrap_samples=100, packages={}, machine_info={})
    d = root / "three-drawer-v0" / "default" / f"seed{seed}" / "agent-ours-abc"
    d.mkdir(parents=True)
    (d / "final_eval_tpt4.json").write_text(json.dumps(res))
    return res


def test_report_takes_k_and_n_from_the_files(tmp_path):
    runs = [_final_eval(tmp_path, s, p) for s, p in ((0, (0.3, 0.7)), (1, (0.3, 0.6)))]
    found = report.collect(str(tmp_path), "RefExp/ThreeDrawer-v0")
    assert list(found) == ["ours"] and len(found["ours"]) == 2
    text = report.table(found)
    assert "episode 2 |" in text and "episode 3" not in text  # K = 2 from the files
    assert "| Bayes-optimal | - | - | 0.33 | 0.67 |" in text  # N = 3 from the files
    seeds, s, trials = report.summarise(found["ours"])
    curves = [np.mean([np.asarray(r["raw_successes"][0])[np.asarray(r["raw_tasks"][0]) == task].mean(0)
                       for task in range(3)], axis=0) for r in runs]
    assert seeds == [0, 1] and trials == 12
    assert s.success_rate == pytest.approx(np.mean(curves, axis=0))
    png = report.plot(found, str(tmp_path / "fig.png"))
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_report_refuses_evaluations_of_different_settings(tmp_path):
    _final_eval(tmp_path, 0, (0.3, 0.7))
    _final_eval(tmp_path, 1, (0.3, 0.7), tpt=2)
    with pytest.raises(ValueError, match="differ"):
        report.table(report.collect(str(tmp_path), "RefExp/ThreeDrawer-v0"))
