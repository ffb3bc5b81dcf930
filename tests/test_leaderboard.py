"""leaderboard: acceptance, every rejection (files byte-for-byte unchanged), render from the CSV."""

from __future__ import annotations

import copy
import shutil
import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest

from benchmark.protocol import PUBLIC_SECRET, secret_id
from benchmark.results import make_results, write_json_atomic
from benchmark.schema import KNOWN_ENVS
from leaderboard import board, cli
from leaderboard.check import check
from leaderboard import rows as R
from benchmark.schema import SchemaError, validate_results

REPO_BOARD = Path(board.__file__).resolve().parent
# A schema-1 results file as the leaderboard kept it (always-first, 300 trials, 2026-11-24).
SCHEMA1 = Path(__file__).parent / "data" / "schema1_always_first.json"


def fake_results(
    agent="my-agent", version="1", p=(0.5, 1.0, 1.0), trials_per_task=50, seeds=(0,), env="RefExp/TwoDrawer-v0",
    eligible=True, obs_type="pixels", dataset="refexp/two-drawer/expert-v0", seed=0, eval_seed=0, spec=None,
    mismatch=False,
) -> dict:
    """A schema-valid (schema 2) results dict from synthetic raw successes (no env is run)."""
    n = KNOWN_ENVS[env]
    rng = np.random.default_rng(seed)
    t = n * trials_per_task
    tasks = np.stack([rng.permutation(np.repeat(np.arange(n), trials_per_task)) for _ in seeds])
    raw = (rng.random((len(seeds), t, len(p))) < np.asarray(p)).astype(int)
    rollouts = [[f"{rng.integers(1 << 60):016x}" for _ in range(t)] for _ in seeds]
    meta = {"name": agent, "version": version, "eligible": eligible, "trained_env_id": env}
    return make_results(
        meta=meta, agent_spec=spec or agent, env_id=env, num_drawers=n, obs_type=obs_type, dataset_id=dataset,
        training_seeds=seeds, eval_seed=eval_seed, secret_id=secret_id(PUBLIC_SECRET), trials_per_task=trials_per_task,
        raw_successes=raw.tolist(), raw_tasks=tasks.tolist(), raw_returns=(raw * 20.0).tolist(), raw_rollouts=rollouts,
        wall_time_s=1.0, workers=1, batch=1, env_mismatch_allowed=mismatch, date="2026-11-26T00:00:00+00:00", bootstrap_samples=200,
        packages={"python": "3.11"}, machine_info={"platform": "test", "cpu": "test-cpu", "cpu_count": 2},
        renderer={"vendor": "test", "renderer": "test-gl", "version": "test", "mujoco": "test"},  # no GL asked
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def one_row_board(tmp_path_factory):
    """A leaderboard directory with one accepted submission, made once for the module."""
    tmp = tmp_path_factory.mktemp("one-row")
    path = tmp / "first.json"
    write_json_atomic(path, fake_results(agent="first", p=(0.5, 0.5, 0.5)))
    assert cli.main(["--dir", str(tmp / "board"), "submit", str(path)]) == 0
    return tmp / "board"


@pytest.fixture
def lb(one_row_board, tmp_path):
    """A test's own copy of the one-row leaderboard directory."""
    return Path(shutil.copytree(one_row_board, tmp_path / "board"))


def test_accept_adds_a_row_and_renders(lb, tmp_path, capsys):
    path = tmp_path / "better.json"
    write_json_atomic(path, fake_results(agent="better", p=(0.5, 1.0, 1.0), seeds=(0, 1, 2)))
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert "accepted: better" in capsys.readouterr().out
    rows = R.read_rows(lb / "results.csv")
    assert [r["agent"] for r in rows] == ["first", "better"]
    assert rows[1]["n_seeds"] == "3" and rows[1]["seeds"] == "0 1 2" and rows[1]["trials_per_seed"] == "100"
    assert rows[1]["family"] == "offline" and rows[1]["data"] == "refexp/two-drawer/expert-v0"
    assert rows[1]["verification"] == "self-reported" and rows[1]["env_version"] == "v0"
    readme = (lb / "README.md").read_text()
    assert readme.index("| 1 | better |") < readme.index("| – | first |")  # one training seed: listed, not ranked
    assert "Bayes-optimal" in readme
    html = (lb / "index.html").read_text()
    proto = rows[1]["protocol"]
    assert "better" in html and f'src="plots/{proto}/twodrawer-v0_K3.png"' in html
    assert (lb / "plots" / proto / "twodrawer-v0_K3.png").read_bytes()[:4] == b"\x89PNG"
    for r in rows:
        assert (lb / "rows" / f"{r['row_id']}.html").is_file()
        assert (lb / "plots" / "rows" / f"{r['row_id']}.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list((lb / "submissions").glob("*.json"))) == 2
    assert not list(lb.rglob("*.tmp"))


def test_rank_is_one_plus_rows_whose_interval_lies_above():
    def row(lo, hi, seeds=3):
        return {"score_ci_low": str(lo), "score_ci_high": str(hi), "n_seeds": str(seeds)}

    # a and b overlap (rank 1 both); c's upper bound lies below a's and b's lower bounds; d overlaps c only
    got = R.ranks([row(0.9, 1.0), row(0.85, 0.95), row(0.5, 0.6), row(0.55, 0.7)])
    assert got == [1, 1, 3, 3]
    # a one-seed row is never ranked and never pushes another row down
    assert R.ranks([row(0.9, 1.0), row(2.0, 2.0, seeds=1), row(0.5, 0.6)]) == [1, 0, 2]


def test_privileged_agents_are_ranked_apart(tmp_path):
    """A schema-3 file that used the layout, and a schema-2 file of a built-in layout agent, land in
    the privileged table of their env, never beside the pixel-only agents."""
    root = tmp_path / "board"
    for name, seeds, layout in (("pix", (0, 1), False), ("handles", (0, 1), True)):
        data = fake_results(agent=name, seeds=seeds, seed=len(name))
        data["uses_layout"] = layout
        path = tmp_path / f"{name}.json"
        write_json_atomic(path, data)
        assert cli.main(["--dir", str(root), "submit", str(path)]) == 0
    rows = R.read_rows(root / "results.csv")
    assert {r["agent"]: r["privileged"] for r in rows} == {"pix": "", "handles": "layout"}
    classes = [(g[3], [r["agent"] for _, r in g[4]]) for g in R.groups(rows)]
    assert classes == [("pixels", ["pix"]), ("privileged", ["handles"])]
    readme = (root / "README.md").read_text()
    assert "privileged: handed the handles' positions" in readme
    assert R.privileged({"agent": "scripted-explorer", "agent_spec": "scripted-explorer", "schema_version": 2}) == "layout"


def test_an_agent_under_two_names_is_refused(tmp_path, capsys):
    """Two names whose rollouts on one env are >= 95% the same trials are one agent: refused."""
    root = tmp_path / "board"
    a = fake_results(agent="a", seeds=(0, 1), seed=1)
    twin = {**a, "agent": "b", "agent_spec": "b", "agent_version": "2"}
    other = fake_results(agent="c", seeds=(0, 1), seed=2)
    for name, data in (("a", a), ("twin", twin), ("c", other)):
        write_json_atomic(tmp_path / f"{name}.json", data)
    assert cli.main(["--dir", str(root), "submit", str(tmp_path / "a.json")]) == 0
    assert cli.main(["--dir", str(root), "submit", str(tmp_path / "twin.json")]) == 1
    assert "share 100% of their rollouts" in capsys.readouterr().err
    assert cli.main(["--dir", str(root), "submit", str(tmp_path / "c.json")]) == 0
    assert R.rollout_share(a, other) == 0.0 and R.rollout_share(a, twin) == 1.0


def test_an_interval_above_bayes_optimal_is_refused(tmp_path, capsys):
    """An exploration score whose whole Student-t interval lies above 1 cannot be honest: refused
    for review; a point above 1 with an interval reaching below is accepted."""
    from benchmark.schema import implausible_reason

    root = tmp_path / "board"
    n, t = 2, 100
    tasks = [[0] * 50 + [1] * 50] * 3
    lucky = [[[1, 1, 1]] * t] * 3  # every episode 1 succeeds: impossible for N = 2 in expectation
    data = fake_results(agent="lucky", seeds=(0, 1, 2))
    from benchmark.results import make_results

    data = make_results(meta={"name": "lucky", "version": "1", "eligible": True}, agent_spec="lucky",
                        env_id="RefExp/TwoDrawer-v0", num_drawers=n, obs_type="pixels", dataset_id=None,
                        training_seeds=(0, 1, 2), eval_seed=0, secret_id=data["secret_id"], trials_per_task=50,
                        raw_successes=lucky, raw_tasks=tasks, raw_returns=[[[0.0] * 3] * t] * 3,
                        raw_rollouts=[[f"{i:016x}" for i in range(t)]] * 3, wall_time_s=1.0, workers=1, batch=1,
                        packages={}, machine_info={})
    assert "flagged for review" in implausible_reason(data)
    write_json_atomic(tmp_path / "lucky.json", data)
    assert cli.main(["--dir", str(root), "submit", str(tmp_path / "lucky.json")]) == 1
    assert "above Bayes-optimal" in capsys.readouterr().err
    assert implausible_reason(fake_results(seeds=(0, 1, 2), p=(0.5, 1.0, 1.0))) is None


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        root = tmp_path / "board"
        path = tmp_path / "a.json"
        write_json_atomic(path, fake_results(agent="a"))
        assert cli.main(["--dir", str(root), "submit", str(path)]) == 0
    finally:
        os.umask(old)
    for p in [root / "results.csv", root / "index.html", *root.glob("submissions/*.json"), *root.glob("plots/*/*.png")]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p


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
    "tampered-rate": (lambda: _mutate(fake_results(agent="x"), "tampered-rate"), "but the raw data give"),
    "tampered-score": (lambda: _mutate(fake_results(agent="x"), "tampered-score"), "exploration_score 0.99 but the raw data give"),
    "tampered-balance": (lambda: _mutate(fake_results(agent="x"), "tampered-balance"), "task-balanced"),
    "secret-in-clear": (lambda: _mutate(fake_results(agent="x"), "secret-in-clear"), "never the secret"),
    "env-mismatch": (lambda: fake_results(agent="x", mismatch=True), "--allow-env-mismatch"),
    "wrong-schema-version": (lambda: _mutate(fake_results(agent="x"), "wrong-schema-version"), "unknown schema_version 99"),
    "unknown-env": (lambda: _mutate(fake_results(agent="x"), "unknown-env"), "unknown env_id"),
    "unknown-dataset": (lambda: _mutate(fake_results(agent="x"), "unknown-dataset"), "unknown dataset_id"),
    "too-few-trials": (lambda: fake_results(agent="x", trials_per_task=15, seeds=(0, 1, 2)), "--trials-per-task 17"),
    "schema-1-file": (lambda: json.loads(SCHEMA1.read_text()), "no longer accepted"),
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
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 1
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
    ]:
        assert cli.main(["--dir", str(lb), "submit", str(path)]) == 1
        assert reason in capsys.readouterr().err
        assert snapshot(lb) == before
    # a path that does not exist is a usage error (exit 2), with the usage line and one reason
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--dir", str(lb), "submit", str(tmp_path / "missing.json")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m leaderboard") and "no results file at" in err
    assert snapshot(lb) == before


