"""leaderboard.families: the side-by-side table of every method family, generated from results files
(rows grouped by family, intervals re-derived from raw successes, wall time from checkpoint metadata)."""

import json

import numpy as np
import pytest

from benchmark import stats
from benchmark.results import make_results
from benchmark.text import interval
from leaderboard import families as F

TWO = "RefExp/TwoDrawer-v1"


def _results(folder, agent, p, env=TWO, seeds=(0, 1), k=2, tpt=4, dataset_id="refexp/two-drawer/expert-v1", **extra):
    """A results file of `agent` over `seeds`, each trial succeeding with probability p[e] in episode e."""
    n = 3 if "Three" in env else 2
    rng = np.random.default_rng(len(agent) + 7 * len(env))
    t = n * tpt
    raw = (rng.random((len(seeds), t, k)) < np.asarray(p)).astype(int)
    tasks = [rng.permutation(np.repeat(np.arange(n), tpt)).tolist() for _ in seeds]
    res = make_results(meta={"name": agent, "version": "x", "eligible": True}, agent_spec=agent, env_id=env,
                       num_drawers=n, obs_type="pixels", dataset_id=dataset_id, training_seeds=seeds, eval_seed=0,
                       secret_id="0123456789abcdef", trials_per_task=tpt, raw_successes=raw.tolist(), raw_tasks=tasks,
                       raw_returns=raw.astype(float).tolist(), raw_rollouts=[[f"{s}-{i}" for i in range(t)] for s in seeds],
                       wall_time_s=1.0, workers=1, batch=1, bootstrap_samples=50, packages={},
                       machine_info={"cpu": "cpu", "cpu_count": 2})
    res.update(extra)
    folder.mkdir(exist_ok=True)
    (folder / f"{agent}_{env.split('/')[-1].lower()}_{res['obs_type']}.json").write_text(json.dumps(res))
    return res


def _row(text, agent):
    return next(line for line in text.splitlines() if line.startswith("| ") and f"| {agent} |" in line)


def test_rows_are_grouped_and_ordered_by_family(tmp_path):
    res = tmp_path / "res"
    for agent in ("pearl", "ours-onestep", "borel", "ours", "ours-onestep-cql5", "no-expl"):
        _results(res, agent, (0.5, 0.7))
    _results(res, "rl2", (0.5, 0.6), dataset_id=None, online_steps=1000)
    _results(res, "rl2-state", (0.5, 0.6), dataset_id=None, online_steps=5000, obs_type="state")
    _results(res, "pearl", (0.4, 0.5), env="RefExp/TwoDrawerShift-v1")  # not an env of the table
    found = F.collect(res)
    assert list(found) == [(TWO, 2, "pixels"), (TWO, 2, "state")]  # state rows apart from the ranked pixel rows
    # RefExp's paper agents in their order (ours-onestep-cql5 is not one), then RL^2, BOReL, PEARL
    assert [r["agent"] for r in found[(TWO, 2, "pixels")]] == ["ours", "no-expl", "ours-onestep", "rl2", "borel", "pearl"]
    text = F.table(found[(TWO, 2, "pixels")], tmp_path / "none")
    fams = [line.split(" | ")[0][2:] for line in text.splitlines() if line.startswith("| ") and " | " in line][1:]
    assert fams == ["RefExp", "RefExp", "RefExp", "RL^2", "BOReL", "PEARL", "Bayes-optimal"]
    assert "| online, 1000 steps |" in _row(text, "rl2")
    body = F.block(found, tmp_path / "none")
    pixels, state = body.split("### RefExp/TwoDrawer-v1 (K = 2), state observations (not ranked)")
    assert "| rl2-state |" not in pixels and "| online, 5000 steps |" in _row(state, "rl2-state")
    assert "No row yet" not in state and "state observations (not ranked): means" in state
    assert "| refexp/two-drawer/expert-v1 (2 x 1000 offline episodes) |" in _row(text, "pearl")


