"""benchmark.pool: single-run results files pooled with intervals over the runs."""

import json

import pytest

from benchmark import pool
from benchmark.results import make_results

TASKS = [0, 1, 1, 0]
RUNS = [[[1, 1], [0, 1], [1, 1], [0, 0]], [[0, 1], [1, 1], [0, 1], [0, 1]], [[1, 1], [1, 1], [1, 1], [1, 1]]]


def _results(successes_per_run, seeds, eval_seed=0):
    return make_results(meta={"name": "x", "version": "1", "eligible": True}, agent_spec="x",
                        env_id="RefExp/TwoDrawer-v1", num_drawers=2, obs_type="pixels", dataset_id=None,
                        training_seeds=seeds, eval_seed=eval_seed, secret_id="0123456789abcdef", trials_per_task=2,
                        raw_successes=successes_per_run, raw_tasks=[TASKS] * len(seeds),
                        raw_returns=[[[0.0, 0.0]] * 4] * len(seeds),
                        raw_rollouts=[[f"r{s}{i}" for i in range(4)] for s in seeds], wall_time_s=1.0, workers=1,
                        batch=1, bootstrap_samples=200, packages={}, machine_info={})


def test_pooled_runs_summarise_like_the_harness_over_seeds(tmp_path, capsys):
    singles = [_results([run], (0,)) for run in RUNS]  # each checkpoint scored alone, labelled seed 0
    together = _results(RUNS, (0, 1, 2))
    s = pool.pool(singles)
    assert s.success_rate == pytest.approx(together["success_rate"])
    assert s.seed_curves == together["seed_curves"]
    assert s.exploration_score == pytest.approx(together["exploration_score"])
    assert s.success_rate == pytest.approx([(0.5 + 0.25 + 1) / 3, (0.75 + 1 + 1) / 3])
    files = []
    for i, r in enumerate(singles):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps(r))
    assert pool.main(["--label", "alpha 5", "--header", *map(str, files)]) == 0
    out = capsys.readouterr().out
    assert "| alpha 5 | 3 x 4 | 0.58 / 0.92 |" in out


def test_refuses_what_cannot_be_pooled(tmp_path):
    one = _results([RUNS[0]], (0,))
    with pytest.raises(ValueError, match="at least 2"):
        pool.pool([one])
    with pytest.raises(ValueError, match="eval_seed 0 vs 3"):
        pool.pool([one, _results([RUNS[1]], (0,), eval_seed=3)])
    with pytest.raises(ValueError, match="one training run"):
        pool.pool([one, _results(RUNS[:2], (0, 1))])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(one))
    assert pool.main([str(bad)]) == 2