def test_a_new_version_of_an_agent_is_accepted(lb, tmp_path):
    path = tmp_path / "v2.json"
    write_json_atomic(path, fake_results(agent="first", version="2"))
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert len(R.read_rows(lb / "results.csv")) == 2


def test_render_rebuilds_the_pages_from_the_csv_and_kept_files(lb, tmp_path):
    path = tmp_path / "three.json"
    write_json_atomic(path, fake_results(agent="three", env="RefExp/ThreeDrawer-v0", p=(0.3, 0.6, 0.9),
                                         dataset="refexp/three-drawer/expert-v0"))
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 0
    before = snapshot(lb)
    for name in ("README.md", "index.html", "render.json"):
        (lb / name).unlink()
    shutil.rmtree(lb / "plots")
    shutil.rmtree(lb / "rows")
    assert cli.main(["--dir", str(lb), "render"]) == 0
    assert snapshot(lb) == before
    proto = R.read_rows(lb / "results.csv")[0]["protocol"]
    assert sorted(p.name for p in (lb / "plots" / proto).glob("*.png")) == ["threedrawer-v0_K3.png", "twodrawer-v0_K3.png"]
    html = (lb / "index.html").read_text()
    assert html.index("RefExp/TwoDrawer-v0") < html.index("RefExp/ThreeDrawer-v0")  # the paper's env first