def test_a_family_without_a_file_is_named_in_the_no_row_line(tmp_path):
    res = tmp_path / "res"
    _results(res, "ours", (0.5, 0.7))
    _results(res, "pearl", (0.5, 0.6))
    _results(res, "pearl", (0.3, 0.5, 0.6), env="RefExp/ThreeDrawer-v1", k=3, dataset_id="refexp/three-drawer/expert-v1")
    body = F.block(F.collect(res), tmp_path / "none")
    two, three = body.split("### RefExp/ThreeDrawer-v1 (K = 3)")
    assert "### RefExp/TwoDrawer-v1 (K = 2)" in two
    assert "*No row yet: RL^2, DPT, BOReL, offline RL.*" in two
    assert "*No row yet: RefExp, RL^2, DPT, BOReL, offline RL.*" in three
    assert "| episode 3 |" in three and "| episode 3 |" not in two


def test_an_env_without_results_says_so(tmp_path):
    res = tmp_path / "res"
    _results(res, "ours", (0.5, 0.7))
    assert "*No results file on RefExp/ThreeDrawer-v1 yet.*" in F.block(F.collect(res), tmp_path / "none")


def test_cells_are_the_intervals_summarise_gives_for_the_raw_successes(tmp_path):
    res = _results(tmp_path / "res", "pearl", (0.3, 0.8), seeds=(0, 1, 2))
    row = _row(F.table(F.collect(tmp_path / "res")[(TWO, 2, "pixels")], tmp_path / "none"), "pearl")
    sm = stats.summarise(res["raw_successes"], res["raw_tasks"], 2, choices=2)
    for e in range(2):
        assert f"| {interval(sm.success_rate[e], sm.ci_low[e], sm.ci_high[e])} |" in row
    assert f"| {interval(sm.exploration_score, *sm.exploration_score_ci)} |" in row
    assert f"| {sm.seeds_at_bayes_optimal} of 3 |" in row
    assert row.startswith("| PEARL | pearl | 3 (0,1,2) | 8 (") and " x 1000 offline episodes)" in row


def _timing(seconds):
    """`stage_timing` as a shipped RefExp checkpoint records it, summing to `seconds`."""
    return {"frames": {"train_s": seconds / 5, "encode_s": seconds / 5, "train_frames_per_s": 1e9},
            "belief": {"train_s": seconds / 5}, "agent": {"timing": {"train_s": seconds / 5, "pool_s": seconds / 5, "eval_s": 1e9}}}


def test_wall_time_comes_from_checkpoint_metadata_and_is_not_recorded_otherwise(tmp_path):
    ck = tmp_path / "ck"
    ck.mkdir()
    (ck / "two-drawer-v1-ours.json").write_text(json.dumps({"stage_timing": _timing(120.0)}))
    (ck / "two-drawer-v1-ours-seed1.json").write_text(json.dumps({"stage_timing": _timing(240.0)}))
    (ck / "two-drawer-v1-no-expl.json").write_text(json.dumps({"stage_timing": _timing(1200.0)}))  # seed 1 has none
    pearl = ck / "families" / "pearl" / "twodrawer-v1-seed0"
    pearl.mkdir(parents=True)
    (pearl / "config.json").write_text(json.dumps({"config": {"seed": 0}}))  # no stage_timing: not recorded
    res = tmp_path / "res"
    for agent in ("ours", "no-expl", "pearl"):
        _results(res, agent, (0.5, 0.7))
    text = F.table(F.collect(res)[(TWO, 2, "pixels")], ck)
    assert _row(text, "ours").endswith("| 3.0 min (median of 2) |")
    assert _row(text, "no-expl").endswith("| 20 min (median of 1; 1 not recorded) |")
    assert _row(text, "pearl").endswith("| not recorded |")
    (pearl / "config.json").write_text(json.dumps({"stage_timing": _timing(60.0)}))
    assert F.wall_time(F.collect(res)[(TWO, 2, "pixels")][-1], ck) == "1.0 min (median of 1; 1 not recorded)"
    (pearl / "config.json").write_text(json.dumps({"train_wall_s": 1800.0}))  # a one-stage family run's record
    assert F.wall_time(F.collect(res)[(TWO, 2, "pixels")][-1], ck) == "30 min (median of 1; 1 not recorded)"


