"""refexp_baselines.sweep: the stage graph trains each distinct stage once, resumes, scores every
agent through the harness into one results file per variant (the Ray twin is in test_ray.py)."""

from __future__ import annotations

import json

import pytest

from refexp_baselines.sweep import SweepConfig, build_graph, main, parse_grid, run_sweep

TINY = ("frames.latent=4", "frames.channels=4", "frames.steps=2", "frames.batch=8", "belief.deter=8", "belief.stoch=2",
        "belief.hidden=8", "belief.steps=2", "belief.batch=2", "agent.hidden=16", "agent.batch=8", "agent.steps=2",
        "agent.pool_trajectories=4", "agent.bc_steps=1", "eval_trials=0")


def tiny_sweep(tmp_path, **kw) -> SweepConfig:
    base = dict(agents=("ours", "no-cql"), seeds=(0, 1), dataset="local:2", overrides=TINY,
                runs_dir=str(tmp_path / "runs"), out=str(tmp_path / "out"), trials_per_task=0, progress=False)
    return SweepConfig(**{**base, **kw})


def test_grid_and_graph_share_upstream_stages(tmp_path):
    assert parse_grid(["agent.cql_alpha=1,5", "belief.k=2,3"]) == [
        {"agent.cql_alpha": "1", "belief.k": "2"}, {"agent.cql_alpha": "1", "belief.k": "3"},
        {"agent.cql_alpha": "5", "belief.k": "2"}, {"agent.cql_alpha": "5", "belief.k": "3"}]
    with pytest.raises(ValueError, match="--grid expects"):
        parse_grid(["agent.cql_alpha"])
    sc = tiny_sweep(tmp_path, agents=("ours", "no-cql", "no-expl"), grid=("agent.cql_alpha=1,5",), trials_per_task=1)
    kinds = [n.kind for n in build_graph(sc).values()]
    # per seed: one frames stage for all; belief shared by ours/no-cql, its own for no-expl (naive
    # meta-trajectories); cql_alpha only changes the agent stage (no-cql's grid points set alpha too)
    assert kinds.count("data") == 1 and kinds.count("frames") == 2 and kinds.count("belief") == 4
    assert kinds.count("agent") == 2 * 3 * 2 and kinds.count("score") == 12


@pytest.mark.slow
def test_tiny_sweep_trains_shared_stages_once_resumes_and_scores(tmp_path):
    sc = tiny_sweep(tmp_path, trials_per_task=1)
    res = run_sweep(sc, log=lambda s: None)
    ran = [res["graph"][k] for k in res["ran"]]
    assert sorted(ran) == sorted(["data"] + ["frames"] * 2 + ["belief"] * 2 + ["agent"] * 4 + ["score"] * 4)
    runs = tmp_path / "runs"
    assert len(list(runs.glob("*/*/seed*/frames-*/codes.npz"))) == 2  # ours and no-cql share frames + belief
    assert len(list(runs.glob("*/*/seed*/belief-*/model.pt"))) == 2
    assert len(list(runs.glob("*/*/seed*/agent-*/agent.pt"))) == 4
    assert len(res["results"]) == 2
    for path in res["results"]:
        r = json.loads(open(path).read())
        assert r["training_seeds"] == [0, 1] and len(r["raw_successes"]) == 2 and r["trials_per_task"] == 1
    log = [json.loads(line) for line in (tmp_path / "out" / "sweep_log.jsonl").read_text().splitlines()]
    assert len(log) == 13
    again = run_sweep(sc, log=lambda s: None)  # a finished sweep: only the cheap data check runs
    assert [again["graph"][k] for k in again["ran"]] == ["data"]
    assert set(again["nodes"].values()) <= {"skipped", "done"}


def test_cli_usage_errors_exit_2(capsys):
    for argv in (["--agents", "nope"], ["--envs", "RefExp/Nope-v0"], ["--grid", "agent.cql_alpha"],
                 ["--set", "agent.nope=1"], ["--ray-address", "127.0.0.1:1"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2, argv
    assert "--ray-address needs --backend ray" in capsys.readouterr().err


def test_a_bundle_shipped_from_another_config_is_neither_kept_nor_scored(tmp_path, monkeypatch):
    """A rerun with --ship must replace (and never score) a bundle that an earlier config of the same
    name, env and seed shipped, e.g. `ours` before a default changed, and score the new bundle again."""
    import dataclasses

    from refexp_baselines import agent as A
    from refexp_baselines import configs as C
    from refexp_baselines.sweep import scored_shipped, shipped_bundle, shipped_is

    monkeypatch.setattr(A, "CHECKPOINT_DIR", tmp_path)
    cfg = C.variant("ours", seed=2)
    path = shipped_bundle(cfg)
    assert path.parent == tmp_path and not shipped_is(cfg)  # nothing shipped
    path.write_bytes(b"bundle")
    older = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, cql_alpha=0.0))
    path.with_suffix(".json").write_text(json.dumps({"config": dataclasses.asdict(older)}))
    assert not shipped_is(cfg)  # another config's bundle
    path.with_suffix(".json").write_text(json.dumps({"config": dataclasses.asdict(cfg)}))
    assert shipped_is(cfg)
    assert not shipped_is(dataclasses.replace(cfg, agent_name="no-cql"))  # same stages, another name
    # a seed result of the bundle once shipped stays done; after a re-ship it is scored again
    result = tmp_path / "seed.json"
    result.write_text(json.dumps({"agent_version": A.bundle_version(path)}))
    assert scored_shipped(result, cfg)
    path.write_bytes(b"re-shipped bundle")
    assert not scored_shipped(result, cfg)