def test_schema_round_trip_and_bad_types():
    data = fake_results()
    validate_results(json.loads(json.dumps(data)))
    bad = copy.deepcopy(data)
    bad["raw_successes"][0][0][0] = 2
    with pytest.raises(SchemaError, match="raw_successes"):
        validate_results(bad)
    bad = copy.deepcopy(data)
    bad["episodes"] = "3"
    with pytest.raises(SchemaError, match="'episodes' must be int"):
        validate_results(bad)
    bad = copy.deepcopy(data)
    bad["extra"] = 1
    with pytest.raises(SchemaError, match="unknown fields"):
        validate_results(bad)


@pytest.mark.parametrize("agent, method", [
    ("ours", "RefExp"), ("ours-onestep-randtex", "RefExp"), ("no-expl", "RefExp"), ("no-cql", "RefExp"),
    ("scripted-explorer", "scripted"), ("random", "scripted"), ("always-first", "scripted"),
    ("rl2", "RL^2"), ("RL2-state", "RL^2"), ("dpt-small", "DPT"), ("borel-relabel", "BOReL"), ("pearl", "PEARL"),
    ("offline-iql", "offline RL"), ("iql", "offline RL"), ("cql", "offline RL"),
    ("my-agent", "other"), ("oursx", "other"), ("cql5", "other"), ("random-walk", "other"),
])
def test_method_family_of_an_agent_name(agent, method):
    assert R.method_family(agent) == method


