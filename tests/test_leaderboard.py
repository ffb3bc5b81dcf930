"""leaderboard: acceptance, every rejection (files byte-for-byte unchanged), render from the CSV."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.results import make_results, write_json_atomic
from benchmark.schema import SchemaError, validate_results
from leaderboard import board

REPO_BOARD = Path(board.__file__).resolve().parent
# A schema-1 results file as the leaderboard kept it (always-first, 300 trials, 2026-11-24).
SCHEMA1 = Path(__file__).parent / "data" / "schema1_always_first.json"


def fake_results(
    agent="my-agent", version="1", p=(0.5, 1.0, 1.0), trials_per_task=50, seeds=(0,), env="RefExp/TwoDrawer-v0",
    eligible=True, obs_type="pixels", dataset="refexp/two-drawer/expert-v0", seed=0, mismatch=False,
) -> dict:
    """A schema-valid results dict from synthetic raw successes (no env is run)."""
    rng = np.random.default_rng(seed)
    n = 3 if "Three" in env else 2
    t = n * trials_per_task
    raw = (rng.random((len(seeds), t, len(p))) < np.asarray(p)).astype(int)
    tasks = np.stack([rng.permutation(np.repeat(np.arange(n), trials_per_task)) for _ in seeds])
    rollouts = [[f"{rng.integers(2**60):016x}" for _ in range(t)] for _ in seeds]
    meta = {"name": agent, "version": version, "eligible": eligible, "trained_env_id": env}
    return make_results(
        meta=meta, agent_spec=agent, env_id=env, num_drawers=n, obs_type=obs_type, dataset_id=dataset,
        training_seeds=seeds, eval_seed=0, secret_id="0123456789abcdef", trials_per_task=trials_per_task,
        raw_successes=raw.tolist(), raw_tasks=tasks.tolist(), raw_returns=(raw * 20.0).tolist(), raw_rollouts=rollouts,
        wall_time_s=1.0, workers=1, batch=1, env_mismatch_allowed=mismatch, date="2026-11-24T00:00:00+00:00",
        bootstrap_samples=200, packages={"python": "3"}, machine_info={"cpu": "test", "cpu_count": 1},
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def lb(tmp_path):
    """A leaderboard directory with one accepted submission."""
    root = tmp_path / "board"
    path = tmp_path / "first.json"
    write_json_atomic(path, fake_results(agent="first", p=(0.5, 0.5, 0.5)))
    assert board.main(["--dir", str(root), "submit", str(path)]) == 0
    return root


def test_accept_adds_a_row_and_renders(lb, tmp_path, capsys):
    path = tmp_path / "better.json"
    write_json_atomic(path, fake_results(agent="better", p=(0.5, 1.0, 1.0), seeds=(0, 1, 2)))
    assert board.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert "accepted: better" in capsys.readouterr().out
    rows = board.read_rows(lb / "results.csv")
    assert [r["agent"] for r in rows] == ["first", "better"]
    assert rows[1]["total_trials"] == "300" and rows[1]["seeds"] == "0 1 2"
    readme = (lb / "README.md").read_text()
    assert readme.index("| 1 | better |") < readme.index("| 2 | first |")  # ranked by exploration score
    assert "## RefExp/TwoDrawer-v0, K = 3" in readme and "Bayes-optimal" in readme
    html = (lb / "index.html").read_text()
    assert "better" in html and 'src="plots/twodrawer-v0_K3.png"' in html
    assert (lb / "plots" / "twodrawer-v0_K3.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((lb / "submissions").glob("*.json"))) == 2
    assert not list(lb.rglob("*.tmp"))


def _mutate(data: dict, how: str) -> dict:
    d = copy.deepcopy(data)
    if how == "missing-field":
        del d["raw_successes"]
    elif how == "tampered-rate":
        d["success_rate"][0] = 0.9
    elif how == "tampered-score":
        d["exploration_score"] = 0.99
    elif how == "tampered-balance":
        d["raw_tasks"][0][0] = 1 - d["raw_tasks"][0][0]
    elif how == "secret-in-clear":
        d["secret_id"] = "my secret"
    elif how == "oracle-marked-eligible":
        d["agent"] = "oracle"
    elif how == "wrong-schema-version":
        d["schema_version"] = 99
    elif how == "unknown-env":
        d["env_id"] = "RefExp/FourDrawer-v0"
    elif how == "unknown-dataset":
        d["dataset_id"] = "refexp/two-drawer/expert-v9"
    return d


REJECTIONS = {
    # name: (results dict maker, expected words in the reason)
    "missing-field": (lambda: _mutate(fake_results(agent="x"), "missing-field"), "missing field 'raw_successes'"),
    "tampered-rate": (lambda: _mutate(fake_results(agent="x"), "tampered-rate"), "success_rate"),
    "tampered-score": (lambda: _mutate(fake_results(agent="x"), "tampered-score"), "exploration_score 0.99 but the raw"),
    "tampered-balance": (lambda: _mutate(fake_results(agent="x"), "tampered-balance"), "task-balanced"),
    "secret-in-clear": (lambda: _mutate(fake_results(agent="x"), "secret-in-clear"), "never the secret"),
    "wrong-schema-version": (lambda: _mutate(fake_results(agent="x"), "wrong-schema-version"), "unknown schema_version 99"),
    "schema-1": (lambda: json.loads(SCHEMA1.read_text()), "no longer accepted"),
    "env-mismatch": (lambda: fake_results(agent="x", mismatch=True), "--allow-env-mismatch"),
    "unknown-env": (lambda: _mutate(fake_results(agent="x"), "unknown-env"), "unknown env_id"),
    "unknown-dataset": (lambda: _mutate(fake_results(agent="x"), "unknown-dataset"), "unknown dataset_id"),
    "too-few-trials": (lambda: fake_results(agent="x", trials_per_task=15, seeds=(0, 1, 2)), "--trials-per-task 17"),
    "oracle": (lambda: fake_results(agent="oracle", eligible=False), "not eligible"),
    "oracle-marked-eligible": (lambda: _mutate(fake_results(agent="x"), "oracle-marked-eligible"), "cannot be marked eligible"),
    "user-agent-sees-task": (lambda: fake_results(agent="peeker", eligible=False), "not eligible"),
    "state-obs": (lambda: fake_results(agent="x", obs_type="state"), "obs_type 'state'"),
    "dataset-for-other-env": (lambda: fake_results(agent="x", dataset="refexp/three-drawer/expert-v0"), "not a training set"),
    "duplicate-agent-version": (lambda: fake_results(agent="first", p=(0.4, 0.4, 0.4), seed=5), "duplicate"),
}


@pytest.mark.parametrize("name", sorted(REJECTIONS))
def test_rejections_change_no_file(lb, tmp_path, name, capsys):
    make, reason = REJECTIONS[name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(make()))
    before = snapshot(lb)
    assert board.main(["--dir", str(lb), "submit", str(path)]) == 1
    err = capsys.readouterr().err
    assert "rejected" in err and reason in err, err
    assert snapshot(lb) == before


def test_rejects_the_same_file_twice_and_bad_files(lb, tmp_path, capsys):
    before = snapshot(lb)
    first = next((lb / "submissions").glob("*.json"))
    again = tmp_path / "again.json"
    again.write_bytes(first.read_bytes())
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    for path, reason in [
        (again, "already submitted"),
        (bad_json, "not valid JSON"),
        (not_object, "JSON object"),
        (tmp_path / "missing.json", "no results file"),
    ]:
        assert board.main(["--dir", str(lb), "submit", str(path)]) == 1
        assert reason in capsys.readouterr().err
        assert snapshot(lb) == before


def test_a_new_version_of_an_agent_is_accepted(lb, tmp_path):
    path = tmp_path / "v2.json"
    write_json_atomic(path, fake_results(agent="first", version="2"))
    assert board.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert len(board.read_rows(lb / "results.csv")) == 2


def test_render_rebuilds_the_pages_from_the_csv_alone(lb, tmp_path):
    path = tmp_path / "three.json"
    write_json_atomic(path, fake_results(agent="three", env="RefExp/ThreeDrawer-v0", p=(0.3, 0.6, 0.9),
                                         dataset="refexp/three-drawer/expert-v0"))
    assert board.main(["--dir", str(lb), "submit", str(path)]) == 0
    before = snapshot(lb)
    for name in ("README.md", "index.html"):
        (lb / name).unlink()
    for png in (lb / "plots").glob("*.png"):
        png.unlink()
    assert board.main(["--dir", str(lb), "render"]) == 0
    assert snapshot(lb) == before
    assert sorted(p.name for p in (lb / "plots").glob("*.png")) == ["threedrawer-v0_K3.png", "twodrawer-v0_K3.png"]


def test_schema_round_trip_and_bad_types():
    data = fake_results()
    validate_results(json.loads(json.dumps(data)))
    bad = copy.deepcopy(data)
    bad["raw_successes"][0][0][0] = 2
    with pytest.raises(SchemaError, match="of 0/1"):
        validate_results(bad)
    bad = copy.deepcopy(data)
    bad["episodes"] = "3"
    with pytest.raises(SchemaError, match="'episodes' must be int"):
        validate_results(bad)
    bad = copy.deepcopy(data)
    bad["extra"] = 1
    with pytest.raises(SchemaError, match="unknown fields"):
        validate_results(bad)


def test_a_schema_1_csv_is_rebuilt_from_its_kept_files(tmp_path):
    """The CSV of the schema-1 era (columns of COLUMNS_V1) is re-derived from submissions/ on render."""

    root = tmp_path / "old"
    (root / "submissions").mkdir(parents=True)
    raw = SCHEMA1.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    (root / "submissions" / f"{sha[:16]}.json").write_bytes(raw)
    data = json.loads(raw)
    assert data["schema_version"] == 1
    old = [dict(zip(board.COLUMNS_V1, [""] * len(board.COLUMNS_V1)), results_sha256=sha,
                agent=data["agent"], agent_version=data["agent_version"])]
    import csv

    with open(root / "results.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=board.COLUMNS_V1)
        w.writeheader()
        w.writerows(old)
    assert board.main(["--dir", str(root), "render"]) == 0
    rows = board.read_rows(root / "results.csv")
    assert len(rows) == len(old) and all(r["schema_version"] == "1" for r in rows)
    first = next(r for r in rows if r["agent"] == "always-first")
    assert float(first["exploration_score"]) == pytest.approx(0.0)  # never adapts, whatever the task mix
    assert "schema 1*" in (root / "README.md").read_text()


def test_the_shipped_leaderboard_is_seeded_and_rendered_from_its_csv(tmp_path):
    rows = board.read_rows(REPO_BOARD / "results.csv")
    agents = {(r["agent"], r["env_id"]) for r in rows}
    for name in ("always-first", "scripted-explorer", "random"):
        assert (name, "RefExp/TwoDrawer-v0") in agents
    for r in rows:
        assert int(r["total_trials"]) >= 100 and r["obs_type"] == "pixels"
        sub = REPO_BOARD / "submissions" / f"{r['results_sha256'][:16]}.json"
        validate_results(json.loads(sub.read_text()))  # each row's evidence is kept
    board.render(board.Paths(tmp_path), rows)
    assert (tmp_path / "README.md").read_bytes() == (REPO_BOARD / "README.md").read_bytes()
    assert (tmp_path / "index.html").read_bytes() == (REPO_BOARD / "index.html").read_bytes()


def test_withdraw_removes_a_version_and_nothing_else(lb, tmp_path, capsys):
    before = snapshot(lb)
    path = tmp_path / "old.json"
    write_json_atomic(path, fake_results(agent="first", version="old", p=(0.5, 1.0, 1.0)))
    assert board.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert board.main(["--dir", str(lb), "withdraw", "first", "old"]) == 0
    assert "withdrew: first old" in capsys.readouterr().out
    assert snapshot(lb) == before  # back to the one-row board, its pages and its kept file
    assert board.main(["--dir", str(lb), "withdraw", "first", "nope"]) == 1
    assert "no row for first version nope" in capsys.readouterr().err
    assert snapshot(lb) == before
