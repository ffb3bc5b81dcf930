"""refexp_baselines.report: tables and figures generated from results files, and the shipped ones
match what README.md and docs/method.md show."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.results import make_results
from refexp_baselines import report

ROOT = Path(__file__).resolve().parents[1]


def _results(folder, agent, p, seeds=(0, 1), n=3, k=2, tpt=4, eval_seed=0):
    """A results file of `agent` over `seeds`, each succeeding with probability p[e] in episode e."""
    rng = np.random.default_rng(len(agent))
    t = n * tpt
    raw = (rng.random((len(seeds), t, k)) < np.asarray(p)).astype(int)
    tasks = [rng.permutation(np.repeat(np.arange(n), tpt)).tolist() for _ in seeds]
    res = make_results(meta={"name": agent, "version": "x", "eligible": agent != "oracle-task"}, agent_spec=agent,
                       env_id="RefExp/ThreeDrawer-v1", num_drawers=n, obs_type="pixels", dataset_id=None,
                       training_seeds=seeds, eval_seed=eval_seed, secret_id="0123456789abcdef", trials_per_task=tpt,
                       raw_successes=raw.tolist(), raw_tasks=tasks, raw_returns=raw.astype(float).tolist(),
                       raw_rollouts=[[f"{s}-{i}" for i in range(t)] for s in seeds], wall_time_s=1.0, workers=1,
                       batch=1, bootstrap_samples=100, packages={}, machine_info={"cpu": "cpu", "cpu_count": 2})
    folder.mkdir(exist_ok=True)
    (folder / f"{agent}.json").write_text(json.dumps(res))
    return res


def test_table_shows_the_stored_statistics_with_k_and_n_from_the_files(tmp_path):
    ours = _results(tmp_path, "ours", (0.3, 0.7))
    _results(tmp_path, "oracle-task", (0.9, 0.9))
    found = report.collect(tmp_path)
    assert list(found) == ["RefExp/ThreeDrawer-v1"]
    rows = found["RefExp/ThreeDrawer-v1"]
    assert [r["agent"] for r in rows] == ["ours", "oracle-task"]  # configs.AGENT_NAMES order
    text = report.table(rows)
    assert "episode 2 |" in text and "episode 3" not in text  # K = 2 from the files
    assert "| Bayes-optimal | - | - | 0.33 | 0.67 |" in text  # N = 3 from the files
    lo, hi = ours["ci_low"][1], ours["ci_high"][1]
    assert f"| ours | 2 (0,1) | 12 (12) | {ours['success_rate'][0]:.2f}" in text
    assert f"{ours['success_rate'][1]:.2f} [{lo:.2f}, {hi:.2f}]" in text
    assert "oracle-task (ineligible: sees the task)" in text
    state = {**ours, "agent": "rl2-state", "obs_type": "state"}
    assert "| rl2-state (state observations: not ranked) |" in report.table([ours, state])
    assert "not ranked" not in report.table([ours])


def test_write_fills_report_blocks_and_check_sees_a_stale_one(tmp_path):
    res = tmp_path / "res"
    _results(res, "ours", (0.3, 0.7))
    doc = tmp_path / "doc.md"
    doc.write_text("# t\n<!-- report:table RefExp/ThreeDrawer-v1 -->\nold numbers\n<!-- /report -->\nafter\n")
    args = ["--results", str(res)]
    assert report.main([*args, "--check", str(doc)]) == 1
    fig = ROOT / report.figure_path("RefExp/ThreeDrawer-v1")
    before = fig.read_bytes() if fig.exists() else None
    try:
        assert report.main([*args, "--write", str(doc)]) == 0
        assert fig.read_bytes()[:4] == b"\x89PNG"
    finally:  # the test must not leave its figure in the repository's docs
        fig.write_bytes(before) if before is not None else fig.unlink()
    text = doc.read_text()
    assert "old numbers" not in text and "| ours |" in text and text.endswith("<!-- /report -->\nafter\n")
    assert report.main([*args, "--check", str(doc)]) == 0


def test_results_of_different_settings_are_refused(tmp_path):
    _results(tmp_path, "ours", (0.3, 0.7))
    _results(tmp_path, "no-cql", (0.3, 0.7), eval_seed=5)
    with pytest.raises(ValueError, match="differ"):
        report.table(report.collect(tmp_path)["RefExp/ThreeDrawer-v1"])


def test_readme_and_method_tables_are_what_the_report_makes_of_the_shipped_results():
    results = report.collect()  # an env without files under the current names gets the pending line
    for doc in ("README.md", "docs/results.md", "docs/method.md"):
        text = (ROOT / doc).read_text()
        assert report.BLOCK.search(text), f"{doc} has no report block"
        assert report.render(text, results, doc) == text, f"{doc} is stale: run python -m refexp_baselines.report --write"


def test_a_table_without_files_says_so_and_notes_follow_tables(tmp_path):
    block = "<!-- report:table RefExp/ThreeDrawer-v1 -->\nold\n<!-- /report -->\n"
    assert report.render(block, {}) == block.replace("old\n", report.PENDING)
    rows = [_results(tmp_path, "ours-onestep", (0.3, 0.7))]
    assert any("Re-shipped after a public number" in n for n in report.notes_for(rows))  # ThreeDrawer-v1's note
    assert "*Note: ours-onestep: Re-shipped after a public number" in report.table(rows)


def test_agents_with_identical_outcomes_share_one_curve(tmp_path, monkeypatch):
    ours = _results(tmp_path, "ours", (0.3, 0.7))
    twin = {**ours, "agent": "no-cql", "agent_spec": "no-cql"}  # the same trials and outcomes
    other = _results(tmp_path, "no-expl", (0.3, 0.3))
    assert report.same_outcomes(ours, twin) and not report.same_outcomes(ours, other)
    drawn = {}
    monkeypatch.setattr("benchmark.plot.plot_curves", lambda curves, out, title: drawn.setdefault("labels", [c.label for c in curves]))
    report.plot([ours, twin, other], tmp_path / "fig.png")
    assert drawn["labels"] == ["ours = no-cql (2 seeds)", "no-expl (2 seeds)"]


def test_the_headline_block_has_the_headline_agents_and_every_env_and_the_readme_has_one(tmp_path):
    ours = _results(tmp_path, "ours", (0.3, 0.7))
    _results(tmp_path, "oracle-task", (0.9, 0.9), seeds=(0,))  # not a headline agent: in docs/results.md only
    text = report.headline(report.collect(tmp_path))
    assert "mean over 2 training seeds" in text  # the caption speaks of the rows shown, not of oracle-task's
    assert text.startswith("| agent | ThreeDrawer-v1 (K = 2) |")
    assert f"| ours | {ours['exploration_score']:.2f} [" in text
    assert "oracle-task" not in text and "5 training seeds" not in text
    doc = tmp_path / "doc.md"
    doc.write_text("a\n<!-- report:headline -->\nold\n<!-- /report -->\nb\n")
    assert report.main(["--results", str(tmp_path), "--check", str(doc)]) == 1
    readme = (ROOT / "README.md").read_text()
    assert readme.count("<!-- report:headline -->") == 1 and "<!-- report:table" not in readme
    assert len(readme.splitlines()) <= 150  # README is for a researcher meeting RefExp


def test_an_env_with_held_out_tasks_gets_train_and_test_columns(tmp_path):
    from tests.test_desk_harness import ENV, _explorer_raw, _results as desk_results

    raw, tasks = _explorer_raw(seeds=2, test_fails=True)  # Bayes-optimal on the train desks, nothing on the test ones
    res = {**desk_results(ENV, raw, tasks), "agent": "ours"}
    text = report.table([res])
    head = text.splitlines()[0]
    assert head.endswith("| exploration score, train tasks (48) | exploration score, test tasks (16) |")
    row = next(line for line in text.splitlines() if line.startswith("| ours |"))
    train, test = row.split(" | ")[-2:]
    assert train.startswith("1.00 [1.00, 1.00]") and test.startswith("-0.67 [-0.67, -0.67]")  # (0 - 1/4) / (5/8 - 1/4)
    assert text.splitlines()[2 + 1].endswith("| 1 | 1 |")  # the Bayes-optimal row scores 1 on both
    one = {**desk_results(ENV, raw[:1], tasks[:1], seeds=(0,)), "agent": "ours"}
    assert "(one seed)" in report.table([one])
    assert "train tasks" not in report.table([_results(tmp_path, "ours", (0.3, 0.7))])  # no split: no columns


def test_an_env_with_held_out_tasks_gets_a_panel_per_split(tmp_path, monkeypatch):
    from tests.test_desk_harness import ENV, _explorer_raw, _results as desk_results

    raw, tasks = _explorer_raw(seeds=2, test_fails=True)
    res = {**desk_results(ENV, raw, tasks), "agent": "ours"}
    drawn = {}
    monkeypatch.setattr("benchmark.plot.plot_curves", lambda curves, out, title: drawn.setdefault("curves", curves))
    report.plot([res], tmp_path / "fig.png")
    panels = [c.env_id for c in drawn["curves"]]
    assert panels == [ENV, f"{ENV}: train tasks (48)", f"{ENV}: test tasks (16)"]
    assert drawn["curves"][1].success_rate == pytest.approx([0.25, 0.5, 0.75, 1.0])  # the explorer on its train desks
    assert drawn["curves"][2].success_rate == pytest.approx([0.0] * 4)
    drawn.clear()
    report.plot([_results(tmp_path, "ours", (0.3, 0.7))], tmp_path / "fig.png")
    assert [c.env_id for c in drawn["curves"]] == ["RefExp/ThreeDrawer-v1"]  # no split: one panel