def test_the_method_family_is_a_column_and_a_filter(lb, tmp_path):
    path = tmp_path / "rl2.json"
    write_json_atomic(path, fake_results(agent="rl2-tiny", seeds=(0, 1)))
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert [(r["agent"], r["method"]) for r in R.read_rows(lb / "results.csv")] == [("first", "other"), ("rl2-tiny", "RL^2")]
    html = (lb / "index.html").read_text()
    assert re.search(r'<th[^>]*>method</th>', html) and '<td class="method">RL^2</td>' in html
    assert 'data-method="RL^2"' in html and 'data-method="other"' in html
    select = re.search(r'<select id="f-method">(.*?)</select>', html).group(1)
    assert re.findall(r'<option value="([^"]*)">', select) == ["", *R.METHOD_FAMILIES]
    assert '"f-method"' in (lb / "assets" / "leaderboard.js").read_text()
    readme = (lb / "README.md").read_text()
    assert "| family | method |" in readme and "| offline | RL^2 |" in readme


def test_rebuild_rederives_a_csv_of_the_earlier_layout(lb):
    """`rebuild` of a one-row board whose CSV has the schema-1 era's columns: the row comes back from
    submissions/ as it was (the shipped board's rebuild: the slow test below)."""
    row = R.read_rows(lb / "results.csv")[0]
    old_columns = ["env_id", "episodes", "agent", "agent_version", "normalised_score", "results_sha256", "schema_version"]
    (lb / "results.csv").write_text(",".join(old_columns) + f"\nx,3,x,x,0.5,{row['results_sha256']},1\n")
    assert cli.main(["--dir", str(lb), "rebuild"]) == 0
    assert R.read_rows(lb / "results.csv") == [row]
    assert check(board.Paths(lb)) == []


@pytest.mark.slow  # rebuilds every shipped row and its plots
def test_rebuild_rederives_an_older_csv_from_its_kept_files(tmp_path):
    """A CSV of an earlier layout (the schema-1 era's columns) is re-derived row by row from
    submissions/ by `rebuild`, under the current statistics, in its order."""
    root = tmp_path / "old"
    shutil.copytree(REPO_BOARD / "submissions", root / "submissions")
    shas = [r["results_sha256"] for r in R.read_rows(REPO_BOARD / "results.csv")]
    old_columns = ["env_id", "episodes", "agent", "agent_version", "normalised_score", "results_sha256", "schema_version"]
    (root / "results.csv").write_text(",".join(old_columns) + "\n" + "".join(f"x,3,x,x,0.5,{s},1\n" for s in shas))
    assert cli.main(["--dir", str(root), "rebuild"]) == 0
    rows = R.read_rows(root / "results.csv")
    assert [r["results_sha256"] for r in rows] == shas
    assert all(r["protocol"] == ("v0" if r["schema_version"] == "1" else "v1") for r in rows)
    assert any(r["protocol"] == "v0" for r in rows)
    first = next(r for r in rows if r["agent"] == "always-first")
    assert float(first["score"]) == pytest.approx(0.0) and first["score_name"] == "exploration"  # never adapts
    assert check(board.Paths(root)) == []


def test_the_shipped_leaderboard_passes_check_and_keeps_its_v0_rows():
    rows = R.read_rows(REPO_BOARD / "results.csv")
    agents = {(r["agent"], r["env_id"]) for r in rows if r["protocol"] == "v0"}
    for name in ("always-first", "scripted-explorer", "random", "ours"):
        assert (name, "RefExp/TwoDrawer-v0") in agents  # honest v0 results stay
    for r in rows:
        assert int(r["n_seeds"]) * int(r["trials_per_seed"]) >= 100 and r["obs_type"] == "pixels"
    assert check(board.Paths(REPO_BOARD)) == []


