"""The harness on an env with held-out tasks (RefExp/Desk-v2): M from the registry for the Bayes-optimal
curve, train and test compositions scored apart (results field `splits`), validated; files without a
split still validate."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import refexp_envs
from benchmark import stats
from benchmark.results import make_results, split_lines
from benchmark.schema import SchemaError, validate_results

ENV = "RefExp/Desk-v2"
META = {"name": "synthetic", "version": "1", "eligible": True}


def _results(env_id: str, raw, tasks, seeds=(0, 1), tpt: int = 1) -> dict:
    s, t, k = np.shape(raw)
    return make_results(
        meta=META, agent_spec="synthetic", env_id=env_id, num_drawers=refexp_envs.num_tasks(env_id), obs_type="pixels",
        dataset_id=None, training_seeds=list(seeds), eval_seed=0, secret_id="0" * 16, trials_per_task=tpt,
        raw_successes=raw, raw_tasks=tasks, raw_returns=np.zeros((s, t, k)).tolist(),
        raw_rollouts=[[f"r{i}_{j}" for j in range(t)] for i in range(s)], wall_time_s=1.0, workers=1, batch=1,
        packages={}, machine_info={}, renderer=None, bootstrap_samples=50)


def _explorer_raw(seeds: int = 2, test_fails: bool = False):
    """Bayes-optimal successes on every task (slot t % 4 is found in episode t % 4 + 1); optionally
    never a success on the test tasks."""
    tasks = np.array([np.random.default_rng(i).permutation(64) for i in range(seeds)])
    raw = np.zeros((seeds, 64, 4), dtype=int)
    for i in range(seeds):
        for j, task in enumerate(tasks[i]):
            if test_fails and refexp_envs.split_of(ENV, int(task)) == "test":
                continue
            raw[i, j, task % 4:] = 1
    return raw.tolist(), tasks.tolist()


def test_bayes_optimal_curve_uses_m_not_the_task_count():
    raw, tasks = _explorer_raw()
    res = _results(ENV, raw, tasks)
    assert res["choices"] == 4 and res["num_drawers"] == 64
    np.testing.assert_allclose(res["bayes_optimal"], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(res["success_rate"], [0.25, 0.5, 0.75, 1.0])
    assert res["exploration_score"] == pytest.approx(1.0) and res["seeds_at_bayes_optimal"] == 2


def test_train_and_test_scored_apart_and_validated():
    raw, tasks = _explorer_raw(test_fails=True)
    res = _results(ENV, raw, tasks)
    train, test = res["splits"]["train"], res["splits"]["test"]
    assert train["tasks"] == 48 and test["tasks"] == 16
    np.testing.assert_allclose(train["success_rate"], [0.25, 0.5, 0.75, 1.0])
    assert train["exploration_score"] == pytest.approx(1.0)
    assert test["success_rate"] == [0.0] * 4 and test["exploration_score"] == pytest.approx(-2 / 3)
    assert len(train["ci_low"]) == 4 and len(test["seed_curves"]) == 2
    np.testing.assert_allclose(res["success_rate"], [0.75 * x for x in (0.25, 0.5, 0.75, 1.0)])  # 48 of 64 tasks
    lines = split_lines(res)
    assert lines[0].startswith("train (48 tasks)") and lines[1].startswith("test (16 tasks)")
    validate_results(res)
    for key, value in (("success_rate", [1.0] * 4), ("exploration_score", 1.0), ("tasks", 17)):
        bad = copy.deepcopy(res)
        bad["splits"]["test"][key] = value
        with pytest.raises(SchemaError, match="splits"):
            validate_results(bad)
    bad = copy.deepcopy(res)
    bad["splits"]["test"]["ci_low"] = [0.5] * 4  # above the success rate
    with pytest.raises(SchemaError, match="around success_rate"):
        validate_results(bad)
    bad = copy.deepcopy(res)
    del bad["splits"]
    with pytest.raises(SchemaError, match="held-out|train and test"):
        validate_results(bad)
    bad = copy.deepcopy(res)
    bad["choices"] = 64
    with pytest.raises(SchemaError, match="choices"):
        validate_results(bad)


def test_one_seed_split_has_no_interval():
    raw, tasks = _explorer_raw(seeds=1)
    res = _results(ENV, raw, tasks, seeds=(0,))
    assert res["splits"]["test"]["ci_low"] is None and res["splits"]["train"]["ci_high"] is None
    validate_results(res)


def test_envs_without_a_split_keep_their_results_format():
    rng = np.random.default_rng(0)
    tasks = [rng.permutation(2).tolist() * 2 for _ in range(2)]
    raw = rng.integers(0, 2, size=(2, 4, 3)).tolist()
    res = _results("RefExp/TwoDrawer-v1", raw, tasks, tpt=2)
    assert res["splits"] is None and res["choices"] == 2
    validate_results(res)
    old = dict(res)
    del old["splits"], old["choices"]  # a file written before either field: still valid
    validate_results(old)
    bad = copy.deepcopy(res)
    bad["splits"] = {"train": {}, "test": {}}
    with pytest.raises(SchemaError, match="no held-out split"):
        validate_results(bad)


def test_split_summaries_refuse_an_empty_split():
    raw, tasks = _explorer_raw(seeds=1)
    with pytest.raises(ValueError, match="no tasks"):
        stats.split_summaries(raw, tasks, 64, 4, {"test": []})


@pytest.mark.slow
def test_scripted_agents_on_desk_through_the_harness():
    """One trial per task (64 trials of K = 4), state observations: the scripted explorer (it tries slot 0,
    1, ... until one pays) is Bayes-optimal on train and test compositions alike; always-first gets 1/4."""
    from benchmark.run import evaluate

    res = evaluate("scripted-explorer", ENV, trials_per_task=1, workers=1, progress=False, obs_type="state")
    assert res["episodes"] == 4 and res["num_drawers"] == 64 and res["choices"] == 4
    for curve in (res["success_rate"], res["splits"]["train"]["success_rate"], res["splits"]["test"]["success_rate"]):
        np.testing.assert_allclose(curve, [0.25, 0.5, 0.75, 1.0])
    assert res["splits"]["test"]["exploration_score"] == pytest.approx(1.0)
    validate_results(res)