def test_check_is_stale_until_write_and_write_keeps_the_rest(tmp_path, capsys):
    res = tmp_path / "res"
    _results(res, "ours", (0.5, 0.7))
    doc = tmp_path / "doc.md"
    doc.write_text("# t\n\nbefore\n\n<!-- families:table -->\nold numbers\n<!-- /families -->\n\nafter\n")
    args = ["--results", str(res), "--checkpoints", str(tmp_path / "none")]
    assert F.main([*args, "--check", str(doc)]) == 1
    assert "stale:" in capsys.readouterr().err
    assert F.main([*args, "--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# t\n\nbefore\n\n<!-- families:table -->\n### RefExp/TwoDrawer-v1 (K = 2)\n")
    assert text.endswith("<!-- /families -->\n\nafter\n") and "old numbers" not in text
    assert F.main([*args, "--check", str(doc)]) == 0
    _results(res, "pearl", (0.5, 0.6))  # a new results file makes the doc stale again
    assert F.main([*args, "--check", str(doc)]) == 1


def test_a_doc_without_the_markers_or_a_missing_folder_is_a_usage_error(tmp_path):
    res = tmp_path / "res"
    _results(res, "ours", (0.5, 0.7))
    doc = tmp_path / "doc.md"
    doc.write_text("# no block here\n<!-- report:headline -->\n<!-- /report -->\n")
    for argv in (["--results", str(res), "--check", str(doc)], ["--results", str(res), "--write", str(doc)],
                 ["--results", str(tmp_path / "missing"), "--check", str(doc)]):
        with pytest.raises(SystemExit) as exc:
            F.main(argv)
        assert exc.value.code == 2
    assert doc.read_text() == "# no block here\n<!-- report:headline -->\n<!-- /report -->\n"


def test_help_names_the_command_and_its_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        F.main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: python -m leaderboard.families ") and "Exit status: 0" in out
    assert "(default: None)" not in out


def test_other_secret_table_says_which_rows_hold(tmp_path):
    res, other = tmp_path / "res", tmp_path / "res" / F.OTHER_SECRET
    for agent in ("pearl", "borel", "dpt", "rl2", "ours"):
        _results(res, agent, (0.5, 1.0), seeds=(0, 1, 2), tpt=20)
    _results(other, "pearl", (0.5, 1.0), seeds=(0, 1, 2), tpt=20, eval_seed=1, secret_id="fedcba9876543210")  # the same picture
    _results(other, "borel", (0.5, 0.0), seeds=(0, 1, 2), tpt=20, eval_seed=1)  # explores no more: the intervals part
    _results(other, "dpt", (0.5, 1.0), seeds=(0, 1, 2), tpt=20, eval_seed=1, agent_version="y")  # other weights
    _results(other, "rl2", (0.5, 1.0), seeds=(0, 1), tpt=20, eval_seed=1)  # other training seeds: not a re-score of the row
    text = F.other_secret_table(res)
    assert "| ours |" not in text  # the RefExp family's re-scores live elsewhere
    a = _results(tmp_path / "x", "pearl", (0.5, 1.0), seeds=(0, 1, 2), tpt=20)
    sm = stats.summarise(a["raw_successes"], a["raw_tasks"], 2)
    assert f"| {interval(sm.exploration_score, *sm.exploration_score_ci)} | {interval(sm.exploration_score, *sm.exploration_score_ci)} | yes | yes |" in _row(text, "pearl")
    assert _row(text, "borel").endswith("| yes | **no** |")
    assert _row(text, "dpt").endswith("| no (y) | **no** |")
    assert "not re-scored yet" in _row(text, "rl2")
    assert "*1 of 3 re-scored rows hold." in text and "other secret id 0123456789abcdef, fedcba9876543210" in text
    doc = tmp_path / "doc.md"
    doc.write_text("x\n<!-- families:table -->\n<!-- /families -->\ny\n<!-- families:other-secret -->\nSTALE-LINE\n<!-- /families:other-secret -->\n")
    assert F.main(["--results", str(res), "--checkpoints", str(tmp_path / "none"), "--check", str(doc)]) == 1
    assert F.main(["--results", str(res), "--checkpoints", str(tmp_path / "none"), "--write", str(doc)]) == 0
    assert "*1 of 3 re-scored rows hold." in doc.read_text() and "STALE-LINE" not in doc.read_text()
    assert F.main(["--results", str(res), "--checkpoints", str(tmp_path / "none"), "--check", str(doc)]) == 0