def test_withdraw_removes_a_version_and_nothing_else(lb, tmp_path, capsys):
    before = snapshot(lb)
    path = tmp_path / "old.json"
    write_json_atomic(path, fake_results(agent="first", version="old", p=(0.5, 1.0, 1.0)))
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 0
    assert cli.main(["--dir", str(lb), "withdraw", "first", "old"]) == 0
    assert "withdrew: first old" in capsys.readouterr().out
    assert snapshot(lb) == before  # back to the one-row board, its pages and its kept file
    assert cli.main(["--dir", str(lb), "withdraw", "first", "nope"]) == 1
    assert "no row for first version nope" in capsys.readouterr().err
    assert snapshot(lb) == before


def test_agent_styles_are_fixed_when_rows_are_added():
    from leaderboard.plots import COLOURS, styles

    names = ["ours", "scripted-explorer", "always-first", "random", "no-expl", "no-cql", "ours-aug"]
    before = styles(names)
    after = styles(names + ["newcomer", "another"])
    assert all(after[n] == before[n] for n in names)  # a new agent never restyles an earlier one
    assert len({s.colour for s in after.values()}) == len(after)  # distinct colours while there are enough
    many = styles([f"agent-{i}" for i in range(25)])
    assert len({s.colour for s in list(many.values())[:len(COLOURS)]}) == len(COLOURS)  # no colour twice before all are used
    assert len({(s.colour, s.marker) for s in many.values()}) == 25 and len(COLOURS) < 25


def _lab(hex_colour: str) -> np.ndarray:
    """CIELAB of an sRGB hex colour (D65), for colour distances."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
    f = np.cbrt(np.maximum(xyz / np.array([0.95047, 1.0, 1.08883]), 0.008856 ** 3))
    f = np.where(xyz / np.array([0.95047, 1.0, 1.08883]) > 0.008856, f, 7.787 * xyz / np.array([0.95047, 1.0, 1.08883]) + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_the_shipped_agents_have_clearly_different_colours():
    from leaderboard.plots import styles

    state = board.load_state(board.Paths(REPO_BOARD))
    # the board's agents, then the renamed shift agents whose v1 rows wait for their re-score (issue 22)
    waiting = ["ours-onestep-randlook", "ours-onestep-randtex", "ours-onestep-cql5"]
    got = styles([r["agent"] for r in state.rows] + waiting)
    assert set(waiting) <= got.keys()
    names = sorted(got)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            distance = float(np.linalg.norm(_lab(got[a].colour) - _lab(got[b].colour)))
            # at least as far apart as matplotlib's tab10 keeps its own closest pair (27.7)
            assert distance >= 27, (a, got[a].colour, b, got[b].colour, distance)


HOSTILE = "evil | cell\\|x [click](javascript:alert(1)) <javascript:alert(2)> *em* `code` & $\\frac{1}{$"


def test_hostile_names_are_escaped_in_every_generated_file(lb, tmp_path):
    path = tmp_path / "hostile.json"
    write_json_atomic(path, fake_results(agent=HOSTILE, version="v|1 [x](javascript:y)", seed=7))  # its own rollouts
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 0  # and the plots drew the $...$ name
    readme = (lb / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("|")]
    cells = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
    assert len(cells) == 1, cells  # every row has the header's number of cell separators
    row = next(line for line in table if "evil" in line)
    assert not re.search(r"(?<!\\)\]\(javascript:", readme)  # no link: its "]" is escaped
    assert not re.search(r"(?<!\\)<javascript:", readme)  # no autolink: its "<" is escaped
    assert r"evil \| cell\\\|x \[click\](javascript:alert(1)) \<javascript:alert(2)\> \*em\* \`code\` \& $" in row
    for page in [lb / "index.html", *(lb / "rows").glob("*.html")]:
        text = page.read_text()
        assert "<javascript:" not in text and 'href="javascript:' not in text.replace("'", '"')
        assert "[click](javascript:alert(1)) &lt;javascript:alert(2)&gt;" in text or "evil" not in text
    assert check(board.Paths(lb), REPO_BOARD / "verify_key.pub") == []


@pytest.mark.parametrize("name, what", [
    ("nul\x00byte", "U+0000"),
    ("right\u202eto-left", "RIGHT-TO-LEFT OVERRIDE"),
    ("mark\u200fhere", "RIGHT-TO-LEFT MARK"),
    ("two\nlines", "U+000A"),
    ("zero\u200bwidth", "ZERO WIDTH SPACE"),
])
def test_invisible_and_control_characters_in_names_are_refused(lb, tmp_path, capsys, name, what):
    before = snapshot(lb)
    path = tmp_path / "bad-name.json"
    write_json_atomic(path, fake_results(agent=name))
    assert cli.main(["--dir", str(lb), "submit", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rejected: agent contains characters") and what in err and len(err.splitlines()) == 1
    assert snapshot(lb) == before


def test_row_summary_uses_the_envs_choices_not_its_task_count():
    """Desk-v2 has 64 tasks but 4 mechanisms per trial: the board's Bayes-optimal curve is min(1, k/4)."""
    from leaderboard.rows import summary_of

    rng = np.random.default_rng(0)
    tasks = np.tile(np.arange(64), (2, 1))
    data = {"env_id": "RefExp/Desk-v2", "num_drawers": 64, "raw_tasks": tasks.tolist(),
            "raw_successes": rng.integers(0, 2, size=(2, 64, 4)).tolist()}
    assert summary_of(data)["bayes_optimal"] == pytest.approx([0.25, 0.5, 0.75, 1.0])



