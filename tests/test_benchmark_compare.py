"""benchmark.compare: two results files of the same trials, compared trial by trial."""

import copy
import json

import pytest

from benchmark import compare
from benchmark.results import make_results


def _results(successes, eval_seed=0):
    tasks = [[0, 1, 1, 0]]
    return make_results(meta={"name": "x", "version": "1", "eligible": True}, agent_spec="x",
                        env_id="RefExp/TwoDrawer-v1", num_drawers=2, obs_type="pixels", dataset_id=None,
                        training_seeds=(0,), eval_seed=eval_seed, secret_id="0123456789abcdef", trials_per_task=2,
                        raw_successes=[successes], raw_tasks=tasks, raw_returns=[[[0.0, 0.0]] * 4],
                        raw_rollouts=[[f"r{i}" for i in range(4)]], wall_time_s=1.0, workers=1, batch=1,
                        bootstrap_samples=50, packages={}, machine_info={})


def test_counts_the_trials_whose_outcomes_differ(tmp_path, capsys):
    a = _results([[1, 1], [0, 1], [1, 1], [0, 0]])
    b = copy.deepcopy(a)
    b["raw_successes"][0][3] = [0, 1]
    b["raw_rollouts"][0][3] = "other"
    res = compare.compare(a, b)
    assert (res["trials"], res["outcomes_differ"], res["actions_differ"]) == (4, 1, 1)
    assert res["differing"] == [{"seed": 0, "trial": 3, "task": 0, "a": [0, 0], "b": [0, 1]}]
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a)), pb.write_text(json.dumps(b))
    assert compare.main([str(pa), str(pa)]) == 0
    assert compare.main([str(pa), str(pb)]) == 1
    assert "outcomes differ in 1" in capsys.readouterr().out


def test_refuses_runs_of_different_trials(tmp_path):
    with pytest.raises(ValueError, match="eval_seed 0 vs 3"):
        compare.compare(_results([[1, 1]] * 4), _results([[1, 1]] * 4, eval_seed=3))