def test_an_env_with_held_out_tasks_shows_train_and_test_apart(lb, tmp_path):
    """Desk-v2: each row carries the exploration score over the train and over the test desks (re-derived from
    the raw successes, equal to the results file's `splits`), and the page, the README and the detail page a
    column each; an env without a split keeps empty cells and no such column."""
    rng = np.random.default_rng(3)
    tasks = np.tile(np.arange(64), (3, 1))
    test = np.arange(64) // 4 >= 12  # Desk-v2's held-out desks 12-15
    raw = np.zeros((3, 64, 4), dtype=int)
    raw[:, ~test, 0] = 1  # train tasks: the first episode succeeds, then nothing (no exploration)
    raw[:, test] = (rng.random((3, int(test.sum()), 4)) < 0.5).astype(int)
    data = make_results(
        meta={"name": "desk-agent", "version": "1", "eligible": True, "trained_env_id": "RefExp/Desk-v2"},
        agent_spec="desk-agent", env_id="RefExp/Desk-v2", num_drawers=64, obs_type="pixels",
        dataset_id="refexp/desk/expert-v2", training_seeds=(0, 1, 2), eval_seed=0, secret_id=secret_id(PUBLIC_SECRET),
        trials_per_task=1, raw_successes=raw.tolist(), raw_tasks=tasks.tolist(), raw_returns=(raw * 20.0).tolist(),
        raw_rollouts=[[f"{rng.integers(1 << 60):016x}" for _ in range(64)] for _ in range(3)], wall_time_s=1.0,
        workers=1, batch=1, env_mismatch_allowed=False, date="2026-12-06T00:00:00+00:00", bootstrap_samples=200,
        packages={"python": "3.11"}, machine_info={"platform": "test", "cpu": "test-cpu", "cpu_count": 2},
        renderer={"vendor": "test", "renderer": "test-gl", "version": "test", "mujoco": "test"},
    )
    row = R.row_from_results(data, "ab" * 32)
    for split in ("train", "test"):
        assert float(row[f"{split}_score"]) == pytest.approx(data["splits"][split]["exploration_score"])
        assert float(row[f"{split}_score_ci_low"]) <= float(row[f"{split}_score"]) <= float(row[f"{split}_score_ci_high"])
    assert float(row["train_score"]) < 0.1 < float(row["test_score"])  # the train desks: one mechanism, always

    path = tmp_path / "desk.json"
    write_json_atomic(path, data)
    assert cli.main(["--dir", str(tmp_path / "desk-board"), "submit", str(path)]) == 0
    rid = R.read_rows(tmp_path / "desk-board" / "results.csv")[0]["row_id"]
    for name in ("index.html", "README.md", f"rows/{rid}.html"):
        text = (tmp_path / "desk-board" / name).read_text()
        assert "train tasks (48)" in text and "test tasks (16)" in text, name
    two = R.row_from_results(fake_results(), "cd" * 32)
    assert all(two[c] == "" for c in R.SPLIT_COLUMNS)
    assert "train tasks" not in (lb / "README.md").read_text() + (lb / "index.html").read_text()
